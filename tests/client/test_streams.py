"""Streams: chunks and usage, in-band errors, truncated streams, and connection release.

Connection release is checked on a real ``httpcore`` connection pool (one connection
allowed) over httpcore's in-memory network backend, so a leaked connection shows up
as the pool's own state, not as a mock's bookkeeping.
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpcore
import httpx
import pytest
import respx

from ark_context import AsyncArkContextClient
from ark_context._exceptions import (
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkContextOverflowError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkStreamError,
)
from ark_context._models import ChatCompletionChunk
from tests.client.conftest import BASE, KEY, USER, MakeClient

CTX = "/context/chat/completions"
SSE_HEADERS = {"content-type": "text/event-stream"}
USAGE = {
    "prompt_tokens": 28,
    "completion_tokens": 3,
    "total_tokens": 31,
    "prompt_tokens_details": {"cached_tokens": 18},
}


def chunk(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "ep-1",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}
        ],
    }


def sse(*events: Any, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


REPLY = sse(
    chunk("你"), chunk("好"), chunk("!"), {"id": "chatcmpl-1", "choices": [], "usage": USAGE}
)


def pieces(raw: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(raw), size):
        yield raw[i : i + size]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_stream_chunks_and_usage_any_network_split(client: MakeClient, size: int):
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).mock(
            side_effect=lambda req: httpx.Response(
                200, content=pieces(REPLY, size), headers=SSE_HEADERS
            )
        )
        with client().chat_stream(context_id="c", model="ep-1", messages=USER) as s:
            got = list(s)
            assert s.done
    assert all(isinstance(c, ChatCompletionChunk) for c in got)
    assert "".join(c.text for c in got) == "你好!"
    assert got[-1].choices == [] and got[-1].usage is not None
    assert s.usage is not None and s.usage.cached_tokens == 18
    assert s.request_bytes > 0
    assert s.response.is_closed


def test_request_bytes_is_body_size(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).respond(200, content=REPLY, headers=SSE_HEADERS)
        s = client().chat_stream(context_id="c", model="ep-1", messages=USER)
        list(s)
    assert s.request_bytes == len(route.calls[0].request.content)


def test_stream_ignores_events_after_done(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(
            200, content=sse(chunk("a")) + sse(chunk("late")), headers=SSE_HEADERS
        )
        s = client().chat_stream(context_id="c", model="ep-1", messages=USER)
        assert [c.text for c in s] == ["a"]
        assert list(s) == []


def test_stream_keepalive_comments_and_crlf(client: MakeClient):
    raw = b": ping\r\n\r\n" + sse(chunk("a")).replace(b"\n", b"\r\n")
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(200, content=raw, headers=SSE_HEADERS)
        assert [
            c.text for c in client().chat_stream(context_id="c", model="ep-1", messages=USER)
        ] == ["a"]


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"code": "OutofContextError", "message": "too long"}, ArkContextOverflowError),
        ({"code": "OperationDenied.InvalidState", "message": "busy"}, ArkContextBusyError),
        ({"code": "RateLimitExceeded", "message": "slow"}, ArkRateLimitError),
        ({"code": "InvalidParameter", "message": "context ctx-1 not found"}, ArkContextGoneError),
    ],
)
def test_error_event_raises_mapped_error(client: MakeClient, error: dict[str, Any], cls: type):
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(
            200, content=sse(chunk("a"), {"error": error}, done=False), headers=SSE_HEADERS
        )
        s = client().chat_stream(context_id="c", model="ep-1", messages=USER)
        assert next(s).text == "a"
        with pytest.raises(cls) as info:
            next(s)
    assert info.value.code == error["code"]
    assert s.response.is_closed


def test_named_error_event(client: MakeClient):
    raw = (
        sse(chunk("a"), done=False)
        + b'event: error\ndata: {"code": "InternalServiceError", "message": "x"}\n\n'
    )
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(200, content=raw, headers=SSE_HEADERS)
        s = client().chat_stream(context_id="c", model="ep-1", messages=USER)
        next(s)
        with pytest.raises(Exception) as info:
            next(s)
    assert type(info.value).__name__ == "ArkServerError"


@pytest.mark.parametrize(
    "raw",
    [
        sse(chunk("a"), chunk("b"), done=False),
        sse(chunk("a"), done=False) + b'data: {"id": "x", "choi',
        b"",
    ],
)
def test_stream_without_done_raises(client: MakeClient, raw: bytes):
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(200, content=raw, headers=SSE_HEADERS)
        s = client().chat_stream(context_id="c", model="ep-1", messages=USER)
        with pytest.raises(ArkStreamError):
            list(s)
    assert s.response.is_closed


def test_done_without_trailing_blank_line_is_accepted(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(
            200, content=sse(chunk("a"), done=False) + b"data: [DONE]", headers=SSE_HEADERS
        )
        assert [
            c.text for c in client().chat_stream(context_id="c", model="ep-1", messages=USER)
        ] == ["a"]


def test_malformed_event_json(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(
            200, content=b"data: {not json}\n\ndata: [DONE]\n\n", headers=SSE_HEADERS
        )
        with pytest.raises(ArkStreamError, match="Unreadable"):
            list(client().chat_stream(context_id="c", model="ep-1", messages=USER))


def test_drop_mid_stream_is_a_connection_error(client: MakeClient):
    def body() -> Iterator[bytes]:
        yield sse(chunk("a"), done=False)
        raise httpx.ReadError("connection reset")

    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).mock(
            side_effect=lambda req: httpx.Response(200, content=body(), headers=SSE_HEADERS)
        )
        s = client().chat_stream(context_id="c", model="ep-1", messages=USER)
        assert next(s).text == "a"
        with pytest.raises(ArkConnectionError) as info:
            next(s)
    assert info.value.sent is True


@pytest.mark.parametrize(
    ("status", "content", "ctype", "cls", "match"),
    [
        (
            404,
            b'{"error": {"code": "NotFound", "message": "x"}}',
            "application/json",
            ArkContextGoneError,
            "NotFound",
        ),
        (
            200,
            b'{"error": {"code": "OutofContextError", "message": "x"}}',
            "application/json",
            ArkContextOverflowError,
            "Outof",
        ),
        (200, b'{"id": "x", "choices": []}', "application/json", ArkProtocolError, "event stream"),
        (200, b"<html>hi</html>", "text/html", ArkProtocolError, "text/html"),
    ],
)
def test_stream_open_failures(
    client: MakeClient, status: int, content: bytes, ctype: str, cls: type, match: str
):
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).respond(status, content=content, headers={"content-type": ctype})
        with pytest.raises(cls, match=match):
            client().chat_stream(context_id="c", model="ep-1", messages=USER)


# -- connection release on a real httpcore pool ------------------------------------------

LONG_REPLY = sse(*(chunk(f"w{i} ") for i in range(50)), {"choices": [], "usage": USAGE})


def _http1_script(body: bytes, piece: int = 40) -> list[bytes]:
    head = [
        b"HTTP/1.1 200 OK\r\n",
        b"Content-Type: text/event-stream\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
    ]
    chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces(body, piece)]
    return head + chunks + [b"0\r\n\r\n"]


def one_connection_client(body: bytes) -> tuple[httpx.Client, httpcore.ConnectionPool]:
    transport = httpx.HTTPTransport()
    pool = httpcore.ConnectionPool(
        max_connections=1, network_backend=httpcore.MockBackend(_http1_script(body))
    )
    transport._pool = pool
    return httpx.Client(transport=transport, timeout=httpx.Timeout(5.0, pool=0.2)), pool


def test_abandoned_stream_releases_the_connection(client: MakeClient):
    http, pool = one_connection_client(LONG_REPLY)
    c = client(http_client=http, max_retries=0)
    for _ in range(3):  # with a leak, the second open would hit the 1-connection limit
        with c.chat_stream(context_id="c", model="ep-1", messages=USER) as s:
            assert next(s).text == "w0 "
        assert s.response.is_closed
        assert pool.connections == []  # half-read: the connection was closed, not leaked


def test_completed_stream_returns_the_connection_for_reuse(client: MakeClient):
    http, pool = one_connection_client(LONG_REPLY)
    c = client(http_client=http, max_retries=0)
    with c.chat_stream(context_id="c", model="ep-1", messages=USER) as s:
        assert len(list(s)) == 51
    (conn,) = pool.connections
    assert conn.is_idle()  # drained after [DONE]: kept alive for the next call


def test_garbage_collected_stream_releases_the_connection(client: MakeClient):
    http, pool = one_connection_client(LONG_REPLY)
    c = client(http_client=http, max_retries=0)
    s = c.chat_stream(context_id="c", model="ep-1", messages=USER)
    next(s)
    assert len(pool.connections) == 1 and not pool.connections[0].is_idle()
    del s
    gc.collect()
    assert pool.connections == []
    with c.chat_stream(context_id="c", model="ep-1", messages=USER) as s2:
        assert next(s2).text == "w0 "


def test_breaking_out_of_a_for_loop_inside_with_releases(client: MakeClient):
    http, pool = one_connection_client(LONG_REPLY)
    c = client(http_client=http, max_retries=0)
    with c.chat_stream(context_id="c", model="ep-1", messages=USER) as s:
        for ch in s:
            if ch.text == "w3 ":
                break
    assert pool.connections == []
    s.close()  # idempotent
    assert list(s) == []


async def test_async_abandoned_stream_releases_the_connection():
    transport = httpx.AsyncHTTPTransport()
    pool = httpcore.AsyncConnectionPool(
        max_connections=1, network_backend=httpcore.AsyncMockBackend(_http1_script(LONG_REPLY))
    )
    transport._pool = pool
    http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, pool=0.2))
    c = AsyncArkContextClient(api_key=KEY, base_url=BASE, http_client=http, max_retries=0)
    for _ in range(2):
        async with await c.chat_stream(context_id="c", model="ep-1", messages=USER) as s:
            assert (await s.__anext__()).text == "w0 "
        assert pool.connections == []
    async with await c.chat_stream(context_id="c", model="ep-1", messages=USER) as s:
        assert len([ch async for ch in s]) == 51
    (conn,) = pool.connections
    assert conn.is_idle()


# -- async stream behaviour ---------------------------------------------------------------


async def _apieces(raw: bytes, size: int) -> AsyncIterator[bytes]:
    for p in pieces(raw, size):
        yield p


@pytest.mark.parametrize("size", [1, 5, 100_000])
async def test_async_stream_chunks_usage_and_errors(size: int):
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(
            side_effect=lambda req: httpx.Response(
                200, content=_apieces(REPLY, size), headers=SSE_HEADERS
            )
        )
        c = AsyncArkContextClient(api_key=KEY, base_url=BASE)
        async with await c.chat_stream(context_id="c", model="ep-1", messages=USER) as s:
            got = [ch async for ch in s]
        assert "".join(ch.text for ch in got) == "你好!"
        assert s.usage is not None and s.usage.total_tokens == 31 and s.done
        assert json.loads(route.calls[0].request.content)["stream_options"] == {
            "include_usage": True
        }

        route.side_effect = lambda req: httpx.Response(
            200, content=_apieces(sse(chunk("a"), done=False), size), headers=SSE_HEADERS
        )
        s = await c.chat_stream(context_id="c", model="ep-1", messages=USER)
        with pytest.raises(ArkStreamError):
            [ch async for ch in s]
        assert s.response.is_closed
