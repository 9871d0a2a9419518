"""A reply, normalised: the same :class:`ResponsesResult` from a Responses API Response
object (:func:`parse_response`) and from a chat completion (:func:`parse_chat_completion`,
the Context API models' plain path), so adapters have one code path for both APIs.

Reasoning is read and surfaced, never resent: the wire form has no place for it.
Public through :mod:`ark_context.conversation`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .tool_messages import tool_call_wire

__all__ = [
    "REASONING_SEPARATOR",
    "ResponsesResult",
    "ResponsesUsage",
    "chat_status",
    "chat_usage",
    "order_calls",
    "parse_chat_completion",
    "parse_response",
]

REASONING_SEPARATOR = "\n\n"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class ResponsesUsage:
    """Token counts of one response. ``input_tokens`` includes ``cached_tokens``;
    ``output_tokens`` includes ``reasoning_tokens``.

    >>> u = ResponsesUsage.from_dict({"input_tokens": 116, "input_tokens_details": {"cached_tokens": 104},
    ...                                "output_tokens": 232, "output_tokens_details": {"reasoning_tokens": 211}})
    >>> u.uncached_input_tokens, u.total_tokens
    (12, 348)
    """

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def from_dict(cls, usage: Mapping[str, Any]) -> ResponsesUsage:
        ind = usage.get("input_tokens_details")
        outd = usage.get("output_tokens_details")
        inp = _int(usage.get("input_tokens"))
        out = _int(usage.get("output_tokens"))
        return cls(
            input_tokens=inp,
            cached_tokens=_int(ind.get("cached_tokens")) if isinstance(ind, Mapping) else 0,
            output_tokens=out,
            reasoning_tokens=_int(outd.get("reasoning_tokens")) if isinstance(outd, Mapping) else 0,
            total_tokens=_int(usage.get("total_tokens")) or inp + out,
        )

    @property
    def uncached_input_tokens(self) -> int:
        return max(self.input_tokens - self.cached_tokens, 0)


@dataclass(frozen=True, slots=True)
class ResponsesResult:
    """One Responses API reply, normalised.

    ``tool_calls`` are in wire form with canonical arguments, JSON-object calls first
    (frameworks keep valid and invalid calls in two lists, valid first), so
    :meth:`wire_message` is exactly what an adapter rebuilds from the framework's reply.

    >>> r = parse_response({"id": "resp_1", "status": "completed", "output": [
    ...     {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]}]})
    >>> r.wire_message(), r.finish_reason
    ({'role': 'assistant', 'content': 'Hi'}, 'stop')
    """

    id: str | None
    model: str | None
    status: str
    text: str
    tool_calls: tuple[dict[str, Any], ...] = ()
    reasoning: str = ""
    usage: ResponsesUsage | None = None
    incomplete_reason: str | None = None
    error: Mapping[str, Any] | None = None
    expire_at: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def wire_message(self) -> dict[str, Any]:
        """The assistant wire message the next call's history holds for this reply: its
        text and tool calls, never its reasoning."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            msg["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": dict(c["function"])}
                for c in self.tool_calls
            ]
        return msg

    @property
    def finish_reason(self) -> str:
        """Chat-completions vocabulary: ``tool_calls``, ``stop``, ``length``,
        ``content_filter`` or ``error``."""
        if self.status == "failed":
            return "error"
        if self.status == "incomplete":
            reason = self.incomplete_reason or ""
            return "content_filter" if "filter" in reason else "length"
        return "tool_calls" if self.tool_calls else "stop"


def _is_valid_call(call: Mapping[str, Any]) -> bool:
    """Whether the arguments are a JSON object (what frameworks call a valid tool call)."""
    try:
        return isinstance(json.loads(call["function"]["arguments"]), dict)
    except ValueError:
        return False


def order_calls(calls: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(
        [c for c in calls if _is_valid_call(c)] + [c for c in calls if not _is_valid_call(c)]
    )


def parse_response(response: Mapping[str, Any]) -> ResponsesResult:
    """A Response object (dict) -> :class:`ResponsesResult`. Lenient: absent fields,
    unknown output item types and unknown content parts are skipped."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for item in response.get("output") or ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
                continue
            for part in content or ():
                if isinstance(part, Mapping) and part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
        elif kind == "function_call":
            calls.append(
                tool_call_wire(
                    str(item.get("call_id") or item.get("id") or ""),
                    str(item.get("name") or ""),
                    str(item.get("arguments") or ""),
                )
            )
        elif kind == "reasoning":
            for part in item.get("summary") or ():
                if isinstance(part, Mapping) and part.get("text"):
                    reasoning.append(str(part["text"]))
    usage = response.get("usage")
    details = response.get("incomplete_details")
    error = response.get("error")
    expire_at = response.get("expire_at")
    return ResponsesResult(
        id=response.get("id") or None,
        model=response.get("model") or None,
        status=str(response.get("status") or "completed"),
        text="".join(texts),
        tool_calls=order_calls(calls),
        reasoning=REASONING_SEPARATOR.join(reasoning),
        usage=ResponsesUsage.from_dict(usage) if isinstance(usage, Mapping) else None,
        incomplete_reason=str(details.get("reason")) if isinstance(details, Mapping) else None,
        error=error if isinstance(error, Mapping) else None,
        expire_at=int(expire_at) if isinstance(expire_at, (int, float)) else None,
        raw=response,
    )


# -- chat completions with tools (the Context API models' plain path) -> the same result ------
# A call with tools on a Context-API model goes to plain /chat/completions; these give
# its reply the same normalised form, so the adapters have one code path for both APIs.


def chat_usage(usage: Any) -> ResponsesUsage | None:
    if not isinstance(usage, Mapping):
        return None
    ptd = usage.get("prompt_tokens_details")
    ctd = usage.get("completion_tokens_details")
    return ResponsesUsage.from_dict(
        {
            "input_tokens": usage.get("prompt_tokens"),
            "input_tokens_details": {"cached_tokens": ptd.get("cached_tokens")}
            if isinstance(ptd, Mapping)
            else None,
            "output_tokens": usage.get("completion_tokens"),
            "output_tokens_details": (
                {"reasoning_tokens": ctd.get("reasoning_tokens")}
                if isinstance(ctd, Mapping)
                else None
            ),
            "total_tokens": usage.get("total_tokens"),
        }
    )


def chat_status(finish_reason: Any) -> tuple[str, str | None]:
    if finish_reason in ("length", "content_filter"):
        return "incomplete", str(finish_reason)
    return "completed", None


def parse_chat_completion(completion: Mapping[str, Any]) -> ResponsesResult:
    """A chat completion (dict; ``choices[0].message`` with ``content``, ``tool_calls`` and
    Ark's ``reasoning_content``) -> :class:`ResponsesResult`. ``finish_reason`` ``length``
    or ``content_filter`` gives status ``incomplete``.

    >>> r = parse_chat_completion({"id": "c1", "choices": [{"finish_reason": "tool_calls", "message": {
    ...     "role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
    ...     "function": {"name": "f", "arguments": '{"a": 1}'}}]}}]})
    >>> r.wire_message()["tool_calls"][0]["function"]["arguments"], r.finish_reason
    ('{"a":1}', 'tool_calls')
    """
    choices = completion.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], Mapping) else {}
    message = choice.get("message") if isinstance(choice.get("message"), Mapping) else {}
    assert isinstance(message, Mapping)
    calls = []
    for c in message.get("tool_calls") or ():
        fn = c.get("function") or {}
        calls.append(
            tool_call_wire(
                str(c.get("id") or ""), str(fn.get("name") or ""), str(fn.get("arguments") or "")
            )
        )
    status, reason = chat_status(choice.get("finish_reason"))
    return ResponsesResult(
        id=completion.get("id") or None,
        model=completion.get("model") or None,
        status=status,
        text=str(message.get("content") or ""),
        tool_calls=order_calls(calls),
        reasoning=str(message.get("reasoning_content") or ""),
        usage=chat_usage(completion.get("usage")),
        incomplete_reason=reason,
        raw=completion,
    )
