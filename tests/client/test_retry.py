"""Which failures the client retries, how long it waits (fake sleep), and streams."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from typing import Any

import httpx
import pytest
import respx

from ark_context import AsyncArkContextClient
from ark_context._exceptions import (
    ArkAPIError,
    ArkBadRequestError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkError,
    ArkRateLimitError,
    ArkServerError,
    ArkTimeoutError,
)
from ark_context.policy import BACKOFF_BASE, BACKOFF_CAP
from tests.client.conftest import BASE, KEY, USER, MakeClient
from tests.client.fakes import AsyncFakeSleep, FakeSleep

CTX = "/context/chat/completions"
OK = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}


def err(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": "x"}}, headers=headers)


def ok() -> httpx.Response:
    return httpx.Response(200, json=OK)


FAILURES: dict[str, Any] = {  # factories: every test gets fresh objects
    "connect_error": lambda: httpx.ConnectError("refused"),
    "connect_timeout": lambda: httpx.ConnectTimeout("slow"),
    "pool_timeout": lambda: httpx.PoolTimeout("full"),
    "read_timeout": lambda: httpx.ReadTimeout("slow"),
    "dropped": lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
    "read_error": lambda: httpx.ReadError("reset by peer"),
    "429": lambda: err(429, "RateLimitExceeded"),
    "500": lambda: err(500, "InternalServiceError"),
    "503_html": lambda: httpx.Response(
        503, content=b"<html>down</html>", headers={"content-type": "text/html"}
    ),
    "busy": lambda: err(403, "OperationDenied.InvalidState"),
}
NOT_SENT = {"connect_error", "connect_timeout", "pool_timeout"}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("idempotent", [False, True])
def test_chat_retry_decision(client: MakeClient, failure: str, idempotent: bool):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=[FAILURES[failure](), ok()])
        c = client(sleep=sleep)
        should = idempotent or failure in NOT_SENT
        if should:
            out = c.chat(context_id="ctx", model="ep", messages=USER, idempotent=idempotent)
            assert out.text == "ok"
            assert route.call_count == 2 and len(sleep.delays) == 1
        else:
            with pytest.raises(ArkError):
                c.chat(context_id="ctx", model="ep", messages=USER, idempotent=idempotent)
            assert route.call_count == 1 and sleep.delays == []


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_create_context_and_plain_chat_are_idempotent(client: MakeClient, failure: str):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        create = mock.post("/context/create").mock(
            side_effect=[FAILURES[failure](), httpx.Response(200, json={"id": "ctx-1"})]
        )
        plain = mock.post("/chat/completions").mock(side_effect=[FAILURES[failure](), ok()])
        c = client(sleep=sleep)
        assert c.create_context(model="ep", messages=USER).id == "ctx-1"
        assert c.chat_completions(model="ep", messages=USER).text == "ok"
    assert create.call_count == 2 and plain.call_count == 2


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(400, "MissingParameter", ArkBadRequestError), (401, "AuthenticationError", ArkAPIError)],
)
def test_client_errors_never_retried(client: MakeClient, status: int, code: str, cls: type):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=[err(status, code), ok()])
        with pytest.raises(cls):
            client(sleep=sleep).chat(context_id="c", model="ep", messages=USER, idempotent=True)
    assert route.call_count == 1 and sleep.delays == []


def test_retries_exhausted_raise_last_error_with_capped_backoff(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=[err(500, "InternalServiceError")] * 6)
        with pytest.raises(ArkServerError):
            client(sleep=sleep, max_retries=5).chat(
                context_id="c", model="ep", messages=USER, idempotent=True
            )
    assert route.call_count == 6
    assert len(sleep.delays) == 5
    for attempt, d in enumerate(sleep.delays):
        assert 0.0 <= d <= min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)


def test_max_retries_zero(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(ArkConnectionError):
            client(sleep=sleep, max_retries=0).chat(context_id="c", model="ep", messages=USER)
    assert route.call_count == 1 and sleep.delays == []


def test_unsent_errors_retried_even_when_not_idempotent_until_budget(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(ArkConnectionError) as info:
            client(sleep=sleep, max_retries=3).chat(context_id="c", model="ep", messages=USER)
    assert info.value.sent is False
    assert route.call_count == 4 and len(sleep.delays) == 3


def test_retry_after_seconds_honoured(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).mock(side_effect=[err(429, "RateLimitExceeded", {"Retry-After": "7"}), ok()])
        client(sleep=sleep).chat(context_id="c", model="ep", messages=USER, idempotent=True)
    assert sleep.delays == [7.0]


def test_retry_after_http_date_honoured(client: MakeClient):
    sleep = FakeSleep()
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    with respx.mock(base_url=BASE) as mock:
        mock.post("/context/create").mock(
            side_effect=[
                err(503, "ServiceUnavailable", {"Retry-After": date}),
                httpx.Response(200, json={"id": "ctx"}),
            ]
        )
        client(sleep=sleep).create_context(model="ep", messages=USER)
    (delay,) = sleep.delays
    assert 25.0 <= delay <= 30.0


def test_retry_after_capped(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).mock(
            side_effect=[err(429, "RateLimitExceeded", {"Retry-After": "86400"}), ok()]
        )
        client(sleep=sleep).chat(context_id="c", model="ep", messages=USER, idempotent=True)
    assert sleep.delays == [60.0]


def test_retry_logged_at_debug_without_key(client: MakeClient, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="ark_context")
    with respx.mock(base_url=BASE) as mock:
        mock.post(CTX).mock(side_effect=[err(500, "InternalServiceError"), ok()])
        client(sleep=FakeSleep()).chat(context_id="c", model="ep", messages=USER, idempotent=True)
    (rec,) = [r for r in caplog.records if r.name == "ark_context"]
    assert rec.levelno == logging.DEBUG and "ArkServerError" in rec.getMessage()
    assert KEY not in caplog.text


# -- streams: only the opening is retried ----------------------------------------------


def sse(*events: Any, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(text: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }


def stream_ok(*texts: str) -> httpx.Response:
    return httpx.Response(
        200, content=sse(*(chunk(t) for t in texts)), headers={"content-type": "text/event-stream"}
    )


def test_stream_open_retried_when_idempotent(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").mock(
            side_effect=[err(500, "InternalServiceError"), stream_ok("a", "b")]
        )
        with client(sleep=sleep).chat_completions_stream(model="ep", messages=USER) as s:
            assert [c.text for c in s] == ["a", "b"]
    assert route.call_count == 2 and len(sleep.delays) == 1


def test_stream_open_not_retried_in_session_mode(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=[err(429, "RateLimitExceeded"), stream_ok("a")])
        with pytest.raises(ArkRateLimitError):
            client(sleep=sleep).chat_stream(context_id="c", model="ep", messages=USER)
    assert route.call_count == 1


def test_stream_open_connect_error_retried_in_session_mode(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=[httpx.ConnectError("refused"), stream_ok("a")])
        with client(sleep=sleep).chat_stream(context_id="c", model="ep", messages=USER) as s:
            assert [c.text for c in s] == ["a"]
    assert route.call_count == 2


def test_error_event_after_first_chunk_is_never_retried(client: MakeClient):
    sleep = FakeSleep()
    body = sse(
        chunk("a"), {"error": {"code": "InternalServiceError", "message": "boom"}}, done=False
    )
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(
            side_effect=[
                httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}),
                stream_ok("b"),
            ]
        )
        s = client(sleep=sleep).chat_stream(
            context_id="c", model="ep", messages=USER, idempotent=True
        )
        assert next(s).text == "a"
        with pytest.raises(ArkServerError, match="boom"):
            next(s)
    assert route.call_count == 1 and sleep.delays == []


def test_busy_stream_open_retried_when_idempotent(client: MakeClient):
    sleep = FakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(
            side_effect=[err(403, "OperationDenied.InvalidState"), stream_ok("x")]
        )
        with client(sleep=sleep).chat_stream(
            context_id="c", model="ep", messages=USER, idempotent=True
        ) as s:
            assert [c.text for c in s] == ["x"]
    assert route.call_count == 2


# -- async twins ------------------------------------------------------------------------


async def test_async_retry_rules():
    sleep = AsyncFakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(
            side_effect=[
                httpx.ReadTimeout("slow"),
                err(429, "RateLimitExceeded", {"Retry-After": "2"}),
                ok(),
            ]
        )
        c = AsyncArkContextClient(api_key=KEY, base_url=BASE, sleep=sleep)
        out = await c.chat(context_id="c", model="ep", messages=USER, idempotent=True)
        assert out.text == "ok" and route.call_count == 3
        assert sleep.delays[1] == 2.0

        route.side_effect = [httpx.ReadTimeout("slow"), ok()]
        with pytest.raises(ArkTimeoutError):
            await c.chat(context_id="c", model="ep", messages=USER)
        assert route.call_count == 4


async def test_async_busy_not_retried_in_session_mode_but_stream_open_is_when_idempotent():
    sleep = AsyncFakeSleep()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(CTX).mock(side_effect=[err(403, "OperationDenied.InvalidState"), ok()])
        c = AsyncArkContextClient(api_key=KEY, base_url=BASE, sleep=sleep)
        with pytest.raises(ArkContextBusyError):
            await c.chat(context_id="c", model="ep", messages=USER)
        assert route.call_count == 1
        route.side_effect = [err(500, "InternalServiceError"), stream_ok("a", "b")]
        async with await c.chat_stream(
            context_id="c", model="ep", messages=USER, idempotent=True
        ) as s:
            assert [ch.text async for ch in s] == ["a", "b"]
        assert route.call_count == 3 and len(sleep.delays) == 1
