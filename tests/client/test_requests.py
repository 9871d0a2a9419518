"""Client construction and what goes on the wire (respx, no sockets)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from ark_context import ArkContextClient, AsyncArkContextClient, ChatCompletion, ContextInfo
from ark_context._exceptions import ArkConfigError, ArkInputError, ArkUnsupportedError
from ark_context._settings import DEFAULT_BASE_URL
from tests.client.conftest import BASE, KEY, USER, MakeClient

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "ep-1",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
    ],
    "usage": {
        "prompt_tokens": 28,
        "completion_tokens": 2,
        "total_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 18},
    },
}


def sent(route: respx.Route, i: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[i].request.content)


# -- configuration -------------------------------------------------------------------


def test_missing_key_names_env_var(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ARK_API_KEY", raising=False)
    with pytest.raises(ArkConfigError, match="ARK_API_KEY"):
        ArkContextClient(base_url=BASE)
    with pytest.raises(ArkConfigError, match="ARK_API_KEY"):
        AsyncArkContextClient(base_url=BASE, api_key="")


def test_key_and_base_url_from_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ARK_API_KEY", "sk-env-SECRET-777")
    monkeypatch.setenv("ARK_BASE_URL", "https://gateway.example/v1/")
    c = ArkContextClient()
    assert c.base_url == "https://gateway.example/v1"
    assert "sk-env-SECRET-777" not in repr(c)


def test_default_base_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ARK_BASE_URL", raising=False)
    assert ArkContextClient(api_key=KEY).base_url == DEFAULT_BASE_URL


@pytest.mark.parametrize("url", ["ark.cn-beijing.volces.com/api/v3", "ftp://x/api", "http://"])
def test_bad_base_url(client: MakeClient, url: str):
    with pytest.raises(ArkConfigError, match="base_url"):
        client(base_url=url)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "60"}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"default_headers": {"Authorization": "Bearer x"}}, "Authorization"),
        ({"http_client": httpx.AsyncClient()}, "httpx.Client"),
        ({"api_key": "sk with space"}, "whitespace"),
    ],
)
def test_bad_settings(client: MakeClient, kw: dict[str, Any], match: str):
    with pytest.raises(ArkConfigError, match=match):
        client(**kw)


def test_async_rejects_sync_http_client():
    with pytest.raises(ArkConfigError, match="AsyncClient"):
        AsyncArkContextClient(api_key=KEY, base_url=BASE, http_client=httpx.Client())


def test_repr_has_no_key(client: MakeClient):
    c = client()
    assert KEY not in repr(c) and KEY not in str(c)
    assert repr(c) == f"ArkContextClient(base_url={BASE!r}, timeout=60.0, max_retries=2)"


# -- request bodies and headers -------------------------------------------------------


@respx.mock(base_url=BASE)
def test_create_context_body_and_parse(client: MakeClient, respx_mock: respx.MockRouter):
    route = respx_mock.post("/context/create").respond(
        200,
        json={
            "id": "ctx-1",
            "model": "ep-1",
            "mode": "session",
            "ttl": "3600",
            "truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 4096},
            "usage": {"prompt_tokens": 18, "completion_tokens": 0, "total_tokens": 18},
            "brand_new_field": {"x": 1},
        },
    )
    info = client().create_context(
        model="ep-1",
        messages=[{"role": "system", "content": "be brief", "name": None}],
        mode="session",
        ttl=3600,
        truncation_strategy={"type": "last_history_tokens", "last_history_tokens": 4096},
    )
    assert isinstance(info, ContextInfo)
    assert (info.id, info.mode, info.ttl) == ("ctx-1", "session", 3600)
    assert info.usage is not None and info.usage.prompt_tokens == 18
    assert info.model_extra == {"brand_new_field": {"x": 1}}
    req = route.calls[0].request
    assert sent(route) == {
        "model": "ep-1",
        "messages": [{"role": "system", "content": "be brief"}],
        "mode": "session",
        "ttl": 3600,
        "truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 4096},
    }
    assert info.request_bytes == len(req.content)
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["content-type"] == "application/json"


@respx.mock(base_url=BASE)
def test_create_context_omits_unset_fields(client: MakeClient, respx_mock: respx.MockRouter):
    route = respx_mock.post("/context/create").respond(
        200, json={"id": "ctx-2", "mode": "common_prefix"}
    )
    client().create_context(model="ep-1", messages=[{"role": "system", "content": "s"}])
    assert sent(route) == {"model": "ep-1", "messages": [{"role": "system", "content": "s"}]}


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"mode": "sessions"}, ArkConfigError, "mode"),
        ({"ttl": 60}, ArkConfigError, "ttl"),
        (
            {"mode": "common_prefix", "truncation_strategy": {"type": "rolling_tokens"}},
            ArkConfigError,
            "session",
        ),
        ({"model": ""}, ArkInputError, "model"),
        ({"messages": []}, ArkInputError, "empty"),
        ({"messages": "hello"}, ArkInputError, "list"),
        ({"messages": ["hello"]}, ArkInputError, r"messages\[0\]"),
        ({"messages": [{"role": "user", "content": "x"}, None]}, ArkInputError, r"messages\[1\]"),
    ],
)
def test_create_context_bad_input_never_sends(
    client: MakeClient, kw: dict[str, Any], exc: type, match: str
):
    args: dict[str, Any] = {"model": "ep-1", "messages": [{"role": "system", "content": "s"}]}
    args.update(kw)
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        route = mock.post("/context/create").respond(200, json={"id": "ctx"})
        with pytest.raises(exc, match=match):
            client().create_context(**args)
        assert not route.called


@respx.mock(base_url=BASE)
def test_chat_body_never_sends_null(client: MakeClient, respx_mock: respx.MockRouter):
    route = respx_mock.post("/context/chat/completions").respond(200, json=COMPLETION)
    out = client().chat(
        context_id="ctx-1",
        model="ep-1",
        messages=[{"role": "user", "content": "hi", "name": None}],
        temperature=0.3,
        top_p=None,
        max_tokens=None,
        logit_bias={"1": 5, "2": None},
        stream_options=None,
    )
    assert isinstance(out, ChatCompletion)
    body = route.calls[0].request.content
    assert b"null" not in body
    assert json.loads(body) == {
        "context_id": "ctx-1",
        "model": "ep-1",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "logit_bias": {"1": 5},
    }
    assert out.text == "hello"
    assert out.usage is not None and out.usage.cached_tokens == 18
    assert out.request_bytes == len(body)


@respx.mock(base_url=BASE)
def test_chat_does_not_mutate_caller_objects(client: MakeClient, respx_mock: respx.MockRouter):
    respx_mock.post("/context/chat/completions").respond(200, json=COMPLETION)
    msgs = [{"role": "user", "content": "hi", "name": None}]
    bias = {"1": None}
    client().chat(context_id="c", model="ep-1", messages=msgs, logit_bias=bias)
    assert msgs == [{"role": "user", "content": "hi", "name": None}] and bias == {"1": None}


@respx.mock(base_url=BASE)
def test_non_ascii_sent_as_utf8(client: MakeClient, respx_mock: respx.MockRouter):
    route = respx_mock.post("/context/chat/completions").respond(200, json=COMPLETION)
    client().chat(context_id="c", model="ep-1", messages=[{"role": "user", "content": "你好"}])
    assert "你好".encode() in route.calls[0].request.content


@respx.mock(base_url=BASE)
def test_request_id_and_default_headers(client: MakeClient, respx_mock: respx.MockRouter):
    route = respx_mock.post("/context/chat/completions").respond(200, json=COMPLETION)
    c = client(default_headers={"X-Team": "search"})
    c.chat(context_id="c", model="ep-1", messages=USER, request_id="my-req-1")
    c.chat(context_id="c", model="ep-1", messages=USER)
    first, second = (call.request.headers for call in route.calls)
    assert first["x-client-request-id"] == "my-req-1" and first["x-team"] == "search"
    assert "x-client-request-id" not in second and second["x-team"] == "search"


def test_bad_request_id(client: MakeClient):
    with pytest.raises(ArkInputError, match="request_id"):
        client().chat(context_id="c", model="ep-1", messages=USER, request_id="a\nb")


@respx.mock(base_url=BASE)
def test_chat_completions_plain_endpoint(client: MakeClient, respx_mock: respx.MockRouter):
    route = respx_mock.post("/chat/completions").respond(200, json=COMPLETION)
    out = client().chat_completions(
        model="ep-1", messages=USER, max_tokens=20, tools=[{"type": "function"}]
    )
    assert out.text == "hello"
    body = sent(route)
    assert "context_id" not in body and body["max_tokens"] == 20 and body["tools"]


@pytest.mark.parametrize(
    ("params", "exc"),
    [
        ({"tools": [{"type": "function"}]}, ArkUnsupportedError),
        ({"response_format": {"type": "json_object"}}, ArkUnsupportedError),
        ({"thinking": {"type": "enabled"}}, ArkUnsupportedError),
        ({"service_tier": "auto"}, ArkUnsupportedError),
        ({"stream": True}, ArkInputError),
    ],
)
def test_context_chat_rejects_unsupported(client: MakeClient, params: dict[str, Any], exc: type):
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        route = mock.post("/context/chat/completions").respond(200, json=COMPLETION)
        with pytest.raises(exc):
            client().chat(context_id="c", model="ep-1", messages=USER, **params)
        assert not route.called


def test_context_id_required(client: MakeClient):
    with pytest.raises(ArkInputError, match="context_id"):
        client().chat(context_id="", model="ep-1", messages=USER)


@respx.mock(base_url=BASE)
def test_stream_sets_stream_options(client: MakeClient, respx_mock: respx.MockRouter):
    route = respx_mock.post("/context/chat/completions").respond(
        200, content=b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
    )
    c = client()
    with c.chat_stream(context_id="c", model="ep-1", messages=USER) as s:
        assert list(s) == []
    with c.chat_stream(context_id="c", model="ep-1", messages=USER, include_usage=False) as s:
        list(s)
    with c.chat_stream(
        context_id="c", model="ep-1", messages=USER, stream_options={"chunk_include_usage": True}
    ) as s:
        list(s)
    assert sent(route, 0)["stream"] is True
    assert sent(route, 0)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in sent(route, 1)
    assert sent(route, 2)["stream_options"] == {"chunk_include_usage": True, "include_usage": True}
    assert route.calls[0].request.headers["accept"] == "text/event-stream"


async def test_async_client_same_wire(respx_mock: respx.MockRouter):
    respx_mock.post(f"{BASE}/context/create").respond(200, json={"id": "ctx-9", "ttl": 3600})
    route = respx_mock.post(f"{BASE}/context/chat/completions").respond(200, json=COMPLETION)
    plain = respx_mock.post(f"{BASE}/chat/completions").respond(200, json=COMPLETION)
    c = AsyncArkContextClient(api_key=KEY, base_url=BASE)
    info = await c.create_context(model="ep-1", messages=[{"role": "system", "content": "s"}])
    out = await c.chat(
        context_id=info.id, model="ep-1", messages=USER, temperature=None, request_id="r1"
    )
    assert out.text == "hello" and out.request_bytes == len(route.calls[0].request.content)
    assert sent(route) == {"context_id": "ctx-9", "model": "ep-1", "messages": USER}
    assert route.calls[0].request.headers["x-client-request-id"] == "r1"
    assert (await c.chat_completions(model="ep-1", messages=USER)).text == "hello"
    assert plain.called
    assert KEY not in repr(c)
