"""Wire messages for tool use: assistant tool calls and tool results, in the chat wire
form the digest chain covers (see :mod:`ark_context._messages`; docs/architecture.md).

Adapters build these with :func:`assistant_wire_message` and :func:`tool_wire_message`,
and check a conversation that carries them with :func:`validate_conversation_with_tools`.

>>> tool_call_wire("call_1", "weather", {"city": "Paris"})["function"]["arguments"]
'{"city":"Paris"}'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._exceptions import ArkInputError
from ._messages import _flatten, wire_message

__all__ = [
    "ToolWireMessage",
    "assistant_wire_message",
    "canonical_arguments",
    "dump_arguments",
    "tool_call_wire",
    "tool_wire_message",
    "validate_conversation_with_tools",
]

ToolWireMessage = dict[str, Any]
"""A wire message that may carry ``tool_calls`` (a list) or ``tool_call_id``."""

_TOOL_ROLES = frozenset({"system", "user", "assistant", "tool"})
_ALLOWED_KEYS = {
    "system": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


def dump_arguments(arguments: Any) -> str:
    """The canonical JSON text of parsed tool-call arguments (compact, key order kept,
    non-ASCII kept). Adapters use it to turn a framework's parsed arguments back into
    the wire form.

    >>> dump_arguments({"city": "北京", "days": 2})
    '{"city":"北京","days":2}'
    """
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def canonical_arguments(raw: str) -> str:
    """Arguments as the model wrote them -> their canonical wire text.

    JSON objects are re-serialised by :func:`dump_arguments`; empty arguments become
    ``{}``; anything else (not JSON, or JSON that is not an object) is kept verbatim,
    which is how frameworks keep an invalid tool call.

    >>> canonical_arguments('{"a": 1,  "b": [1, 2]}'), canonical_arguments(" "), canonical_arguments("{oops")
    ('{"a":1,"b":[1,2]}', '{}', '{oops')
    """
    if not raw.strip():
        return "{}"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw
    return dump_arguments(parsed) if isinstance(parsed, dict) else raw


def tool_call_wire(call_id: str, name: str, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
    """One tool call in wire form. ``arguments``: the raw JSON text or the parsed object.

    >>> tool_call_wire("call_1", "get_weather", {"city": "Paris"})
    {'id': 'call_1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': '{"city":"Paris"}'}}
    """
    text = (
        canonical_arguments(arguments)
        if isinstance(arguments, str)
        else dump_arguments(dict(arguments))
    )
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def assistant_wire_message(
    content: Any,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    name: str | None = None,
    *,
    where: str = "message",
) -> ToolWireMessage:
    """An assistant message, with ``tool_calls`` only when there are some.

    >>> assistant_wire_message("", [tool_call_wire("c1", "f", {})])["tool_calls"][0]["id"]
    'c1'
    """
    msg: ToolWireMessage = dict(wire_message("assistant", content, name, where=where))
    if tool_calls:
        msg["tool_calls"] = [dict(c) for c in tool_calls]
    return msg


def tool_wire_message(
    tool_call_id: str, content: Any, *, where: str = "message"
) -> ToolWireMessage:
    """A tool result answering the assistant tool call ``tool_call_id``.

    >>> tool_wire_message("c1", [{"type": "text", "text": "18°C"}])
    {'role': 'tool', 'tool_call_id': 'c1', 'content': '18°C'}
    """
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise ArkInputError(f"{where} is a tool result without a tool call id; set tool_call_id.")
    return {"role": "tool", "tool_call_id": tool_call_id, "content": _flatten(content, where)}


def _check_tool_calls(calls: Any, where: str) -> list[str]:
    if not isinstance(calls, list) or not calls:
        raise ArkInputError(
            f"{where}.tool_calls must be a non-empty list; build it with tool_call_wire()."
        )
    ids: list[str] = []
    for j, call in enumerate(calls):
        w = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, Mapping) else None
        if (
            not isinstance(call, Mapping)
            or set(call) != {"id", "type", "function"}
            or call["type"] != "function"
            or not isinstance(fn, Mapping)
            or set(fn) != {"name", "arguments"}
        ):
            raise ArkInputError(
                f"{w} must be {{'id', 'type': 'function', 'function': {{'name', 'arguments'}}}}; "
                "build it with tool_call_wire()."
            )
        if not isinstance(call["id"], str) or not call["id"]:
            raise ArkInputError(
                f"{w} has no id; every tool call needs the id its result refers to."
            )
        if not isinstance(fn["name"], str) or not fn["name"]:
            raise ArkInputError(f"{w} has no function name.")
        if not isinstance(fn["arguments"], str):
            raise ArkInputError(f"{w}.function.arguments must be a JSON string.")
        ids.append(call["id"])
    return ids


def validate_conversation_with_tools(messages: Sequence[Mapping[str, Any]]) -> None:
    """Check a conversation that may hold tool calls and tool results, before any
    network call: known roles and fields only (the digest covers every one of them),
    well-formed tool calls, every tool result answering an earlier tool call, and no
    assistant message last.

    >>> validate_conversation_with_tools([
    ...     {"role": "user", "content": "Weather?"},
    ...     assistant_wire_message("", [tool_call_wire("c1", "get_weather", {})]),
    ...     tool_wire_message("c1", "sunny"),
    ... ])
    """
    if not messages:
        raise ArkInputError("The conversation is empty; pass at least one user message.")
    seen_ids: set[str] = set()
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role") if isinstance(m, Mapping) else None
        if role not in _TOOL_ROLES:
            raise ArkInputError(
                f"{where} must be a mapping with role system, user, assistant or tool; got {m!r:.80}"
            )
        extra = set(m) - _ALLOWED_KEYS[role]
        if extra:
            raise ArkInputError(
                f"{where} ({role}) has field(s) {sorted(extra)}; it may carry only "
                f"{sorted(_ALLOWED_KEYS[role])}."
            )
        if not isinstance(m.get("content"), str):
            raise ArkInputError(f"{where} content must be a string; build it with wire_message().")
        if "name" in m and not isinstance(m["name"], str):
            raise ArkInputError(f"{where} name must be a string.")
        if "tool_calls" in m:
            seen_ids.update(_check_tool_calls(m["tool_calls"], where))
        if role == "tool":
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise ArkInputError(f"{where} is a tool result without tool_call_id.")
            if call_id not in seen_ids:
                raise ArkInputError(
                    f"{where} answers tool call {call_id!r}, which no earlier assistant message "
                    "made; keep the AI message with that tool call in the history."
                )
    if messages[-1]["role"] == "assistant":
        raise ArkInputError(
            "The conversation ends with an assistant message; the model needs a user, system "
            "or tool message last. Append the next user turn or the tool results."
        )
