"""The HTTP layer: a Starlette app serving the API under ``/api/v3`` and admin under ``/_emulator``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ._emulator import (
    PATH_CHAT,
    PATH_CONTEXT_CHAT,
    PATH_CREATE,
    Turn,
    dumps,
)
from ._errors import ApiError, EmulatorError, default_fault_error
from ._faults import Fault
from ._tokens import split_pieces

if TYPE_CHECKING:
    from ._emulator import Emulator

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_PREFIX = "/api/v3"
_RAW_SEND = "ark_emulator.raw_send"
_JSON = "application/json"
_DONE = b"data: [DONE]\n\n"


async def drop_connection(scope: Scope) -> None:
    """Close the client connection without (the rest of) an HTTP response.

    Under uvicorn the server's own ``send`` (kept in the scope by the outer app) is a bound
    method of the request cycle, which holds the socket transport: mark the cycle disconnected
    (so uvicorn writes nothing more and logs nothing) and close the transport (already queued
    bytes are still flushed). Anywhere else (``httpx.ASGITransport``) raise
    ``ConnectionResetError``, which the in-process client re-raises.
    """
    cycle = getattr(scope.get(_RAW_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected"):
        raise ConnectionResetError("ark emulator: connection dropped by an injected fault")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.close()


class _TurnStream(StreamingResponse):
    """A streaming reply that marks its session context idle however the stream ends."""

    def __init__(self, emu: Emulator, turn: Turn, body: AsyncIterator[bytes], headers: Any):
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self._emu = emu
        self._turn = turn

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._emu.release(self._turn)


def build_app(emu: Emulator) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app of ``emu``."""

    def ids(request: Request) -> tuple[str, dict[str, str]]:
        client = request.headers.get("x-client-request-id")
        if client and len(client) <= 128 and client.isascii() and client.isprintable():
            return client, {"x-request-id": client, "x-client-request-id": client}
        rid = emu.new_id()
        return rid, {"x-request-id": rid}

    def error_response(e: ApiError, rid: str, headers: dict[str, str]) -> Response:
        if e.retry_after is not None:
            headers = {**headers, "retry-after": e.retry_after}
        return Response(e.body(rid), status_code=e.status, media_type=_JSON, headers=headers)

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
        e = default_fault_error(fault.status)
        if fault.code is not None:
            e.code = fault.code
        if fault.message is not None:
            e.message = fault.message
        if fault.retry_after is not None:
            e.retry_after = fault.retry_after
        return e

    def bare_record(path: str, rid: str, body: dict[str, Any] | None) -> dict[str, Any]:
        body = body or {}
        cid = body.get("context_id")
        return {
            "request_id": rid,
            "path": path,
            "context_id": cid if isinstance(cid, str) else None,
            "mode": None,
            "model": body.get("model") if isinstance(body.get("model"), str) else None,
            "stream": body.get("stream") is True,
            "messages": None,
            "from_context": 0,
            "sent": body.get("messages") if isinstance(body.get("messages"), list) else None,
            "reply": None,
            "finish_reason": None,
            "usage": None,
            "dropped": 0,
            "applied": False,
            "status": None,
            "error": None,
            "fault": None,
            "cut": False,
            "outcome": "ok",
        }

    async def unapplied_fault(
        request: Request, fault: Fault, rec: dict[str, Any], rid: str, headers: dict[str, str]
    ) -> Response:
        rec["fault"] = fault.kind
        rec["outcome"] = "fault"
        if fault.kind == "drop":
            emu.record(rec)
            await drop_connection(request.scope)
            return Response(b"", status_code=500)
        e = fault_error(fault)
        rec["status"] = e.status
        rec["error"] = e.code
        emu.record(rec)
        return error_response(e, rid, headers)

    async def create(request: Request) -> Response:
        rid, headers = ids(request)
        body: dict[str, Any] | None = None
        fault: Fault | None = None
        try:
            emu.check_auth(request.headers.get("authorization"))
            body = await read_json(request)
            fault = emu.take_fault(PATH_CREATE, False)
            if fault is not None:
                if fault.kind == "latency":
                    await emu.sleep(fault.seconds)
                elif not fault.applies:
                    return await unapplied_fault(
                        request, fault, bare_record(PATH_CREATE, rid, body), rid, headers
                    )
            out, ctx = emu.create(body, rid)
        except ApiError as e:
            rec = bare_record(PATH_CREATE, rid, body)
            rec.update(status=e.status, error=e.code, outcome="error")
            emu.record(rec)
            return error_response(e, rid, headers)
        rec = bare_record(PATH_CREATE, rid, body)
        rec.update(
            context_id=ctx.id,
            mode=ctx.mode,
            messages=ctx.pinned + ctx.history,
            usage=out["usage"],
            applied=True,
            status=200,
        )
        if fault is not None and fault.kind in ("status", "drop"):
            rec.update(fault=fault.kind, outcome="fault")
            if fault.kind == "drop":
                rec["status"] = None
                emu.record(rec)
                await drop_connection(request.scope)
                return Response(b"", status_code=500)
            fe = fault_error(fault)
            rec.update(status=fe.status, error=fe.code)
            emu.record(rec)
            return error_response(fe, rid, headers)
        emu.record(rec)
        return Response(dumps(out), media_type=_JSON, headers=headers)

    def stream_events(turn: Turn) -> list[bytes]:
        base = {
            "id": turn.completion_id,
            "object": "chat.completion.chunk",
            "created": turn.created,
            "model": turn.model,
        }
        pieces = split_pieces(turn.reply, emu.chunk_tokens) or [""]
        last = len(pieces) - 1
        events = []
        for i, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            chunk: dict[str, Any] = {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "finish_reason": turn.finish_reason if i == last else None,
                        "logprobs": None,
                    }
                ],
            }
            if turn.include_usage:
                chunk["usage"] = None
            events.append(b"data: " + dumps(chunk) + b"\n\n")
        if turn.include_usage:
            events.append(b"data: " + dumps({**base, "choices": [], "usage": turn.usage}) + b"\n\n")
        return events

    async def sse(
        scope: Scope, turn: Turn, events: list[bytes], cut: int | None
    ) -> AsyncIterator[bytes]:
        delay = emu.chunk_delay
        for i, event in enumerate(events):
            if cut is not None and i >= cut:
                break
            if delay and i:
                await emu.sleep(delay)
            yield event
        # Idle again before the client can see the end, so its next request is not "InProgress".
        emu.release(turn)
        if cut is not None:
            await drop_connection(scope)
            return
        yield _DONE

    async def completion(request: Request, path: str) -> Response:
        rid, headers = ids(request)
        body: dict[str, Any] | None = None
        fault: Fault | None = None
        try:
            emu.check_auth(request.headers.get("authorization"))
            body = await read_json(request)
            fault = emu.take_fault(path, body.get("stream") is True)
            if fault is not None and not fault.applies:
                return await unapplied_fault(
                    request, fault, bare_record(path, rid, body), rid, headers
                )
            turn = emu.prepare(body, path, rid)
        except ApiError as e:
            rec = bare_record(path, rid, body)
            rec.update(status=e.status, error=e.code, outcome="error")
            emu.record(rec)
            return error_response(e, rid, headers)
        streaming = False
        try:
            delay = emu.latency
            if fault is not None and fault.kind == "latency":
                delay += fault.seconds
            if delay:
                await emu.sleep(delay)
            emu.generate(turn)
            if fault is not None and fault.kind in ("status", "drop"):
                rec = emu.turn_record(turn, fault=fault.kind, outcome="fault")
                if fault.kind == "drop":
                    rec["status"] = None
                    emu.record(rec)
                    await drop_connection(request.scope)
                    return Response(b"", status_code=500)
                fe = fault_error(fault)
                rec.update(status=fe.status, error=fe.code)
                emu.record(rec)
                return error_response(fe, rid, headers)
            if not turn.stream:
                emu.record(emu.turn_record(turn))
                return Response(dumps(emu.completion_body(turn)), media_type=_JSON, headers=headers)
            cut = fault.after_chunks if fault is not None and fault.kind == "cut_stream" else None
            events = stream_events(turn)
            if cut is None:
                emu.record(emu.turn_record(turn))
            else:
                emu.record(emu.turn_record(turn, fault="cut_stream", outcome="fault", cut=True))
            streaming = True
            return _TurnStream(emu, turn, sse(request.scope, turn, events, cut), headers)
        except ApiError as e:
            rec = emu.turn_record(turn, status=e.status, error=e.code, outcome="error")
            emu.record(rec)
            return error_response(e, rid, headers)
        except BaseException:
            if turn.usage is None:
                emu.record(emu.turn_record(turn, status=None, outcome="cancelled"))
            raise
        finally:
            if not streaming:
                emu.release(turn)

    async def context_chat(request: Request) -> Response:
        return await completion(request, PATH_CONTEXT_CHAT)

    async def chat(request: Request) -> Response:
        return await completion(request, PATH_CHAT)

    async def unknown_api(request: Request) -> Response:
        rid, headers = ids(request)
        e = ApiError(
            404,
            "NotFound",
            f"The requested path {request.url.path} is not part of the emulated Ark API.",
        )
        return error_response(e, rid, headers)

    # ------------------------------------------------------------------ admin
    def ok(data: Any) -> Response:
        return Response(dumps(data), media_type=_JSON)

    def admin_error(e: Exception) -> Response:
        return Response(
            dumps({"error": {"code": "EmulatorError", "message": str(e), "param": "", "type": ""}}),
            status_code=400,
            media_type=_JSON,
        )

    async def admin_json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise EmulatorError("the admin request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise EmulatorError("the admin request body must be a JSON object")
        return data

    async def admin_contexts(request: Request) -> Response:
        if request.method == "DELETE":
            return ok({"forgotten": emu.forget_contexts()})
        return ok({"contexts": emu.contexts()})

    async def admin_context(request: Request) -> Response:
        snap = emu.context(request.path_params["context_id"])
        if snap is None:
            return Response(
                dumps({"error": {"code": "NotFound.Context", "message": "no such live context"}}),
                status_code=404,
                media_type=_JSON,
            )
        return ok(snap)

    async def admin_forget(request: Request) -> Response:
        return ok({"forgotten": emu.forget_contexts()})

    async def admin_records(request: Request) -> Response:
        if request.method == "DELETE":
            emu.clear_records()
            return ok({"cleared": True})
        try:
            return ok({"records": emu.records(request.query_params.get("path"))})
        except EmulatorError as e:
            return admin_error(e)

    async def admin_clock(request: Request) -> Response:
        if request.method == "GET":
            return ok({"now": emu.now()})
        try:
            data = await admin_json(request)
            return ok({"now": emu.advance_clock(data.get("seconds", 0))})
        except EmulatorError as e:
            return admin_error(e)

    async def admin_faults(request: Request) -> Response:
        if request.method == "GET":
            return ok({"faults": emu.faults()})
        if request.method == "DELETE":
            emu.clear_faults()
            return ok({"cleared": True})
        try:
            fault = emu.add_fault(Fault.from_dict(await admin_json(request)))
        except (EmulatorError, TypeError) as e:
            return admin_error(e)
        return ok({"fault": fault.to_dict()})

    async def admin_reset(request: Request) -> Response:
        emu.reset()
        return ok({"reset": True})

    async def admin_health(request: Request) -> Response:
        return ok({"ok": True, "contexts": len(emu.contexts())})

    routes = [
        Route(API_PREFIX + PATH_CONTEXT_CHAT, context_chat, methods=["POST"]),
        Route(API_PREFIX + PATH_CREATE, create, methods=["POST"]),
        Route(API_PREFIX + PATH_CHAT, chat, methods=["POST"]),
        Route(
            API_PREFIX + "/{rest:path}",
            unknown_api,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
        Route("/_emulator/health", admin_health, methods=["GET"]),
        Route("/_emulator/contexts", admin_contexts, methods=["GET", "DELETE"]),
        Route("/_emulator/contexts/forget", admin_forget, methods=["POST"]),
        Route("/_emulator/contexts/{context_id}", admin_context, methods=["GET"]),
        Route("/_emulator/records", admin_records, methods=["GET", "DELETE"]),
        Route("/_emulator/clock", admin_clock, methods=["GET"]),
        Route("/_emulator/clock/advance", admin_clock, methods=["POST"]),
        Route("/_emulator/faults", admin_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/reset", admin_reset, methods=["POST"]),
    ]
    starlette = Starlette(routes=routes)
    # The three API endpoints skip Starlette's routing and middleware layers (a measurable
    # share of a request's cost); everything else, including errors, goes through Starlette.
    fast = {
        API_PREFIX + PATH_CONTEXT_CHAT: context_chat,
        API_PREFIX + PATH_CREATE: create,
        API_PREFIX + PATH_CHAT: chat,
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_RAW_SEND] = send
            handler = fast.get(scope["path"])
            if handler is not None and scope["method"] == "POST":
                response = await handler(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await starlette(scope, receive, send)

    return app
