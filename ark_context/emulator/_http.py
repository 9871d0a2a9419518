"""HTTP plumbing both APIs share: request ids, error bodies, JSON bodies, faults, SSE."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ._common import dumps
from ._errors import ApiError, default_fault_error
from ._faults import Fault
from ._state import EmulatorState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Scope key under which the outer app keeps the server's own ``send``.
RAW_SEND = "ark_emulator.raw_send"
JSON = "application/json"
DONE = b"data: [DONE]\n\n"


def request_ids(state: EmulatorState, request: Request) -> tuple[str, dict[str, str]]:
    """The request id (the client's ``X-Client-Request-Id`` when usable) and reply headers."""
    client = request.headers.get("x-client-request-id")
    if client and len(client) <= 128 and client.isascii() and client.isprintable():
        return client, {"x-request-id": client, "x-client-request-id": client}
    rid = state.new_id()
    return rid, {"x-request-id": rid}


def error_response(e: ApiError, rid: str, headers: dict[str, str]) -> Response:
    if e.retry_after is not None:
        headers = {**headers, "retry-after": e.retry_after}
    return Response(e.body(rid), status_code=e.status, media_type=JSON, headers=headers)


def json_response(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), media_type=JSON, headers=headers)


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "InvalidParameter", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidParameter", "The request body must be a JSON object.")
    return body


def fault_error(fault: Fault) -> ApiError:
    """The Ark error a ``status`` (or ``stream_error``) fault answers with."""
    e = default_fault_error(fault.status)
    if fault.code is not None:
        e.code = fault.code
    if fault.message is not None:
        e.message = fault.message
    if fault.retry_after is not None:
        e.retry_after = fault.retry_after
    return e


async def drop_connection(scope: Scope) -> None:
    """Close the client connection without (the rest of) an HTTP response.

    Under uvicorn the server's own ``send`` (kept in the scope by the outer app) is a bound
    method of the request cycle, which holds the socket transport: mark the cycle disconnected
    (so uvicorn writes nothing more and logs nothing) and close the transport (already queued
    bytes are still flushed). Anywhere else (``httpx.ASGITransport``) raise
    ``ConnectionResetError``, which the in-process client re-raises.
    """
    cycle = getattr(scope.get(RAW_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected"):
        raise ConnectionResetError("ark emulator: connection dropped by an injected fault")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.close()


async def answer_fault(
    state: EmulatorState,
    request: Request,
    fault: Fault,
    rec: dict[str, Any],
    rid: str,
    headers: dict[str, str],
) -> Response:
    """Record ``rec`` as hit by a ``status`` or ``drop`` fault and answer accordingly."""
    rec["fault"] = fault.kind
    rec["outcome"] = "fault"
    if fault.kind == "drop":
        rec["status"] = None
        state.record(rec)
        await drop_connection(request.scope)
        return Response(b"", status_code=500)
    e = fault_error(fault)
    rec["status"] = e.status
    rec["error"] = e.code
    state.record(rec)
    return error_response(e, rid, headers)


def reject(
    state: EmulatorState, e: ApiError, rec: dict[str, Any], rid: str, headers: dict[str, str]
) -> Response:
    """Record ``rec`` as refused with ``e`` and answer with its error body."""
    rec.update(status=e.status, error=e.code, outcome="error")
    state.record(rec)
    return error_response(e, rid, headers)


@dataclasses.dataclass
class Post:
    """An authenticated API POST with its JSON body and the fault it drew (if any)."""

    rid: str
    headers: dict[str, str]
    body: dict[str, Any]
    fault: Fault | None


#: ``bare(request_id, body)``: the record of a request that produced nothing.
BareRecord = Callable[[str, "dict[str, Any] | None"], dict[str, Any]]


async def open_post(
    state: EmulatorState, request: Request, path: str, bare: BareRecord
) -> Post | Response:
    """Auth, body and fault of an API POST; a ``Response`` when it ends here (refused, or
    a fault that hits before the request is processed)."""
    rid, headers = request_ids(state, request)
    body: dict[str, Any] | None = None
    try:
        state.check_auth(request.headers.get("authorization"))
        body = await read_json(request)
    except ApiError as e:
        return reject(state, e, bare(rid, body), rid, headers)
    fault = state.take_fault(path, body.get("stream") is True)
    if fault is not None and not fault.applies:
        return await answer_fault(state, request, fault, bare(rid, body), rid, headers)
    return Post(rid, headers, body, fault)


async def sse_events(
    state: EmulatorState,
    scope: Scope,
    events: list[bytes],
    cut: int | None,
    on_end: Callable[[], None],
) -> AsyncIterator[bytes]:
    """Send ``events`` (``chunk_delay`` apart); ``cut``: close the connection after that many
    events instead of sending ``[DONE]``. ``on_end`` runs before the client can see the end."""
    delay = state.chunk_delay
    for i, event in enumerate(events):
        if cut is not None and i >= cut:
            break
        if delay and i:
            await state.sleep(delay)
        yield event
    on_end()
    if cut is not None:
        await drop_connection(scope)
        return
    yield DONE


class FinallyStream(StreamingResponse):
    """A streaming reply that runs ``on_end`` however the stream ends (done, cut, cancelled)."""

    def __init__(
        self, body: AsyncIterator[bytes], headers: dict[str, str], on_end: Callable[[], None]
    ) -> None:
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self._on_end = on_end

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_end()
