"""Response parsing (no I/O): a 2xx body into a typed model, or the right typed error
for an answer that is not the Ark protocol (HTML, malformed JSON, a 200 carrying
``{"error": ...}``, a stream that is not an event stream)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ._errors_map import error_from_payload, error_from_response, excerpt, url_advice
from ._exceptions import ArkAPIError, ArkError, ArkProtocolError
from ._models import _Sized
from ._requests import Call

__all__ = ["bad_success", "error_for", "is_event_stream", "parse_model", "stream_open_error"]

_M = TypeVar("_M", bound=BaseModel)


def error_for(response: httpx.Response, call: Call) -> ArkError:
    """The typed error for a non-2xx answer whose body has been read."""
    return error_from_response(response, context_call=call.context_call, chained=call.chained)


def parse_model(
    response: httpx.Response, model: type[_M], call: Call, required: str | None = None
) -> _M:
    """Validate a 2xx answer as ``model``; a 200 carrying ``{"error": ...}`` raises the
    mapped error; ``required``: a field that must be present (else: not this object)."""
    try:
        obj = model.model_validate_json(response.content)
    except ValidationError:
        raise bad_success(response, call) from None
    extra = obj.__pydantic_extra__
    if extra and extra.get("error"):
        raise _in_band(extra["error"], response, call)
    if required is not None and required not in obj.model_fields_set:
        raise bad_success(response, call)  # some other JSON: not this object
    if isinstance(obj, _Sized):
        obj._request_bytes = len(call.content) if call.content is not None else 0
    return obj


def _in_band(error: Any, response: httpx.Response, call: Call) -> ArkAPIError:
    """The error for a 2xx answer that carries ``{"error": ...}``."""
    return error_from_payload(
        error, status=0, context_call=call.context_call, response=response, chained=call.chained
    )


def bad_success(response: httpx.Response, call: Call) -> ArkError:
    """The error for a 2xx answer that is not the expected JSON object."""
    content = response.content
    ctype = response.headers.get("content-type", "") or "no content type"
    payload: Any
    try:
        payload = json.loads(content)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        return _in_band(payload["error"], response, call)
    if "json" not in ctype:
        what = f"a {ctype} answer, not JSON"
    elif payload is None:
        what = "malformed JSON"
    else:
        what = "JSON of an unexpected shape"
    text = excerpt(content) if content else "(empty body)"
    return ArkProtocolError(
        f"HTTP {response.status_code}: {what}: {text}. {url_advice(response)}",
        response=response,
    )


def stream_open_error(response: httpx.Response, call: Call) -> ArkError:
    """Error for a stream whose (read) answer is not an event stream."""
    if response.status_code >= 300:
        return error_for(response, call)
    err = bad_success(response, call)
    if isinstance(err, ArkAPIError):
        return err
    ctype = response.headers.get("content-type", "") or "no content type"
    return ArkProtocolError(
        f"Expected an event stream (text/event-stream) but got {ctype}: "
        f"{excerpt(response.content) or '(empty body)'}. {url_advice(response)}",
        response=response,
    )


def is_event_stream(response: httpx.Response) -> bool:
    """A 2xx event stream (or a 2xx without a content type: read it as one)."""
    if response.status_code >= 300:
        return False
    ctype = response.headers.get("content-type")
    return ctype is None or "text/event-stream" in ctype
