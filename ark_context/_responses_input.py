"""Wire conversation -> Ark Responses API request (pure; no I/O).

- :func:`to_input_items`: wire messages -> Responses ``input`` items.
- :func:`to_response_tools`, :func:`to_tool_choice`, :func:`to_text_format`: request
  fields from their chat-completions shapes; :func:`to_request_fields`: all at once.

The wire form is the one of :mod:`ark_context._messages` and
:mod:`ark_context.tool_messages`. Public through :mod:`ark_context.conversation`.

>>> to_input_items([{"role": "user", "content": "hi"}])
[{'type': 'message', 'role': 'user', 'content': [{'type': 'input_text', 'text': 'hi'}]}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._exceptions import ArkInputError

__all__ = [
    "ArkResponsesInputError",
    "is_json_schema_format",
    "to_input_items",
    "to_request_fields",
    "to_response_tools",
    "to_text_format",
    "to_tool_choice",
]


class ArkResponsesInputError(ArkInputError):
    """The request cannot be expressed on the Ark Responses API (a non-function tool, a
    message name, a malformed ``response_format`` or ``tool_choice``). Raised before any
    network call; the message says what to change."""


# -- wire messages -> input items -----------------------------------------------------------


def to_input_items(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Wire messages -> Responses ``input`` items, in order.

    System/user text becomes ``input_text``, assistant text ``output_text``; assistant tool
    calls become ``function_call`` items after the assistant's text (an assistant message
    with tool calls and no text gives no message item); tool results become ``function_call_output``.
    The Responses API has no message names, so a named message is refused rather than
    sent without its name. Validate first (``validate_conversation_with_tools``).

    >>> to_input_items([{"role": "user", "content": "Hi"}])
    [{'type': 'message', 'role': 'user', 'content': [{'type': 'input_text', 'text': 'Hi'}]}]
    """
    items: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role = m["role"]
        if m.get("name"):
            raise ArkResponsesInputError(
                f"messages[{i}] has name {m['name']!r}; the Ark Responses API has no message "
                "names. Remove the name, or put it into the message text."
            )
        if role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": m["tool_call_id"],
                    "output": m["content"],
                }
            )
            continue
        content = m["content"]
        if role == "assistant":
            calls = m.get("tool_calls") or ()
            if content or not calls:  # an empty reply is still a turn the model sees
                items.append(
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": content}],
                    }
                )
            for call in calls:
                fn = call["function"]
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call["id"],
                        "name": fn["name"],
                        "arguments": fn["arguments"],
                    }
                )
            continue
        items.append(
            {"type": "message", "role": role, "content": [{"type": "input_text", "text": content}]}
        )
    return items


# -- request fields -------------------------------------------------------------------------


def to_response_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chat-style function tools (``{"type": "function", "function": {...}}``, or the flat
    Responses shape) -> flat Responses function tools.

    ``strict`` is always sent: the Responses API defaults it to true while chat tools
    default to false, so an unset value becomes ``False`` (the chat meaning). Any other
    tool type raises :class:`ArkResponsesInputError`.

    >>> to_response_tools([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    [{'type': 'function', 'name': 'f', 'parameters': {'type': 'object'}, 'strict': False}]
    """
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, Mapping) else type(tool).__name__
            raise ArkResponsesInputError(
                f"{where} is a {kind!r} tool; ark-context sends only function tools (caching "
                "allows no other). Pass a function, a pydantic model or an OpenAI-style "
                '{"type": "function", "function": {"name", "description", "parameters"}} dict.'
            )
        spec = tool.get("function", tool)
        if not isinstance(spec, Mapping):
            raise ArkResponsesInputError(f"{where}.function must be a mapping.")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ArkResponsesInputError(f"{where} has no function name; set function.name.")
        if name in names:
            raise ArkResponsesInputError(
                f"{where} repeats the tool name {name!r}; tool names must be unique."
            )
        names.add(name)
        params = spec.get("parameters")
        if params is None:
            params = {"type": "object", "properties": {}}
        if not isinstance(params, Mapping) or params.get("type", "object") != "object":
            raise ArkResponsesInputError(
                f"{where} ({name}) has parameters that are not a JSON Schema object; function "
                'parameters must be {"type": "object", "properties": {...}}.'
            )
        unknown = set(spec) - {"name", "description", "parameters", "strict", "type", "function"}
        if unknown:
            raise ArkResponsesInputError(
                f"{where} ({name}) has field(s) {sorted(unknown)} the Responses API does not "
                "take; remove them."
            )
        flat: dict[str, Any] = {"type": "function", "name": name}
        if spec.get("description") is not None:
            flat["description"] = spec["description"]
        flat["parameters"] = _schema_without_nulls(params)
        flat["strict"] = bool(spec.get("strict") or False)
        out.append(flat)
    return out


def _schema_without_nulls(schema: Any) -> Any:
    """A JSON Schema without ``null`` values (``"default": null`` of optional fields, as
    pydantic writes them): Ark takes no JSON null anywhere in a request, and a null default
    says nothing a missing one does not."""
    if isinstance(schema, Mapping):
        return {k: _schema_without_nulls(v) for k, v in schema.items() if v is not None}
    if isinstance(schema, list):
        return [_schema_without_nulls(v) for v in schema]
    return schema


def _tool_name(tool: Mapping[str, Any]) -> str:
    spec = tool.get("function", tool)
    return str(spec.get("name", "")) if isinstance(spec, Mapping) else ""


def to_tool_choice(
    choice: Any, tools: Sequence[Mapping[str, Any]] = ()
) -> str | dict[str, Any] | None:
    """A chat-style ``tool_choice`` -> the Responses one (``None``: send nothing).

    Accepts ``"auto"``, ``"none"``, ``"required"`` (or ``"any"``), a declared tool's name,
    ``{"type": "function", "function": {"name"}}`` and the flat
    ``{"type": "function", "name"}``. A named or required choice needs the tool declared.

    >>> tools = [{"type": "function", "function": {"name": "f"}}]
    >>> to_tool_choice("any", tools), to_tool_choice("f", tools)
    ('required', {'type': 'function', 'name': 'f'})
    """
    if choice is None:
        return None
    names = [_tool_name(t) for t in tools]
    name: Any = None
    if isinstance(choice, str):
        if choice in ("auto", "none"):
            return choice
        if choice in ("required", "any"):
            if not names:
                raise ArkResponsesInputError(
                    f"tool_choice={choice!r} needs tools; bind tools or drop tool_choice."
                )
            return "required"
        name = choice
    elif isinstance(choice, Mapping) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
    if not isinstance(name, str) or not name:
        raise ArkResponsesInputError(
            f"tool_choice={choice!r:.80} is not understood; use 'auto', 'none', 'required' or "
            "the name of a bound tool."
        )
    if name not in names:
        raise ArkResponsesInputError(
            f"tool_choice names the tool {name!r}, which is not bound (bound: {names}); "
            "bind it or choose another."
        )
    return {"type": "function", "name": name}


def to_text_format(response_format: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A chat-style ``response_format`` -> the Responses ``text`` field (``None``: unset).

    ``{"type": "json_schema", "json_schema": {name, schema, strict, description}}`` (the
    chat shape) becomes the flat ``{"format": {"type": "json_schema", "name", "schema",
    "strict"[, "description"]}}``; the flat shape is accepted too.

    >>> to_text_format({"type": "json_schema", "json_schema": {"name": "A", "schema": {"type": "object"}}})
    {'format': {'type': 'json_schema', 'name': 'A', 'schema': {'type': 'object'}, 'strict': False}}
    """
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind in ("text", "json_object"):
        return {"format": {"type": kind}}
    if kind != "json_schema":
        raise ArkResponsesInputError(
            f"response_format={response_format!r:.80} is not understood; use "
            "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {'name', 'schema'}}."
        )
    assert isinstance(response_format, Mapping)
    spec = response_format.get("json_schema", response_format)
    name = spec.get("name") if isinstance(spec, Mapping) else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(name, str) or not name or not isinstance(schema, Mapping):
        raise ArkResponsesInputError(
            "response_format json_schema needs a 'name' (string) and a 'schema' (JSON Schema "
            "object)."
        )
    assert isinstance(spec, Mapping)
    # Like tool parameters: pydantic's ``"default": null`` would be refused as a JSON null.
    fmt: dict[str, Any] = {
        "type": "json_schema",
        "name": name,
        "schema": _schema_without_nulls(schema),
    }
    if spec.get("description") is not None:
        fmt["description"] = spec["description"]
    fmt["strict"] = bool(spec.get("strict") or False)
    return {"format": fmt}


def is_json_schema_format(text: Mapping[str, Any] | None) -> bool:
    """Whether a ``text`` field asks for ``json_schema``, which the API refuses in a chain
    that has cached (``json_object`` stays allowed).

    >>> is_json_schema_format(to_text_format({"type": "json_object"}))
    False
    """
    fmt = text.get("format") if isinstance(text, Mapping) else None
    return isinstance(fmt, Mapping) and fmt.get("type") == "json_schema"


# -- all request fields at once ------------------------------------------------------------

#: Chat-completions parameters the Responses API has no field for.
_NO_RESPONSES_FIELD = frozenset(
    {"frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "logit_bias", "n", "seed"}
)
#: Fields the backend owns (the chain, caching and storage); never from the caller.
_BACKEND_FIELDS = frozenset(
    {
        "model",
        "input",
        "previous_response_id",
        "caching",
        "store",
        "expire_at",
        "instructions",
        "stream",
    }
)
_PASS_THROUGH = frozenset({"temperature", "top_p", "parallel_tool_calls", "reasoning"})
_THINKING_TYPES = frozenset({"enabled", "disabled", "auto"})


def to_request_fields(params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Chat-style call parameters (what ``ark_sampling_params`` and ``bind`` give) ->
    ``(Responses request fields, names dropped)``.

    ``max_tokens`` becomes ``max_output_tokens``; ``tools``, ``tool_choice`` and
    ``response_format`` are converted; ``reasoning_effort`` becomes ``reasoning``;
    ``thinking`` is checked. ``stop`` has no Responses field: it is dropped and named in
    the second value (report it, e.g. in ``response_metadata``), so frameworks that always
    pass it keep working. Penalties, logprobs, ``logit_bias``, ``n`` and ``seed`` raise
    (they would change the answer), as do fields the backend owns (``instructions``,
    ``caching``, ``previous_response_id``, ...) and unknown names.

    >>> to_request_fields({"max_tokens": 64, "temperature": 0.2, "stop": ["\\n"]})
    ({'max_output_tokens': 64, 'temperature': 0.2}, ['stop'])
    """
    out: dict[str, Any] = {}
    dropped: list[str] = []
    tools = params.get("tools") or ()
    for key, value in params.items():
        if value is None:
            continue
        if key in _PASS_THROUGH:
            out[key] = value
        elif key in ("max_tokens", "max_output_tokens", "max_completion_tokens"):
            out["max_output_tokens"] = value
        elif key == "tools":
            if tools:
                out["tools"] = to_response_tools(tools)
        elif key == "tool_choice":
            choice = to_tool_choice(value, tools)
            if choice is not None:
                out["tool_choice"] = choice
        elif key == "response_format":
            text = to_text_format(value)
            if text is not None:
                out["text"] = text
        elif key == "text":
            out["text"] = dict(value)
        elif key == "reasoning_effort":
            out["reasoning"] = {"effort": value}
        elif key == "thinking":
            kind = value.get("type") if isinstance(value, Mapping) else None
            if kind not in _THINKING_TYPES:
                raise ArkResponsesInputError(
                    f"thinking={value!r:.60} is not understood; use {{'type': 'enabled'}}, "
                    "{'type': 'disabled'} or {'type': 'auto'} (as the model supports)."
                )
            out["thinking"] = {"type": kind}
        elif key == "stop":
            if value:
                dropped.append("stop")
        elif key in _NO_RESPONSES_FIELD:
            raise ArkResponsesInputError(
                f"{key!r} is not supported by the Ark Responses API; remove it (setting or "
                "model_kwargs)."
            )
        elif key in _BACKEND_FIELDS:
            raise ArkResponsesInputError(
                f"{key!r} is set by ark-context's Responses backend (chains, caching, "
                "storage); remove it from the call parameters."
            )
        else:
            raise ArkResponsesInputError(
                f"{key!r} is not a parameter ark-context knows how to send on the Ark "
                "Responses API; remove it."
            )
    return out, dropped
