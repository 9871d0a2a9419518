"""client.responses.stream against respx: event typing, text/reasoning assembly, usage from
the terminal event, and every way a stream fails (each error carries the response id)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from ark_context import (
    ArkCachingRuleError,
    ArkContextClient,
    ArkResponseIncompleteError,
    ArkStreamError,
    AsyncArkContextClient,
)
from ark_context._exceptions import (
    ArkAPIError,
    ArkConnectionError,
    ArkError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkServerError,
)
from ark_context._responses_models import (
    ErrorEvent,
    OutputItemEvent,
    ResponseLifecycleEvent,
    TextDeltaEvent,
    UnknownEvent,
)
from tests.client.fakes import FakeSleep

BASE = "http://ark.test/api/v3"
KEY = "sk-stream-SECRET-8080"
MODEL = "doubao-seed-1-6-251015"
RID = "resp_0217"
SSE = {"content-type": "text/event-stream"}
USAGE = {
    "input_tokens": 40,
    "input_tokens_details": {"cached_tokens": 30},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 4},
    "total_tokens": 49,
}


def client(**kw: Any) -> ArkContextClient:
    return ArkContextClient(api_key=KEY, base_url=BASE, sleep=FakeSleep(), **kw)


def mocked() -> respx.MockRouter:
    return respx.mock(base_url=BASE, assert_all_called=False)


def ev(kind: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "sequence_number": n, **fields}


def lifecycle(kind: str, n: int, status: str, **resp: Any) -> dict[str, Any]:
    return ev(kind, n, response={"id": RID, "object": "response", "status": status, **resp})


def opening() -> list[dict[str, Any]]:
    return [
        lifecycle("response.created", 0, "in_progress"),
        lifecycle("response.in_progress", 1, "in_progress"),
    ]


def full_events() -> list[dict[str, Any]]:
    """A reasoning item, a message with two content parts (deltas interleaved out of
    order across parts), a function call, an unknown event, then completed."""
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    message = {"type": "message", "id": "msg_1", "role": "assistant", "content": []}
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "f",
        "arguments": "",
    }
    t = "response.output_text.delta"
    r = "response.reasoning_summary_text.delta"
    a = "response.function_call_arguments.delta"
    return [
        *opening(),
        ev("response.output_item.added", 2, output_index=0, item=reasoning),
        ev(r, 3, item_id="rs_1", output_index=0, summary_index=0, delta="think "),
        ev(r, 4, item_id="rs_1", output_index=0, summary_index=0, delta="hard"),
        ev("response.output_item.added", 5, output_index=1, item=message),
        ev(t, 6, item_id="msg_1", output_index=1, content_index=1, delta="world"),
        ev(t, 7, item_id="msg_1", output_index=1, content_index=0, delta="Hello"),
        ev(t, 8, item_id="msg_1", output_index=1, content_index=0, delta=", "),
        ev("response.web_search_call.searching", 9, output_index=2),
        ev("response.output_item.added", 10, output_index=2, item=call),
        ev(a, 11, item_id="fc_1", output_index=2, delta='{"x":'),
        ev(a, 12, item_id="fc_1", output_index=2, delta="1}"),
        ev("response.output_item.done", 13, output_index=2, item={**call, "arguments": '{"x":1}'}),
        lifecycle("response.completed", 14, "completed", usage=USAGE),
    ]


def sse(events: list[dict[str, Any]], done: bool = True) -> bytes:
    out = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
        for e in events
    )
    return out + (b"data: [DONE]\n\n" if done else b"")


def stream_answer(body: bytes, piece: int = 37) -> httpx.Response:
    """The body in small network chunks (boundaries fall inside events)."""
    return httpx.Response(
        200, headers=SSE, content=iter([body[i : i + piece] for i in range(0, len(body), piece)])
    )


# -- a good stream -----------------------------------------------------------------------


def test_stream_types_events_and_assembles_the_reply() -> None:
    with mocked() as mock:
        route = mock.post("/responses").mock(return_value=stream_answer(sse(full_events())))
        with client().responses.stream(model=MODEL, input="q", caching={"type": "enabled"}) as s:
            events = list(s)
        body = json.loads(route.calls.last.request.content)
    assert body == {"model": MODEL, "input": "q", "caching": {"type": "enabled"}, "stream": True}
    assert route.calls.last.request.headers["accept"] == "text/event-stream"
    assert [e.sequence_number for e in events] == list(range(15))
    assert isinstance(events[0], ResponseLifecycleEvent) and isinstance(events[5], OutputItemEvent)
    assert isinstance(events[6], TextDeltaEvent)
    assert isinstance(events[9], UnknownEvent) and events[9].type.endswith("searching")
    assert s.response_id == RID
    assert s.text == "Hello, world"  # by (output_index, content_index), not arrival order
    assert s.reasoning_text == "think hard"  # kept apart from the answer
    assert [(c.call_id, c.arguments) for c in s.function_calls] == [("call_1", '{"x":1}')]
    assert s.usage is not None and (s.usage.cached_tokens, s.usage.reasoning_tokens) == (30, 4)
    assert s.final_response is not None and s.final_response.status == "completed"
    assert s.request_bytes == len(route.calls.last.request.content)


def test_done_texts_replace_the_deltas() -> None:
    events = [
        *opening(),
        ev("response.output_text.delta", 2, output_index=0, content_index=0, delta="Hel"),
        ev("response.output_text.done", 3, output_index=0, content_index=0, text="Hello!"),
        lifecycle("response.completed", 4, "completed"),
    ]
    with mocked() as mock:
        mock.post("/responses").mock(return_value=stream_answer(sse(events)))
        s = client().responses.stream(model=MODEL, input="q")
        assert len(list(s)) == 5
    assert s.text == "Hello!"


def test_usage_only_from_the_terminal_event() -> None:
    events = full_events()
    with mocked() as mock:
        mock.post("/responses").mock(return_value=stream_answer(sse(events)))
        s = client().responses.stream(model=MODEL, input="q")
        for e in s:
            if e.type != "response.completed":
                assert s.usage is None


def test_eof_after_the_terminal_event_without_done_is_fine() -> None:
    with mocked() as mock:
        mock.post("/responses").mock(return_value=stream_answer(sse(full_events(), done=False)))
        with client().responses.stream(model=MODEL, input="q") as s:
            assert len(list(s)) == 15
    assert s.text == "Hello, world"


# -- failures ----------------------------------------------------------------------------


def _fails(events: list[dict[str, Any]] | bytes, done: bool = True) -> ArkError:
    body = events if isinstance(events, bytes) else sse(events, done)
    with mocked() as mock:
        mock.post("/responses").mock(return_value=stream_answer(body))
        s = client().responses.stream(model=MODEL, input="q")
        with pytest.raises(ArkError) as info:
            for _ in s:
                pass
    assert s._closed  # the connection was released
    return info.value


def test_error_event_raises_the_mapped_error_with_the_response_id() -> None:
    events = [*opening(), ev("error", 2, code="ServerOverloaded", message="busy", param=None)]
    err = _fails(events)
    assert isinstance(err, ArkRateLimitError) and "busy" in str(err)
    assert err.response_id == RID and err.sent is True


def test_chat_style_error_message_raises() -> None:
    body = (
        sse(opening(), done=False)
        + b'data: {"error": {"code": "InternalServiceError", "message": "boom"}}\n\n'
    )
    err = _fails(body)
    assert isinstance(err, ArkServerError) and err.response_id == RID


def test_response_failed_raises_with_the_response_id() -> None:
    failed = lifecycle(
        "response.failed", 2, "failed", error={"code": "InternalServiceError", "message": "oops"}
    )
    err = _fails([*opening(), failed])
    assert isinstance(err, ArkServerError) and "oops" in str(err) and err.response_id == RID


def test_response_failed_without_error_raises_stream_error() -> None:
    err = _fails([*opening(), lifecycle("response.failed", 2, "failed")])
    assert type(err) is ArkStreamError and err.response_id == RID


def test_response_incomplete_raises_with_reason_and_partial() -> None:
    events = [
        *opening(),
        ev("response.output_text.delta", 2, output_index=0, content_index=0, delta="Half"),
        lifecycle(
            "response.incomplete", 3, "incomplete",
            incomplete_details={"reason": "max_output_tokens"}, usage=USAGE,
        ),
    ]  # fmt: skip
    err = _fails(events)
    assert isinstance(err, ArkResponseIncompleteError)
    assert err.reason == "max_output_tokens" and err.response_id == RID
    assert err.partial is not None and err.partial.usage.output_tokens == 9
    assert "max_output_tokens" in str(err)


@pytest.mark.parametrize("done", [True, False], ids=["done-without-terminal", "eof"])
def test_missing_terminal_event_raises_with_the_response_id(done: bool) -> None:
    events = [
        *opening(),
        ev("response.output_text.delta", 2, output_index=0, content_index=0, delta="Hi"),
    ]
    err = _fails(events, done=done)
    assert type(err) is ArkStreamError and "terminal event" in str(err)
    assert err.response_id == RID and RID in str(err)


def test_unreadable_event_raises_stream_error() -> None:
    err = _fails(sse(opening(), done=False) + b"data: {not json\n\n")
    assert isinstance(err, ArkStreamError) and err.response_id == RID


def test_malformed_known_event_raises_stream_error() -> None:
    bad = ev("response.output_text.delta", 2, output_index="first", content_index=0, delta="x")
    err = _fails([*opening(), bad])
    assert isinstance(err, ArkStreamError) and "response.output_text.delta" in str(err)


def test_dropped_connection_mid_stream_carries_the_response_id() -> None:
    def chunks() -> Iterator[bytes]:
        yield sse(opening(), done=False)
        raise httpx.RemoteProtocolError("peer closed connection")

    with mocked() as mock:
        route = mock.post("/responses").mock(
            return_value=httpx.Response(200, headers=SSE, content=chunks())
        )
        s = client().responses.stream(model=MODEL, input="q")
        with pytest.raises(ArkConnectionError) as info:
            list(s)
        assert route.call_count == 1  # never resent once the stream started
    assert info.value.sent is True and info.value.response_id == RID


def test_error_before_any_event_has_no_response_id() -> None:
    err = _fails(b"data: [DONE]\n\n")
    assert isinstance(err, ArkStreamError) and err.response_id is None


# -- opening: retries and non-streams ----------------------------------------------------


def test_opening_retries_429_but_not_500() -> None:
    sleep = FakeSleep()
    rate = httpx.Response(
        429,
        json={"error": {"code": "RateLimitExceeded", "message": "x"}},
        headers={"retry-after": "2"},
    )
    with mocked() as mock:
        route = mock.post("/responses").mock(side_effect=[rate, stream_answer(sse(full_events()))])
        c = ArkContextClient(api_key=KEY, base_url=BASE, sleep=sleep)
        assert len(list(c.responses.stream(model=MODEL, input="q"))) == 15
        assert route.call_count == 2 and sleep.delays == [2.0]
        route.side_effect = [
            httpx.Response(500, json={"error": {"code": "InternalServiceError", "message": "x"}})
        ]
        with pytest.raises(ArkServerError) as info:
            c.responses.stream(model=MODEL, input="q")
        assert route.call_count == 3 and info.value.sent


def test_a_json_answer_instead_of_a_stream() -> None:
    with mocked() as mock:
        mock.post("/responses").respond(200, json={"id": RID, "object": "response"})
        with pytest.raises(ArkProtocolError, match="event stream"):
            client().responses.stream(model=MODEL, input="q")
        mock.post("/responses").respond(
            200, json={"error": {"code": "InvalidParameter", "message": "bad"}}
        )
        with pytest.raises(ArkAPIError, match="bad"):
            client().responses.stream(model=MODEL, input="q")


def test_prefix_cache_cannot_be_streamed() -> None:
    with mocked() as mock:
        route = mock.post("/responses").respond(200)
        with pytest.raises(ArkCachingRuleError) as info:
            client().responses.stream(
                model=MODEL, input="q", caching={"type": "enabled", "prefix": True}
            )
        assert not route.called
    assert info.value.rule == "prefix-streamed"


# -- async -------------------------------------------------------------------------------


def async_answer(body: bytes, piece: int = 41) -> httpx.Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), piece):
            yield body[i : i + piece]

    return httpx.Response(200, headers=SSE, content=chunks())


async def test_async_stream_assembles_and_fails_like_the_sync_one() -> None:
    aclient = AsyncArkContextClient(api_key=KEY, base_url=BASE)
    with mocked() as mock:
        route = mock.post("/responses").mock(return_value=async_answer(sse(full_events())))
        async with await aclient.responses.stream(model=MODEL, input="q") as s:
            events = [e async for e in s]
        assert len(events) == 15 and s.text == "Hello, world" and s.response_id == RID
        assert s.usage is not None and s.usage.cached_tokens == 30
        route.mock(
            return_value=async_answer(sse([*opening(), ev("error", 2, code=None, message="x")]))
        )
        s2 = await aclient.responses.stream(model=MODEL, input="q")
        with pytest.raises(ArkAPIError) as info:
            async for _ in s2:
                pass
        assert info.value.response_id == RID
        route.mock(return_value=async_answer(sse(opening(), done=False)))
        s3 = await aclient.responses.stream(model=MODEL, input="q")
        with pytest.raises(ArkStreamError) as info2:
            async for _ in s3:
                pass
        assert info2.value.response_id == RID and s3._closed


async def test_async_error_event_is_typed() -> None:
    aclient = AsyncArkContextClient(api_key=KEY, base_url=BASE)
    with mocked() as mock:
        mock.post("/responses").mock(
            return_value=async_answer(
                sse([*opening(), ev("error", 2, code="ServerOverloaded", message="m")])
            )
        )
        s = await aclient.responses.stream(model=MODEL, input="q")
        seen: list[Any] = []
        with pytest.raises(ArkRateLimitError):
            async for e in s:
                seen.append(e)
    assert not any(isinstance(e, ErrorEvent) for e in seen)  # raised, not yielded
