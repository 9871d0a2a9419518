"""Pure translation between the wire conversation form and the Ark Responses API.

Framework-free (plain dicts in, plain dicts out; no I/O). The wire form is the one of
:mod:`ark_context._messages`: ``{"role", "content"[, "name"]}`` plus assistant
``tool_calls`` and ``{"role": "tool", "tool_call_id", "content"}`` results.

- :func:`to_input_items`: wire messages -> Responses ``input`` items.
- :func:`to_response_tools`, :func:`to_tool_choice`, :func:`to_text_format`: request
  fields from their chat-completions shapes.
- :func:`parse_response`: a Response object -> :class:`ResponsesResult` (text, tool calls,
  reasoning, usage, status) and :meth:`ResponsesResult.wire_message`, the assistant wire
  message the *next* call's history holds for this reply (what the digest records).
- :class:`ResponsesStreamAccumulator`: SSE event dicts -> :class:`StreamDelta` s.

Reasoning is read, surfaced and never resent: the wire form has no place for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import ArkInputError, ArkStreamError
from .tool_messages import tool_call_wire

__all__ = [
    "ArkResponsesInputError",
    "ChatCompletionStreamAccumulator",
    "ResponsesResult",
    "ResponsesStreamAccumulator",
    "ResponsesUsage",
    "StreamDelta",
    "ToolCallChunk",
    "is_json_schema_format",
    "parse_chat_completion",
    "parse_response",
    "to_input_items",
    "to_request_fields",
    "to_response_tools",
    "to_text_format",
    "to_tool_choice",
]

_REASONING_SEPARATOR = "\n\n"


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
        flat["parameters"] = dict(params)
        flat["strict"] = bool(spec.get("strict") or False)
        out.append(flat)
    return out


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
    fmt: dict[str, Any] = {"type": "json_schema", "name": name, "schema": dict(schema)}
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


# -- response object -> normalised result ---------------------------------------------------


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


def _order_calls(calls: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
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
        tool_calls=_order_calls(calls),
        reasoning=_REASONING_SEPARATOR.join(reasoning),
        usage=ResponsesUsage.from_dict(usage) if isinstance(usage, Mapping) else None,
        incomplete_reason=str(details.get("reason")) if isinstance(details, Mapping) else None,
        error=error if isinstance(error, Mapping) else None,
        expire_at=int(expire_at) if isinstance(expire_at, (int, float)) else None,
        raw=response,
    )


# -- stream events -> deltas ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """A fragment of one tool call. ``index`` counts function calls in the reply (0, 1,
    ...); ``id`` and ``name`` come with the first fragment, ``arguments`` pieces concatenate
    to the call's raw argument text.

    >>> ToolCallChunk(0, id="call_1", name="f").arguments
    ''
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamDelta:
    """What one stream event adds: text, reasoning text, a tool call fragment, or (last)
    the final :class:`ResponsesResult` with usage.

    >>> StreamDelta(text="Hi").result is None
    True
    """

    text: str = ""
    reasoning: str = ""
    tool_call: ToolCallChunk | None = None
    result: ResponsesResult | None = None
    response_id: str | None = None


class ResponsesStreamAccumulator:
    """Turns Responses SSE event dicts into :class:`StreamDelta` s and keeps the reply.

    ``feed(event)`` returns the delta of one event (``None`` when it adds nothing);
    ``finish()`` returns the final result and raises :class:`ArkStreamError` when the
    stream ended without a terminal event. ``error`` events and ``response.failed`` raise
    :class:`ArkStreamError` at once. ``response.incomplete`` is a result (cut short),
    not an error.

    >>> acc = ResponsesStreamAccumulator()
    >>> acc.feed({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hi"}).text
    'Hi'
    >>> final = acc.feed({"type": "response.completed", "response": {"id": "r1", "status": "completed",
    ...     "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}]}})
    >>> acc.finish().text, final.result.id
    ('Hi', 'r1')
    """

    __slots__ = ("_calls", "_reasoning_key", "_reasoning_seen", "_result", "_text", "response_id")

    def __init__(self) -> None:
        self.response_id: str | None = None
        self._text: list[str] = []
        self._calls: dict[int, list[Any]] = {}  # output_index -> [index, call_id, name, args]
        self._reasoning_key: tuple[Any, Any] | None = None
        self._reasoning_seen = False
        self._result: ResponsesResult | None = None

    def _call(self, output_index: Any) -> list[Any]:
        entry = self._calls.get(output_index)
        if entry is None:
            entry = self._calls[output_index] = [len(self._calls), None, None, ""]
        return entry

    def feed(self, event: Mapping[str, Any]) -> StreamDelta | None:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = str(event.get("delta") or "")
            self._text.append(delta)
            return StreamDelta(text=delta) if delta else None
        if kind == "response.function_call_arguments.delta":
            entry = self._call(event.get("output_index"))
            piece = str(event.get("delta") or "")
            entry[3] += piece
            return (
                StreamDelta(tool_call=ToolCallChunk(entry[0], arguments=piece)) if piece else None
            )
        if kind == "response.reasoning_summary_text.delta":
            piece = str(event.get("delta") or "")
            if not piece:
                return None
            key = (event.get("output_index"), event.get("summary_index"))
            if self._reasoning_seen and key != self._reasoning_key:
                piece = _REASONING_SEPARATOR + piece
            self._reasoning_key, self._reasoning_seen = key, True
            return StreamDelta(reasoning=piece)
        if kind in ("response.output_item.added", "response.output_item.done"):
            return self._item(event, done=kind.endswith("done"))
        if kind == "response.function_call_arguments.done":
            entry = self._call(event.get("output_index"))
            return self._complete_arguments(entry, event.get("arguments"))
        if kind in ("response.created", "response.in_progress"):
            resp = event.get("response")
            if isinstance(resp, Mapping) and resp.get("id"):
                self.response_id = str(resp["id"])
                return StreamDelta(response_id=self.response_id)
            return None
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            return self._terminal(event)
        if kind == "error" or (kind is None and isinstance(event.get("error"), Mapping)):
            err = event.get("error") if kind is None else event
            assert isinstance(err, Mapping)
            raise ArkStreamError(
                f"The Responses stream reported an error ({err.get('code') or 'no code'}): "
                f"{err.get('message') or 'no message'}"
            )
        return None  # part added/done, text done, unknown types: nothing new

    def _item(self, event: Mapping[str, Any], *, done: bool) -> StreamDelta | None:
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("type") != "function_call":
            return None
        entry = self._call(event.get("output_index"))
        if entry[1] is None:  # first sight of this call: announce id and name
            entry[1] = str(item.get("call_id") or item.get("id") or "")
            entry[2] = str(item.get("name") or "")
            entry[3] = str(item.get("arguments") or "")
            return StreamDelta(tool_call=ToolCallChunk(entry[0], entry[1], entry[2], entry[3]))
        if done:
            return self._complete_arguments(entry, item.get("arguments"))
        return None

    def _complete_arguments(self, entry: list[Any], full: Any) -> StreamDelta | None:
        """Emit what the deltas missed of the final argument text (nothing, usually)."""
        if not isinstance(full, str) or full == entry[3]:
            return None
        if not full.startswith(entry[3]):
            raise ArkStreamError(
                "The Responses stream's final function call arguments do not extend the "
                "streamed ones; the stream is inconsistent."
            )
        rest = full[len(entry[3]) :]
        entry[3] = full
        return StreamDelta(tool_call=ToolCallChunk(entry[0], arguments=rest))

    def _terminal(self, event: Mapping[str, Any]) -> StreamDelta:
        resp = event.get("response")
        if not isinstance(resp, Mapping):
            raise ArkStreamError(
                f"The Responses stream's {event.get('type')} event has no response."
            )
        if event.get("type") == "response.failed" or resp.get("status") == "failed":
            err = resp.get("error") if isinstance(resp.get("error"), Mapping) else {}
            assert isinstance(err, Mapping)
            raise ArkStreamError(
                f"The response failed: {err.get('code') or 'unknown error'}: "
                f"{err.get('message') or 'no message'}"
            )
        result = parse_response(resp)
        if not resp.get("output") and (self._text or self._calls):
            # a terminal event without the output: keep what was streamed
            calls = [tool_call_wire(e[1] or "", e[2] or "", e[3]) for e in self._calls.values()]
            result = ResponsesResult(
                id=result.id,
                model=result.model,
                status=result.status,
                text="".join(self._text),
                tool_calls=_order_calls(calls),
                reasoning=result.reasoning,
                usage=result.usage,
                incomplete_reason=result.incomplete_reason,
                error=result.error,
                expire_at=result.expire_at,
                raw=resp,
            )
        self._result = result
        if result.id:
            self.response_id = result.id
        return StreamDelta(result=result)

    def finish(self) -> ResponsesResult:
        """The final result; raises :class:`ArkStreamError` if no terminal event came."""
        if self._result is None:
            raise ArkStreamError(
                "The Responses stream ended without response.completed or response.incomplete; "
                "the reply is unknown (the response may exist server-side: "
                f"{self.response_id or 'id unknown'})."
            )
        return self._result


# -- chat completions with tools (the Context API models' plain path) -> the same result ------
# A call with tools on a Context-API model goes to plain /chat/completions; these give
# its reply the same normalised form, so the adapters have one code path for both APIs.


def _chat_usage(usage: Any) -> ResponsesUsage | None:
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


def _chat_status(finish_reason: Any) -> tuple[str, str | None]:
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
    status, reason = _chat_status(choice.get("finish_reason"))
    return ResponsesResult(
        id=completion.get("id") or None,
        model=completion.get("model") or None,
        status=status,
        text=str(message.get("content") or ""),
        tool_calls=_order_calls(calls),
        reasoning=str(message.get("reasoning_content") or ""),
        usage=_chat_usage(completion.get("usage")),
        incomplete_reason=reason,
        raw=completion,
    )


class ChatCompletionStreamAccumulator:
    """Chat-completion chunk dicts -> :class:`StreamDelta` s, like
    :class:`ResponsesStreamAccumulator` (same deltas, same final result), for the plain
    path. ``feed`` returns a list (one chunk may carry text and several tool-call pieces);
    ``finish()`` gives the final result once the stream is done (usage arrives in the
    last chunk, when requested).

    >>> acc = ChatCompletionStreamAccumulator()
    >>> [d.text for d in acc.feed({"id": "c1", "choices": [{"delta": {"content": "Hi"}}]})]
    ['', 'Hi']
    >>> acc.finish().result.wire_message()
    {'role': 'assistant', 'content': 'Hi'}
    """

    __slots__ = ("_calls", "_finish", "_id", "_model", "_reasoning", "_text", "_usage")

    def __init__(self) -> None:
        self._id: str | None = None
        self._model: str | None = None
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, list[str]] = {}
        self._finish: Any = None
        self._usage: ResponsesUsage | None = None

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamDelta]:
        if isinstance(chunk.get("error"), Mapping):
            err = chunk["error"]
            raise ArkStreamError(
                f"The stream reported an error ({err.get('code') or 'no code'}): "
                f"{err.get('message') or 'no message'}"
            )
        out: list[StreamDelta] = []
        if chunk.get("id") and self._id is None:
            self._id = str(chunk["id"])
            out.append(StreamDelta(response_id=self._id))
        self._model = chunk.get("model") or self._model
        if chunk.get("usage") is not None:
            self._usage = _chat_usage(chunk.get("usage"))
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                self._reasoning.append(str(delta["reasoning_content"]))
                out.append(StreamDelta(reasoning=str(delta["reasoning_content"])))
            if delta.get("content"):
                self._text.append(str(delta["content"]))
                out.append(StreamDelta(text=str(delta["content"])))
            for tc in delta.get("tool_calls") or ():
                index = tc.get("index")
                index = index if isinstance(index, int) else len(self._calls)
                fn = tc.get("function") or {}
                entry = self._calls.setdefault(index, ["", "", ""])
                new = entry[0] == ""
                entry[0] = entry[0] or str(tc.get("id") or "")
                entry[1] = entry[1] or str(fn.get("name") or "")
                piece = str(fn.get("arguments") or "")
                entry[2] += piece
                out.append(
                    StreamDelta(
                        tool_call=ToolCallChunk(
                            index,
                            id=entry[0] if new else None,
                            name=entry[1] if new else None,
                            arguments=piece,
                        )
                    )
                )
        return out

    def finish(self) -> StreamDelta:
        """The final delta (the result with usage); call once the stream has ended."""
        calls = [tool_call_wire(c[0], c[1], c[2]) for _, c in sorted(self._calls.items())]
        status, reason = _chat_status(self._finish)
        result = ResponsesResult(
            id=self._id,
            model=self._model,
            status=status,
            text="".join(self._text),
            tool_calls=_order_calls(calls),
            reasoning="".join(self._reasoning),
            usage=self._usage,
            incomplete_reason=reason,
        )
        return StreamDelta(result=result)
