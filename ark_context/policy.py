"""One policy for the whole core: which request fields the Context API refuses, which
errors may be retried, and how long to wait before a retry.

Everything here is a pure function (no I/O); the client, the router and the settings
all ask this module instead of keeping their own lists.

* :data:`UNSUPPORTED_FIELDS` / :func:`check_request_fields`: request fields the Ark
  Context API does not support; one exception type, :class:`ArkUnsupportedFieldError`
  (an :class:`ArkUnsupportedError`, an :class:`ArkInputError` and an
  :class:`ArkConfigError`, so a setting and a call argument fail the same way).
* :func:`is_retryable`: the retry decision for a call of a given :data:`Safety`.
* :func:`backoff_delay`: full-jitter exponential backoff that honours ``Retry-After``
  (seconds or an HTTP date); :func:`parse_retry_after` reads the headers.
* :func:`check_fresh_context_retries`: the router's ``fresh_context_retries`` setting —
  after a session send fails in a way :func:`is_retryable` allows, how many times the
  router starts over on a fresh context (the failed one is dropped first, so a retry
  never appends twice to one context). See docs/architecture.md.

>>> from ark_context._exceptions import ArkConnectionError
>>> is_retryable(ArkConnectionError("refused", sent=False), safety="unsent")
True
>>> check_request_fields({"temperature": 0.2})
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, Literal

from ._exceptions import (
    ArkAPIError,
    ArkConfigError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkRateLimitError,
    ArkUnsupportedFieldError,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "MAX_FRESH_CONTEXT_RETRIES",
    "RETRY_AFTER_CAP",
    "UNSUPPORTED_FIELDS",
    "ArkUnsupportedFieldError",
    "Safety",
    "backoff_delay",
    "check_fresh_context_retries",
    "check_request_fields",
    "drop_empty_tools",
    "is_retryable",
    "parse_retry_after",
]

UNSUPPORTED_FIELDS: tuple[str, ...] = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "thinking",
)
"""Request fields the Ark Context API does not support (tools, structured output,
thinking). The Responses API supports them; it has its own checks."""

BACKOFF_BASE = 0.5
"""First backoff ceiling in seconds; doubles every attempt (full jitter below it)."""

BACKOFF_CAP = 8.0
"""Largest backoff ceiling in seconds."""

RETRY_AFTER_CAP = 60.0
"""A server's ``Retry-After`` is honoured up to this many seconds."""

Safety = Literal["idempotent", "refused", "unsent"]
"""How safe a call is to resend:

* ``"idempotent"``: resending cannot change the outcome (``/context/create``, plain
  chat, GET, DELETE, common-prefix chat): retry timeouts, dropped connections, 429, 5xx
  and 403 ``InvalidState``.
* ``"refused"``: no idempotency key, but a request the server provably refused may be
  resent (``POST /responses``): retry only what never left (connect failure), 429 and
  403 ``InvalidState``. After a read timeout, a dropped connection or a 5xx a response
  may exist and be billed: never retried.
* ``"unsent"``: the server appends what it sees (session context chat): retry only what
  provably never left this process."""


def check_request_fields(params: Mapping[str, Any], where: str = "") -> None:
    """Raise :class:`ArkUnsupportedFieldError` naming the first field in ``params`` that
    the Ark Context API does not support (a field set to ``None`` counts as unset)."""
    for name in UNSUPPORTED_FIELDS:
        if params.get(name) is not None:
            prefix = f"{where}: " if where else ""
            raise ArkUnsupportedFieldError(
                f"{prefix}{name!r} is not supported by the Ark Context API; remove it "
                "(tools, structured output and thinking need a Responses API model)."
            )


def is_retryable(exc: BaseException, *, safety: Safety = "idempotent") -> bool:
    """Whether ``exc`` may be retried on a call of this :data:`Safety`."""
    if isinstance(exc, ArkConnectionError):
        return not exc.sent or safety == "idempotent"
    if isinstance(exc, ArkAPIError):
        if safety == "idempotent":
            return exc.retryable
        if safety == "refused":
            return isinstance(exc, (ArkRateLimitError, ArkContextBusyError))
    return False


def backoff_delay(attempt: int, retry_after: float | str | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    ``retry_after`` (seconds, or a raw ``Retry-After`` header value: seconds or an HTTP
    date) wins when the server sent one, capped at :data:`RETRY_AFTER_CAP`; otherwise
    full jitter: uniform in ``[0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)]``.
    """
    if isinstance(retry_after, str):
        retry_after = parse_retry_after({"retry-after": retry_after})
    if retry_after is not None:
        return max(0.0, min(float(retry_after), RETRY_AFTER_CAP))
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2.0 ** min(max(attempt, 0), 30)))
    return random.uniform(0.0, ceiling)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date) or ``retry-after-ms``.

    Returns ``None`` when absent or unreadable; never negative."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value:  # not NaN
            return value
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None
    import email.utils  # lazy: only HTTP-date Retry-After needs it

    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


MAX_FRESH_CONTEXT_RETRIES = 3


def check_fresh_context_retries(value: Any) -> int:
    """Validate the ``fresh_context_retries`` setting (an int in [0, 3]; 0 disables it).

    >>> check_fresh_context_retries(1)
    1
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArkConfigError(
            f"fresh_context_retries must be an int in [0, {MAX_FRESH_CONTEXT_RETRIES}]; "
            f"got {value!r}."
        )
    if not 0 <= value <= MAX_FRESH_CONTEXT_RETRIES:
        raise ArkConfigError(
            f"fresh_context_retries={value} is out of range; set it to an int in "
            f"[0, {MAX_FRESH_CONTEXT_RETRIES}] (0 disables the retry)."
        )
    return value


def drop_empty_tools(params: dict[str, Any]) -> None:
    """Drop an empty ``tools`` list from call ``params`` (in place): it offers no tool (a
    dynamic tool list that came out empty), so the call goes as one without tools, which
    the Context API can cache, instead of going plain for its tools. A ``tool_choice``
    that needs no tool (``auto``, ``none``) and ``parallel_tool_calls`` go with it; any
    other choice stays, for the tool-field check to refuse.

    >>> p = {"tools": [], "tool_choice": "auto", "temperature": 0.1}
    >>> drop_empty_tools(p); p
    {'temperature': 0.1}
    """
    if "tools" not in params or params["tools"]:
        return
    del params["tools"]
    if params.get("tool_choice") in ("auto", "none"):
        del params["tool_choice"]
    params.pop("parallel_tool_calls", None)
