"""Admin endpoints under ``/_emulator`` (JSON, no auth): inspection, clock, faults, reset."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._common import dumps
from ._core import EmulatorCore
from ._errors import EmulatorError
from ._faults import Fault
from ._http import JSON, json_response


def _error(e: Exception, status: int = 400, code: str = "EmulatorError") -> Response:
    body = {"error": {"code": code, "message": str(e), "param": "", "type": ""}}
    return Response(dumps(body), status_code=status, media_type=JSON)


async def _body(request: Request) -> dict[str, Any]:
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


async def contexts(core: EmulatorCore, request: Request) -> Response:
    if request.method == "DELETE":
        return json_response({"forgotten": core.forget_contexts()})
    return json_response({"contexts": core.contexts()})


async def context(core: EmulatorCore, request: Request) -> Response:
    snap = core.context(request.path_params["context_id"])
    if snap is None:
        return _error(EmulatorError("no such live context"), 404, "NotFound.Context")
    return json_response(snap)


async def forget(core: EmulatorCore, request: Request) -> Response:
    return json_response({"forgotten": core.forget_contexts()})


async def records(core: EmulatorCore, request: Request) -> Response:
    if request.method == "DELETE":
        core.clear_records()
        return json_response({"cleared": True})
    try:
        return json_response({"records": core.records(request.query_params.get("path"))})
    except EmulatorError as e:
        return _error(e)


async def clock(core: EmulatorCore, request: Request) -> Response:
    if request.method == "GET":
        return json_response({"now": core.now()})
    try:
        data = await _body(request)
        return json_response({"now": core.advance_clock(data.get("seconds", 0))})
    except EmulatorError as e:
        return _error(e)


async def faults(core: EmulatorCore, request: Request) -> Response:
    if request.method == "GET":
        return json_response({"faults": core.faults()})
    if request.method == "DELETE":
        core.clear_faults()
        return json_response({"cleared": True})
    try:
        fault = core.add_fault(Fault.from_dict(await _body(request)))
    except (EmulatorError, TypeError) as e:
        return _error(e)
    return json_response({"fault": fault.to_dict()})


async def reset(core: EmulatorCore, request: Request) -> Response:
    core.reset()
    return json_response({"reset": True})


async def health(core: EmulatorCore, request: Request) -> Response:
    return json_response(
        {"ok": True, "contexts": len(core.contexts()), "responses": len(core.responses())}
    )


async def responses(core: EmulatorCore, request: Request) -> Response:
    if request.method == "DELETE":
        return json_response({"forgotten": core.forget_responses()})
    return json_response({"responses": core.responses()})


async def response(core: EmulatorCore, request: Request) -> Response:
    snap = core.response(request.path_params["response_id"])
    if snap is None:
        return _error(EmulatorError("no such stored response"), 404, "NotFound.Response")
    return json_response(snap)


async def storage(core: EmulatorCore, request: Request) -> Response:
    return json_response(core.storage())


def admin_routes(core: EmulatorCore) -> list[Route]:
    """The ``/_emulator`` routes bound to ``core``."""
    table: list[tuple[str, Any, list[str]]] = [
        ("/_emulator/health", health, ["GET"]),
        ("/_emulator/contexts", contexts, ["GET", "DELETE"]),
        ("/_emulator/contexts/forget", forget, ["POST"]),
        ("/_emulator/contexts/{context_id}", context, ["GET"]),
        ("/_emulator/responses", responses, ["GET", "DELETE"]),
        ("/_emulator/responses/{response_id}", response, ["GET"]),
        ("/_emulator/storage", storage, ["GET"]),
        ("/_emulator/records", records, ["GET", "DELETE"]),
        ("/_emulator/clock", clock, ["GET"]),
        ("/_emulator/clock/advance", clock, ["POST"]),
        ("/_emulator/faults", faults, ["GET", "POST", "DELETE"]),
        ("/_emulator/reset", reset, ["POST"]),
    ]
    return [Route(path, bind(core, fn), methods=methods) for path, fn, methods in table]


def bind(core: Any, fn: Any) -> Any:
    """``fn(core, request)`` as a Starlette endpoint ``endpoint(request)``."""

    async def endpoint(request: Request) -> Response:
        response: Response = await fn(core, request)
        return response

    endpoint.__name__ = fn.__name__
    return endpoint
