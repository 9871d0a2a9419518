"""The router's uses of the library's one policy (:mod:`ark_context.policy`), one call
site each: which call parameters are refused, which send a Context API call plain,
whether an error allows a fresh-context retry, and how long to wait before it.

>>> check_params({"temperature": 0.3})
>>> plain_only([{"role": "user", "content": "hi"}], {"tools": [{"type": "function"}]})
'tools'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._exceptions import ArkError, ArkInputError
from ..policy import (
    MAX_FRESH_CONTEXT_RETRIES,
    backoff_delay,
    check_fresh_context_retries,
    check_request_fields,
    is_retryable,
)

if TYPE_CHECKING:
    from .._route_types import MissReason

__all__ = [
    "MAX_FRESH_CONTEXT_RETRIES",
    "backoff",
    "check_fresh_context_retries",
    "check_params",
    "check_reserved",
    "check_tool_fields",
    "plain_only",
    "retryable",
]

_RESERVED = frozenset({"model", "messages", "context_id", "stream", "stream_options"})


def check_params(params: Mapping[str, Any]) -> None:
    """Refuse parameters the router sets itself or the Context API does not support."""
    check_reserved(params)
    check_request_fields(params)


_TOOL_FIELDS = ("tools", "tool_choice", "functions", "function_call", "parallel_tool_calls")
_PLAIN_FIELDS = ("response_format", "thinking", "reasoning_effort")


def plain_only(
    messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> MissReason | None:
    """Why a Context API call must go plain (``/chat/completions``, which takes tools,
    ``response_format`` and ``thinking``; context chat takes none of them): ``"tools"``
    for tools or tool messages in the history, ``"params"`` for the other fields; None
    when a context may serve it."""
    if any(params.get(k) is not None for k in _TOOL_FIELDS):
        return "tools"
    for m in messages:
        if m.get("role") == "tool" or "tool_calls" in m:
            return "tools"
    if any(params.get(k) is not None for k in _PLAIN_FIELDS):
        return "params"
    return None


def check_tool_fields(params: Mapping[str, Any]) -> None:
    """Check ``tools``, ``tool_choice``, ``response_format`` and ``thinking`` before a
    plain call sends them: what no Ark API can take raises
    :class:`~ark_context.conversation.ArkResponsesInputError` naming the field."""
    from .._responses_input import to_request_fields

    names = ("tools", "tool_choice", "response_format", "thinking")
    fields = {k: params[k] for k in names if params.get(k) is not None}
    to_request_fields(fields)


def check_reserved(params: Mapping[str, Any]) -> None:
    """Refuse parameters the router sets itself."""
    for k in params:
        if k in _RESERVED:
            raise ArkInputError(f"{k!r} is set by the router; do not pass it as a parameter.")


def retryable(exc: ArkError) -> bool:
    """Whether a failed session send may be retried on a fresh context (the failed
    context is dropped first, so a retry never appends twice to one context)."""
    return is_retryable(exc, safety="idempotent")


def backoff(exc: ArkError, attempt: int) -> float:
    """Seconds to wait before fresh-context attempt ``attempt`` (2 for the first retry)."""
    return backoff_delay(attempt - 1, getattr(exc, "retry_after", None))
