"""Turn HTTP answers, in-stream error events and httpx exceptions into typed errors.

>>> err = error_from_payload({"code": "RateLimitExceeded.EndpointRPMExceeded", "message": "slow down"})
>>> type(err).__name__, err.status_code
('ArkRateLimitError', 429)
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from ._exceptions import (
    ArkAPIError,
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkContextOverflowError,
    ArkError,
    ArkNotFoundError,
    ArkPermissionError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkResponseGoneError,
    ArkServerError,
    ArkTimeoutError,
    is_context_gone_message,
    redact,
)
from ._validation import base_url_advice
from .policy import parse_retry_after

__all__ = [
    "classify",
    "error_from_payload",
    "error_from_response",
    "excerpt",
    "from_transport_error",
]

_REQUEST_ID_RE = re.compile(r"Request id:?\s*([A-Za-z0-9_\-.]+)", re.I)
_OVERFLOW_CODES = ("outofcontext", "contextwindowexceeded")
_RATE_CODES = ("ratelimit", "quotaexceeded", "serveroverloaded", "requestburst", "toomanyrequests")
_SERVER_CODES = ("internalservice", "internalerror", "serviceunavailable", "servertimeout")
_AUTH_CODES = ("authenticationerror", "invalidaccountstatus")
_DENIED_CODES = ("accessdenied", "operationdenied", "accountoverdue", "serviceNotOpen".lower())
_BAD_CODES = ("missingparameter", "invalidparameter", "sensitivecontent")
_GONE_RE = re.compile(r"not\s*found|not\s*exist|expired|deleted", re.I)


def excerpt(content: bytes | str, limit: int = 200) -> str:
    """A short, single-line, redacted excerpt of a body for error messages."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    text = " ".join(text[: limit * 2].split())
    if len(text) > limit:
        text = text[:limit] + "..."
    return redact(text)


def _redacted(value: Any) -> Any:
    """``value`` with every registered secret scrubbed from its strings (error bodies)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _status_from_code(code: str) -> int:
    c = code.lower()
    if any(k in c for k in _OVERFLOW_CODES) or any(k in c for k in _BAD_CODES):
        return 400
    if any(k in c for k in _AUTH_CODES):
        return 401
    if "invalidstate" in c or any(k in c for k in _DENIED_CODES):
        return 403
    if "notfound" in c:
        return 404
    if any(k in c for k in _RATE_CODES):
        return 429
    if any(k in c for k in _SERVER_CODES):
        return 500
    return 0


def classify(
    status: int, code: str | None, message: str, *, context_call: bool, chained: str | None = None
) -> type[ArkAPIError]:
    """The error class for an HTTP status plus Ark error code (order matters).

    ``chained``: the ``previous_response_id`` of a Responses call; a 404, or a 400 that
    names it or says "not found/expired", then means the chain is gone."""
    c = (code or "").lower()
    if chained and (
        status == 404
        or (status == 400 and (chained in message or _GONE_RE.search(message) is not None))
    ):
        return ArkResponseGoneError
    if status == 401:
        return ArkAuthenticationError
    if "invalidstate" in c and status in (403, 0, 200):
        return ArkContextBusyError
    if any(k in c for k in _OVERFLOW_CODES):
        return ArkContextOverflowError
    if context_call and (status == 404 or is_context_gone_message(message)):
        return ArkContextGoneError
    if status == 400:
        return ArkBadRequestError
    if status == 403:
        return ArkPermissionError
    if status == 404:
        return ArkNotFoundError
    if status == 429:
        return ArkRateLimitError
    if status >= 500:
        return ArkServerError
    return ArkAPIError


def _request_id(headers: httpx.Headers | None, message: str) -> str | None:
    if headers is not None:
        rid = headers.get("x-request-id")
        if rid:
            return str(rid)
    m = _REQUEST_ID_RE.search(message)
    return m.group(1) if m else None


def error_from_payload(
    error: Any,
    *,
    status: int = 0,
    context_call: bool = False,
    response: httpx.Response | None = None,
    body: Any = None,
    chained: str | None = None,
) -> ArkAPIError:
    """Build the typed error for an Ark ``error`` object (HTTP body or SSE event).

    ``status`` 0 (or 200, for an event inside a stream) means "infer it from the code"."""
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        param = error.get("param")
        etype = error.get("type")
    else:
        code, message, param, etype = None, error, None, None
    code_s = str(code) if code is not None else None
    msg = str(message) if message is not None else ""
    if status in (0, 200) and code_s:
        status = _status_from_code(code_s) or status
    cls = classify(status, code_s, msg, context_call=context_call, chained=chained)
    headers = response.headers if response is not None else None
    retry_after = parse_retry_after(headers) if headers is not None else None
    return cls(
        msg,
        status_code=status,
        code=code_s,
        param=str(param) if param is not None else None,
        type=str(etype) if etype is not None else None,
        request_id=_request_id(headers, msg),
        retry_after=retry_after,
        response=response,
        body=_redacted(body if body is not None else error),
    )


def error_from_response(
    response: httpx.Response, *, context_call: bool, chained: str | None = None
) -> ArkError:
    """The typed error for a non-2xx response whose body has been read."""
    import json

    status = response.status_code
    content = response.content
    payload: Any = None
    try:
        payload = json.loads(content) if content else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, (dict, str)):
            return error_from_payload(
                err,
                status=status,
                context_call=context_call,
                response=response,
                body=payload,
                chained=chained,
            )
        if "code" in payload or "message" in payload:  # some gateways drop the wrapper
            return error_from_payload(
                payload,
                status=status,
                context_call=context_call,
                response=response,
                body=payload,
                chained=chained,
            )
    ctype = response.headers.get("content-type", "") or "no content type"
    text = excerpt(content) if content else "(empty body)"
    if status == 429 or status >= 500 or status == 401:
        # The status alone says what happened (and whether to retry); keep the excerpt.
        cls = classify(status, None, "", context_call=False)
        return cls(
            f"HTTP {status} with a non-Ark body ({ctype}): {text}",
            status_code=status,
            request_id=_request_id(response.headers, ""),
            retry_after=parse_retry_after(response.headers),
            response=response,
        )
    return ArkProtocolError(
        f"HTTP {status} from {response.request.url.copy_with(query=None)} is not an Ark error "
        f"answer ({ctype}): {text}. {url_advice(response)}",
        response=response,
    )


def url_advice(response: httpx.Response) -> str:
    """What to check about the base URL when ``response`` is not an Ark answer."""
    try:
        return base_url_advice(str(response.request.url))
    except RuntimeError:  # a response built without a request
        return "Check base_url / ARK_BASE_URL."


def from_transport_error(exc: httpx.HTTPError, *, during_stream: bool = False) -> ArkError:
    """Map an httpx exception; ``sent=False`` only when httpx guarantees nothing was sent."""
    detail = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)) and not during_stream:
        return ArkTimeoutError(
            f"Timed out before the request was sent ({type(exc).__name__}: {detail}); "
            "raise timeout or check the network.",
            sent=False,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ArkTimeoutError(
            f"Timed out waiting for the server ({type(exc).__name__}: {detail}); "
            "raise the timeout setting.",
            sent=True,
        )
    if isinstance(exc, httpx.ConnectError) and not during_stream:
        return ArkConnectionError(
            f"Could not connect ({detail}); check base_url / ARK_BASE_URL and the network.",
            sent=False,
        )
    if isinstance(exc, httpx.DecodingError):
        return ArkProtocolError(f"The response body could not be decoded ({detail}).")
    if isinstance(exc, httpx.TransportError):
        where = "while streaming" if during_stream else "after the request may have been sent"
        return ArkConnectionError(
            f"The connection failed {where} ({type(exc).__name__}: {detail})."
        )
    return ArkConnectionError(f"HTTP failure ({type(exc).__name__}: {detail}).")
