"""HTTP handlers of the Responses API: ``POST /responses`` (plain and SSE),
``GET|DELETE /responses/{id}`` and ``GET /responses/{id}/input_items``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._common import PATH_INPUT_ITEMS, PATH_RESPONSE, PATH_RESPONSES, dumps, new_record
from ._errors import ApiError
from ._faults import Fault
from ._http import (
    FinallyStream,
    answer_fault,
    error_response,
    fault_error,
    json_response,
    open_post,
    reject,
    request_ids,
    sse_events,
)
from ._responses import ResponsesAPI, ResponseTurn
from ._tokens import split_pieces


def _bare_record(rid: str, body: dict[str, Any] | None) -> dict[str, Any]:
    body = body or {}
    model, prev = body.get("model"), body.get("previous_response_id")
    return new_record(
        PATH_RESPONSES,
        rid,
        previous_response_id=prev if isinstance(prev, str) else None,
        model=model if isinstance(model, str) else None,
        stream=body.get("stream") is True,
        sent=body.get("input") if isinstance(body.get("input"), (list, str)) else None,
    )


class _Events:
    """Builds SSE messages, numbering them with ``sequence_number``."""

    def __init__(self) -> None:
        self.out: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "sequence_number": len(self.out), **fields}
        self.out.append(b"data: " + dumps(event) + b"\n\n")


def response_events(api: ResponsesAPI, body: dict[str, Any]) -> list[bytes]:
    """The event sequence of a streamed response (without ``[DONE]``); usage only at the end."""
    ev = _Events()
    start = {**body, "status": "in_progress", "output": [], "usage": None,
             "incomplete_details": None}  # fmt: skip
    ev.add("response.created", response=start)
    ev.add("response.in_progress", response=start)
    n = api.chunk_tokens
    for index, item in enumerate(body["output"]):
        loc = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        if kind == "reasoning":
            text = item["summary"][0]["text"]
            ev.add("response.output_item.added", output_index=index,
                   item={**item, "status": "in_progress", "summary": []})  # fmt: skip
            ev.add("response.reasoning_summary_part.added", **loc, summary_index=0,
                   part={"type": "summary_text", "text": ""})  # fmt: skip
            for piece in split_pieces(text, n):
                ev.add("response.reasoning_summary_text.delta", **loc, summary_index=0,
                       delta=piece)  # fmt: skip
            ev.add("response.reasoning_summary_text.done", **loc, summary_index=0, text=text)
            ev.add("response.reasoning_summary_part.done", **loc, summary_index=0,
                   part={"type": "summary_text", "text": text})  # fmt: skip
        elif kind == "message":
            text = item["content"][0]["text"]
            ev.add("response.output_item.added", output_index=index,
                   item={**item, "status": "in_progress", "content": []})  # fmt: skip
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            ev.add("response.content_part.added", **loc, content_index=0, part=part)
            for piece in split_pieces(text, n):
                ev.add("response.output_text.delta", **loc, content_index=0, delta=piece)
            ev.add("response.output_text.done", **loc, content_index=0, text=text)
            ev.add("response.content_part.done", **loc, content_index=0,
                   part={**part, "text": text})  # fmt: skip
        else:
            args = item["arguments"]
            ev.add("response.output_item.added", output_index=index,
                   item={**item, "status": "in_progress", "arguments": ""})  # fmt: skip
            for piece in split_pieces(args, n):
                ev.add("response.function_call_arguments.delta", **loc, delta=piece)
            ev.add("response.function_call_arguments.done", **loc, arguments=args)
        ev.add("response.output_item.done", output_index=index, item=item)
    terminal = "response.completed" if body["status"] == "completed" else "response.incomplete"
    ev.add(terminal, response=body)
    return ev.out


def _error_event(fault: Fault, rid: str, sequence_number: int) -> bytes:
    e = fault_error(fault)
    event = {"type": "error", "sequence_number": sequence_number, "code": e.code,
             "message": f"{e.message} Request id: {rid}", "param": None}  # fmt: skip
    return b"data: " + dumps(event) + b"\n\n"


async def create(api: ResponsesAPI, request: Request) -> Response:
    """``POST /responses``."""
    post = await open_post(api, request, PATH_RESPONSES, _bare_record)
    if isinstance(post, Response):
        return post
    rid, headers, fault = post.rid, post.headers, post.fault
    try:
        turn = api.prepare_response(post.body, rid)
    except ApiError as e:
        return reject(api, e, _bare_record(rid, post.body), rid, headers)
    try:
        delay = api.latency + (fault.seconds if fault and fault.kind == "latency" else 0.0)
        if delay:
            await api.sleep(delay)
        out = api.generate_response(turn)
        if fault is not None and fault.kind in ("status", "drop"):
            return await answer_fault(api, request, fault, api.response_record(turn), rid,
                                      headers)  # fmt: skip
        if not turn.stream:
            api.record(api.response_record(turn))
            return json_response(out, headers)
        return _stream(api, request, turn, out, fault, rid, headers)
    except ApiError as e:
        api.record(api.response_record(turn, status=e.status, error=e.code, outcome="error"))
        return error_response(e, rid, headers)
    except BaseException:
        if not turn.stored.body:
            api.record(api.response_record(turn, status=None, outcome="cancelled"))
        raise


def _stream(
    api: ResponsesAPI,
    request: Request,
    turn: ResponseTurn,
    out: dict[str, Any],
    fault: Fault | None,
    rid: str,
    headers: dict[str, str],
) -> Response:
    events = response_events(api, out)
    cut: int | None = None
    if fault is not None and fault.kind == "cut_stream":
        cut = fault.after_chunks
        api.record(api.response_record(turn, fault="cut_stream", outcome="fault", cut=True))
    elif fault is not None and fault.kind == "stream_error":
        k = min(fault.after_chunks, len(events) - 1)
        events = [*events[:k], _error_event(fault, rid, k)]
        api.fail_response(turn)
        api.record(api.response_record(turn, fault="stream_error", outcome="fault", cut=True))
    else:
        api.record(api.response_record(turn))
    api.set_in_progress(turn, True)

    def end() -> None:
        api.set_in_progress(turn, False)

    return FinallyStream(sse_events(api, request.scope, events, cut, end), headers, end)


async def _simple(
    api: ResponsesAPI,
    request: Request,
    path: str,
    action: Callable[[str], dict[str, Any]],
) -> Response:
    """GET/DELETE handlers: auth, faults, one action on the response id, one record."""
    rid, headers = request_ids(api, request)
    response_id = request.path_params["response_id"]
    rec = new_record(path, rid, response_id=response_id)
    try:
        api.check_auth(request.headers.get("authorization"))
        fault = api.take_fault(path, False)
        if fault is not None and fault.kind == "latency":
            await api.sleep(fault.seconds)
        elif fault is not None and not fault.applies:
            return await answer_fault(api, request, fault, rec, rid, headers)
        out = action(response_id)
    except ApiError as e:
        return reject(api, e, rec, rid, headers)
    rec.update(status=200, applied=request.method == "DELETE")
    if fault is not None and fault.kind in ("status", "drop"):
        return await answer_fault(api, request, fault, rec, rid, headers)
    api.record(rec)
    return json_response(out, headers)


async def retrieve_or_delete(api: ResponsesAPI, request: Request) -> Response:
    """``GET /responses/{id}`` and ``DELETE /responses/{id}``."""
    action = api.delete_response if request.method == "DELETE" else api.retrieve_response
    return await _simple(api, request, PATH_RESPONSE, action)


async def input_items(api: ResponsesAPI, request: Request) -> Response:
    """``GET /responses/{id}/input_items``."""
    q = request.query_params
    query: dict[str, Any] = {name: q.get(name) for name in ("after", "before", "limit", "order")}
    query["include"] = [*q.getlist("include[]"), *q.getlist("include")]
    return await _simple(
        api, request, PATH_INPUT_ITEMS, lambda response_id: api.input_items(response_id, query)
    )
