"""The router's uses of the library's one policy (:mod:`ark_context.policy`), one call
site each: which call parameters are refused, whether an error allows a fresh-context
retry, and how long to wait before it.

>>> check_params({"temperature": 0.3})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import ArkError, ArkInputError
from ..policy import (
    MAX_FRESH_CONTEXT_RETRIES,
    backoff_delay,
    check_fresh_context_retries,
    check_request_fields,
    is_retryable,
)

__all__ = [
    "MAX_FRESH_CONTEXT_RETRIES",
    "backoff",
    "check_fresh_context_retries",
    "check_params",
    "retryable",
]

_RESERVED = frozenset({"model", "messages", "context_id", "stream", "stream_options"})


def check_params(params: Mapping[str, Any]) -> None:
    """Refuse parameters the router sets itself or the Context API does not support."""
    for k in params:
        if k in _RESERVED:
            raise ArkInputError(f"{k!r} is set by the router; do not pass it as a parameter.")
    check_request_fields(params)


def retryable(exc: ArkError) -> bool:
    """Whether a failed session send may be retried on a fresh context (the failed
    context is dropped first, so a retry never appends twice to one context)."""
    return is_retryable(exc, safety="idempotent")


def backoff(exc: ArkError, attempt: int) -> float:
    """Seconds to wait before fresh-context attempt ``attempt`` (2 for the first retry)."""
    return backoff_delay(attempt - 1, getattr(exc, "retry_after", None))
