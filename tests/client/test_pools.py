"""Connection pools: shared per settings (not per key), per event loop for async, injectable."""

from __future__ import annotations

import asyncio
import gc
import threading

import httpx
import respx

from ark_context import ArkContextClient, AsyncArkContextClient, _transport
from tests.client.conftest import BASE, USER

OK = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}


def test_same_settings_share_one_pool_whatever_the_key():
    a = ArkContextClient(api_key="sk-pool-A-1111", base_url=BASE)
    b = ArkContextClient(api_key="sk-pool-B-2222", base_url=BASE)
    other_timeout = ArkContextClient(api_key="sk-pool-A-1111", base_url=BASE, timeout=5.0)
    other_url = ArkContextClient(api_key="sk-pool-A-1111", base_url="http://other.test/v1")
    assert a._client() is b._client()
    assert a._client() is not other_timeout._client()
    assert a._client() is not other_url._client()
    assert other_timeout._client().timeout.read == 5.0


def test_each_client_sends_its_own_key_over_the_shared_pool():
    a = ArkContextClient(api_key="sk-pool-A-1111", base_url=BASE)
    b = ArkContextClient(api_key="sk-pool-B-2222", base_url=BASE)
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(200, json=OK)
        a.chat_completions(model="ep", messages=USER)
        b.chat_completions(model="ep", messages=USER)
        a.chat_completions(model="ep", messages=USER)
    keys = [call.request.headers["authorization"] for call in route.calls]
    assert keys == ["Bearer sk-pool-A-1111", "Bearer sk-pool-B-2222", "Bearer sk-pool-A-1111"]


def test_pool_creation_is_thread_safe():
    _transport.close_shared_pools()
    barrier = threading.Barrier(16)
    seen: list[httpx.Client] = []

    def make() -> None:
        barrier.wait()
        c = ArkContextClient(
            api_key="sk-thread-3333", base_url="http://threads.test/v1", timeout=7.0
        )
        seen.append(c._client())

    threads = [threading.Thread(target=make) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 16 and len({id(c) for c in seen}) == 1


def test_closed_shared_pools_are_recreated():
    c = ArkContextClient(api_key="sk-pool-A-1111", base_url=BASE)
    first = c._client()
    _transport.close_shared_pools()
    assert first.is_closed
    with respx.mock(base_url=BASE) as mock:
        mock.post("/chat/completions").respond(200, json=OK)
        assert c.chat_completions(model="ep", messages=USER).text == "ok"
    assert c._client() is not first and not c._client().is_closed


def test_injected_client_is_used_and_never_closed():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=OK)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with ArkContextClient(api_key="sk-inject-4444", base_url=BASE, http_client=http) as c:
        c.chat(context_id="ctx", model="ep", messages=USER)
    assert seen == [f"{BASE}/context/chat/completions"]
    assert not http.is_closed


def test_private_pool_is_closed_by_close():
    c = ArkContextClient(api_key="sk-private-5555", base_url=BASE, share_pool=False)
    shared = ArkContextClient(api_key="sk-private-5555", base_url=BASE)
    private = c._client()
    assert private is not shared._client()
    c.close()
    assert private.is_closed
    shared.close()  # closing a sharing client leaves the shared pool alone
    assert not shared._client().is_closed


async def test_async_clients_share_a_pool_within_a_loop():
    a = AsyncArkContextClient(api_key="sk-apool-A-6666", base_url=BASE)
    b = AsyncArkContextClient(api_key="sk-apool-B-7777", base_url=BASE)
    assert a._client() is b._client()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(200, json=OK)
        await asyncio.gather(
            a.chat_completions(model="ep", messages=USER),
            b.chat_completions(model="ep", messages=USER),
        )
    assert sorted(c.request.headers["authorization"] for c in route.calls) == [
        "Bearer sk-apool-A-6666",
        "Bearer sk-apool-B-7777",
    ]


def test_async_pool_per_event_loop_with_asyncio_run():
    c = AsyncArkContextClient(api_key="sk-loops-8888", base_url=BASE)  # built outside any loop
    pools: list[httpx.AsyncClient] = []

    async def one() -> str:
        pools.append(c._client())
        out = await c.chat_completions(model="ep", messages=USER)
        return out.text

    with respx.mock(base_url=BASE) as mock:
        mock.post("/chat/completions").respond(200, json=OK)
        assert asyncio.run(one()) == "ok"
        assert asyncio.run(one()) == "ok"
    assert pools[0] is not pools[1]
    gc.collect()
    # the finished loops were garbage-collected, and their pools forgotten with them
    assert [loop for loop in _transport._async_pools if loop.is_closed()] == []


async def test_async_injected_and_private_pools():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=OK)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    c = AsyncArkContextClient(api_key="sk-ainj-9999", base_url=BASE, http_client=http)
    assert (await c.chat(context_id="ctx", model="ep", messages=USER)).text == "ok"
    await c.aclose()
    assert not http.is_closed

    p = AsyncArkContextClient(api_key="sk-ainj-9999", base_url=BASE, share_pool=False)
    private = p._client()
    assert private is not AsyncArkContextClient(api_key="sk-ainj-9999", base_url=BASE)._client()
    async with p:
        pass
    assert private.is_closed
