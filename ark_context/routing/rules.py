"""The router's uses of the request and retry rules, one call site each.

Three small functions, so the rules can move to one policy module for the whole
library without touching a flow: which call parameters are refused, whether an error
allows a fresh-context retry, and how long to wait before it. The fresh-context retry
itself is the ``fresh_context_retries`` setting (:func:`check_fresh_context_retries`).

>>> check_fresh_context_retries(1)
1
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from .._exceptions import ArkAPIError, ArkConfigError, ArkConnectionError, ArkError, ArkInputError

__all__ = [
    "MAX_FRESH_CONTEXT_RETRIES",
    "backoff",
    "check_fresh_context_retries",
    "check_params",
    "retryable",
]

_RESERVED = frozenset({"model", "messages", "context_id", "stream", "stream_options"})
_UNSUPPORTED = frozenset(
    {"tools", "tool_choice", "functions", "function_call", "response_format", "thinking"}
)
MAX_FRESH_CONTEXT_RETRIES = 3


def check_params(params: Mapping[str, Any]) -> None:
    """Refuse parameters the router sets itself or the Context API does not support."""
    for k in params:
        if k in _RESERVED:
            raise ArkInputError(f"{k!r} is set by the router; do not pass it as a parameter.")
        if k in _UNSUPPORTED:
            raise ArkInputError(f"{k!r} is not supported by the Ark Context API; remove it.")


def retryable(exc: ArkError) -> bool:
    """Whether a failed session send may be retried on a fresh context (the failed
    context is dropped first, so a retry never appends twice to one context)."""
    return isinstance(exc, ArkConnectionError) or (isinstance(exc, ArkAPIError) and exc.retryable)


def backoff(exc: ArkError, attempt: int) -> float:
    """Seconds to wait before fresh-context attempt ``attempt`` (2 for the first retry):
    the server's ``Retry-After`` (capped at 60 s), else jittered exponential."""
    after = getattr(exc, "retry_after", None)
    if after is not None:
        return float(min(after, 60.0))
    return float(min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


def check_fresh_context_retries(value: Any) -> int:
    """Validate the ``fresh_context_retries`` setting: after a session send fails in a way
    that may be retried, how many times the router starts over on a fresh context."""
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
