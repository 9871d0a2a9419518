"""HTTP handlers of the Context API: ``/context/create``, ``/context/chat/completions`` and
``/chat/completions``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._common import PATH_CHAT, PATH_CONTEXT_CHAT, PATH_CREATE, dumps, new_record
from ._contexts import ContextAPI, Turn
from ._errors import ApiError
from ._faults import Fault
from ._http import (
    BareRecord,
    FinallyStream,
    answer_fault,
    error_response,
    fault_error,
    json_response,
    open_post,
    reject,
    sse_events,
)
from ._tokens import split_pieces


def bare_record(path: str) -> BareRecord:
    """How to record a request on ``path`` that produced no turn (refused, or faulted)."""

    def bare(rid: str, body: dict[str, Any] | None) -> dict[str, Any]:
        body = body or {}
        cid = body.get("context_id")
        model = body.get("model")
        messages = body.get("messages")
        return new_record(
            path,
            rid,
            context_id=cid if isinstance(cid, str) else None,
            model=model if isinstance(model, str) else None,
            stream=body.get("stream") is True,
            sent=messages if isinstance(messages, list) else None,
        )

    return bare


async def create(api: ContextAPI, request: Request) -> Response:
    """``POST /context/create``."""
    bare = bare_record(PATH_CREATE)
    post = await open_post(api, request, PATH_CREATE, bare)
    if isinstance(post, Response):
        return post
    rid, headers, fault = post.rid, post.headers, post.fault
    try:
        if fault is not None and fault.kind == "latency":
            await api.sleep(fault.seconds)
        out, ctx = api.create(post.body, rid)
    except ApiError as e:
        return reject(api, e, bare(rid, post.body), rid, headers)
    rec = bare(rid, post.body)
    rec.update(
        context_id=ctx.id,
        mode=ctx.mode,
        messages=ctx.pinned + ctx.history,
        usage=out["usage"],
        applied=True,
        status=200,
    )
    if fault is not None and fault.kind in ("status", "drop"):
        return await answer_fault(api, request, fault, rec, rid, headers)
    api.record(rec)
    return json_response(out, headers)


def stream_events(api: ContextAPI, turn: Turn, error_after: int | None = None) -> list[bytes]:
    """The SSE events of a streamed completion (without ``[DONE]``)."""
    base = {
        "id": turn.completion_id,
        "object": "chat.completion.chunk",
        "created": turn.created,
        "model": turn.model,
    }
    pieces = split_pieces(turn.reply, api.chunk_tokens) or [""]
    last = len(pieces) - 1
    events = []
    for i, piece in enumerate(pieces):
        delta: dict[str, Any] = (
            {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        )
        if i == last and turn.tool_calls:
            delta["tool_calls"] = [{"index": n, **c} for n, c in enumerate(turn.tool_calls)]
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


def _stream_error_event(fault: Fault, rid: str) -> bytes:
    """A Chat-style mid-stream error message (what Ark's chat streams send)."""
    e = fault_error(fault)
    err = {"code": e.code, "message": f"{e.message} Request id: {rid}", "param": "", "type": ""}
    return b"data: " + dumps({"error": err}) + b"\n\n"


async def completion(api: ContextAPI, request: Request, path: str) -> Response:
    """``POST /context/chat/completions`` and ``POST /chat/completions``."""
    bare = bare_record(path)
    post = await open_post(api, request, path, bare)
    if isinstance(post, Response):
        return post
    rid, headers, fault = post.rid, post.headers, post.fault
    try:
        turn = api.prepare(post.body, path, rid)
    except ApiError as e:
        return reject(api, e, bare(rid, post.body), rid, headers)
    streaming = False
    try:
        delay = api.latency
        if fault is not None and fault.kind == "latency":
            delay += fault.seconds
        if delay:
            await api.sleep(delay)
        api.generate(turn)
        if fault is not None and fault.kind in ("status", "drop"):
            rec = api.turn_record(turn)
            return await answer_fault(api, request, fault, rec, rid, headers)
        if not turn.stream:
            api.record(api.turn_record(turn))
            return Response(dumps(api.completion_body(turn)), media_type="application/json",
                            headers=headers)  # fmt: skip
        events = stream_events(api, turn)
        cut: int | None = None
        if fault is not None and fault.kind == "cut_stream":
            cut = fault.after_chunks
            api.record(api.turn_record(turn, fault="cut_stream", outcome="fault", cut=True))
        elif fault is not None and fault.kind == "stream_error":
            events = [*events[: fault.after_chunks], _stream_error_event(fault, rid)]
            api.record(api.turn_record(turn, fault="stream_error", outcome="fault", cut=True))
        else:
            api.record(api.turn_record(turn))
        streaming = True

        def release() -> None:
            api.release(turn)

        return FinallyStream(sse_events(api, request.scope, events, cut, release), headers, release)
    except ApiError as e:
        rec = api.turn_record(turn, status=e.status, error=e.code, outcome="error")
        api.record(rec)
        return error_response(e, rid, headers)
    except BaseException:
        if turn.usage is None:
            api.record(api.turn_record(turn, status=None, outcome="cancelled"))
        raise
    finally:
        if not streaming:
            api.release(turn)


async def context_chat(api: ContextAPI, request: Request) -> Response:
    return await completion(api, request, PATH_CONTEXT_CHAT)


async def chat(api: ContextAPI, request: Request) -> Response:
    return await completion(api, request, PATH_CHAT)
