"""One exception hierarchy for everything the core raises.

Every error that came from the server carries the HTTP status, Ark's error
``code``/``message``/``param``/``type`` and the server's ``X-Request-Id``.
Messages never contain the API key (see :func:`redact`).
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx loads with the client, not with the error classes
    import httpx

__all__ = [
    "ArkAPIError",
    "ArkAuthenticationError",
    "ArkBadRequestError",
    "ArkCachingRuleError",
    "ArkConfigError",
    "ArkConnectionError",
    "ArkContextBusyError",
    "ArkContextGoneError",
    "ArkContextOverflowError",
    "ArkError",
    "ArkInputError",
    "ArkNotFoundError",
    "ArkPermissionError",
    "ArkProtocolError",
    "ArkRateLimitError",
    "ArkResponseGoneError",
    "ArkResponseIncompleteError",
    "ArkServerError",
    "ArkStreamError",
    "ArkTimeoutError",
    "ArkUnsupportedError",
    "ArkUnsupportedFieldError",
]

_SECRETS: set[str] = set()
_CONTEXT_GONE_RE = re.compile(
    r"context.{0,80}?(not\s*found|not\s*exist|expired|invalid(?!\s*state))", re.I | re.S
)


def register_secret(secret: str | None) -> None:
    """Remember a secret so that :func:`redact` scrubs it from every message."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _scrubbed(response: httpx.Response | None) -> httpx.Response | None:
    """``response``, or a copy whose body has every registered secret redacted when the
    server echoed one (frameworks copy ``error.response.json()`` into traces)."""
    if response is None:
        return response
    with contextlib.suppress(RuntimeError):  # RuntimeError: a response built without a request
        sent = response.request.headers  # the request was sent: hide its key from reporters
        if "authorization" in sent:
            sent["authorization"] = "Bearer ***"
    if not _SECRETS:
        return response
    import httpx  # a response exists, so httpx is loaded already

    try:
        content = response.content
    except httpx.ResponseNotRead:  # a stream: its body is not kept on the error
        return response
    text = content.decode("utf-8", "replace")
    clean = redact(text)
    if clean == text:
        return response
    skip = ("content-length", "content-encoding", "transfer-encoding")
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in skip]
    copy = httpx.Response(response.status_code, headers=headers, content=clean.encode())
    with contextlib.suppress(RuntimeError):  # a response built without a request (tests)
        copy.request = response.request
    return copy


def is_context_gone_message(message: str) -> bool:
    """True when a server message says the context is unknown or expired."""
    return bool(_CONTEXT_GONE_RE.search(message or ""))


class ArkError(Exception):
    """Base class of every error raised by ``ark_context``.

    ``sent``: whether the request may have reached the server (False for errors raised
    before any network call). ``response_id``: the Responses API id the failed call is
    known to have created (from a stream's ``response.created``), so the caller can
    retrieve or delete it; None when unknown."""

    sent: bool = False
    response_id: str | None = None

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)


class ArkConfigError(ArkError, ValueError):
    """A setting is missing or invalid. The message names the setting to change."""


class ArkInputError(ArkError, ValueError):
    """The messages or parameters cannot be sent (raised before any network call)."""


class ArkUnsupportedError(ArkInputError, NotImplementedError):
    """The Ark Context API does not support this (tools, structured output, images)."""


class ArkUnsupportedFieldError(ArkUnsupportedError, ArkConfigError):
    """A request field the Ark Context API does not support (see
    :data:`ark_context.policy.UNSUPPORTED_FIELDS`). Raised alike for a setting and a call
    argument, so it is both an input and a configuration error."""


class ArkCachingRuleError(ArkInputError):
    """A Responses API request breaks one of Ark's caching rules (raised before sending).

    ``rule`` names the rule (e.g. ``"instructions-with-caching"``); the message says
    what to change."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule

    def __reduce__(self) -> Any:
        return (type(self), (self.rule, self.message))


class ArkProtocolError(ArkError):
    """The server answered something that is not the Ark protocol (bad JSON, HTML page)."""

    sent = True

    def __init__(self, message: str, *, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = _scrubbed(response)


class ArkStreamError(ArkProtocolError):
    """A stream ended without ``data: [DONE]`` (or, on ``/responses``, without a terminal
    event) or carried an unreadable event."""


class ArkResponseIncompleteError(ArkStreamError):
    """A streamed response ended ``incomplete`` (e.g. cut by ``max_output_tokens``).

    ``reason`` is the server's ``incomplete_details.reason`` (raw); ``partial`` the final
    response object (a :class:`~ark_context.Response`) with what was generated."""

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        partial: Any = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, response=response)
        self.reason = reason
        self.partial = partial


class ArkConnectionError(ArkError):
    """The connection failed or dropped. ``sent`` tells whether the request may have reached the server."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class ArkTimeoutError(ArkConnectionError):
    """The request timed out (setting: ``timeout``)."""


class ArkAPIError(ArkError):
    """An error answer from the Ark API."""

    sent = True

    #: Whether the client may retry this class of error on an idempotent call.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        response: httpx.Response | None = None,
        body: Any = None,
    ) -> None:
        self.status_code = status_code
        self.code = redact(code) if code else code  # servers echo request values here too
        self.param = redact(param) if param else param
        self.type = redact(type) if type else type
        self.request_id = request_id
        self.retry_after = retry_after
        self.response = _scrubbed(response)
        self.body = body
        head = f"Ark API error {status_code}"
        if code:
            head += f" {code}"
        super().__init__(f"{head}: {message}" if message else head)

    def __reduce__(self) -> Any:  # keep pickling (multiprocessing) working
        args = (type(self), self.message, self.status_code, self.code, self.request_id)
        return (_rebuild, (*args, self.response_id))


def _rebuild(
    cls: type[ArkAPIError],
    message: str,
    status: int,
    code: str | None,
    rid: str | None,
    response_id: str | None = None,
) -> ArkAPIError:
    err = cls.__new__(cls)
    ArkError.__init__(err, message)
    err.status_code, err.code, err.request_id = status, code, rid
    err.response_id = response_id
    err.param = err.type = None
    err.retry_after = None
    err.response = err.body = None
    return err


class ArkBadRequestError(ArkAPIError):
    """400: the request is invalid. Not retried."""


class ArkContextOverflowError(ArkBadRequestError):
    """400 ``OutofContextError``: the prompt exceeds the model's window.

    Shorten the history, or set ``truncation_strategy`` (session mode)."""


class ArkAuthenticationError(ArkAPIError):
    """401: the API key is wrong (setting: ``api_key`` / ``ARK_API_KEY``)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        hint = "check api_key / the ARK_API_KEY environment variable"
        super().__init__(f"{message} ({hint})" if hint not in message else message, **kwargs)


class ArkPermissionError(ArkAPIError):
    """403: the account may not do this."""


class ArkContextBusyError(ArkPermissionError):
    """403 ``OperationDenied.InvalidState``: another request is using this context."""

    retryable = True


class ArkNotFoundError(ArkAPIError):
    """404 outside a context call: the endpoint or model id is unknown (setting: ``model``)."""


class ArkContextGoneError(ArkAPIError):
    """The context is unknown or expired (404 on a context call). Nothing was appended."""


class ArkResponseGoneError(ArkContextGoneError):
    """The ``previous_response_id`` is unknown, expired or deleted (404, or a 400 naming
    it): rebuild the chain from the transcript. Nothing was created."""


class ArkRateLimitError(ArkAPIError):
    """429: rate limited. Retried with backoff, honouring ``Retry-After``."""

    retryable = True


class ArkServerError(ArkAPIError):
    """5xx: the server failed. Retried with backoff on idempotent calls."""

    retryable = True
