"""LangChain <-> wire translation for tools, tool results, reasoning and structured output.

Pure translation, no I/O (the Responses backend and ``ChatArkContext`` call these):

- :func:`to_wire_messages`: LangChain messages (with ``AIMessage.tool_calls`` and
  ``ToolMessage``) -> wire messages. Reasoning (``additional_kwargs["reasoning_content"]``,
  ``"reasoning"`` content blocks) is dropped: it is never resent.
- :func:`to_ai_message`: a :class:`~ark_context.conversation.ResponsesResult` ->
  ``AIMessage`` (``tool_calls``/``invalid_tool_calls``, ``usage_metadata`` with
  ``output_token_details.reasoning``, reasoning in ``additional_kwargs["reasoning_content"]``,
  which ``AIMessage.content_blocks`` shows as a standard ``reasoning`` block).
- :class:`ChunkBuilder`: stream deltas -> ``AIMessageChunk`` s (``tool_call_chunks``).
- :func:`bind_tools_kwargs`, :func:`structured_output`: what ``bind_tools`` and
  ``with_structured_output`` bind.

The round trip is exact: ``to_wire_messages([to_ai_message(r)])`` equals
``[r.wire_message()]``, streamed or not, so the next turn's digest finds the reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal, cast

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, InvalidToolCall
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.messages.tool import (
    ToolCall,
    invalid_tool_call,
    tool_call,
    tool_call_chunk,
)
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

from ark_context import ArkInputError, ArkUnsupportedError
from ark_context.conversation import (
    ArkResponsesInputError,
    ResponsesResult,
    ResponsesUsage,
    StreamDelta,
    ToolWireMessage,
    assistant_wire_message,
    to_response_tools,
    to_tool_choice,
    tool_call_wire,
    tool_wire_message,
    validate_conversation_with_tools,
    wire_message,
)

__all__ = [
    "ChunkBuilder",
    "bind_tools_kwargs",
    "check_tool_fields",
    "convert_tools",
    "has_tool_messages",
    "normalize_tool_choice",
    "structured_output",
    "to_ai_message",
    "to_wire",
    "to_wire_messages",
    "usage_metadata",
    "validate_tool_conversation",
    "without_names",
]

_ROLES = {
    "system": "system",
    "SystemMessageChunk": "system",
    "human": "user",
    "HumanMessageChunk": "user",
    "ai": "assistant",
    "AIMessageChunk": "assistant",
}
# AI content blocks that are not text and not resent: reasoning, and the tool-call forms
# that duplicate ``AIMessage.tool_calls`` (v1 ``tool_call`` blocks, Responses-style
# ``function_call`` items as langchain-openai keeps them).
_AI_SKIPPED_BLOCKS = frozenset(
    {
        "reasoning",
        "thinking",
        "tool_call",
        "tool_call_chunk",
        "function_call",
        "invalid_tool_call",
        "tool_use",  # Anthropic-style content blocks that mirror ``tool_calls``
    }
)
_FUNCTION_MESSAGE = (
    "The Ark APIs take tool results as ToolMessage(content, tool_call_id=...); "
    "FunctionMessage (legacy function calling) is not supported."
)


# -- messages -> wire ---------------------------------------------------------------------


def _ai_text(content: Any, where: str) -> Any:
    """AI content without reasoning and tool-call blocks (which are not resent)."""
    if isinstance(content, list):
        return [
            b
            for b in content
            if not (isinstance(b, Mapping) and b.get("type") in _AI_SKIPPED_BLOCKS)
        ]
    return content


def _ai_tool_calls(message: AIMessage, where: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for tc in message.tool_calls:
        if not tc.get("id"):
            raise ArkInputError(
                f"{where} has a tool call to {tc.get('name')!r} without an id; the API pairs "
                "tool results with calls by id. Give each tool call an id."
            )
        calls.append(tool_call_wire(str(tc["id"]), tc["name"], tc.get("args") or {}))
    for itc in message.invalid_tool_calls:  # kept verbatim, after the valid calls
        if not itc.get("id"):
            raise ArkInputError(f"{where} has an invalid tool call without an id; give it an id.")
        args = itc.get("args")
        calls.append(tool_call_wire(str(itc["id"]), str(itc.get("name") or ""), args or ""))
    if not calls and message.additional_kwargs.get("tool_calls"):
        for raw in message.additional_kwargs["tool_calls"]:  # OpenAI chat shape, unparsed
            fn = raw.get("function") or {}
            calls.append(
                tool_call_wire(
                    str(raw.get("id") or ""), fn.get("name", ""), fn.get("arguments") or ""
                )
            )
    return calls


def to_wire(message: BaseMessage, index: int) -> ToolWireMessage:
    """One LangChain message -> its wire form (tool calls and tool results included).

    Names are kept (the Context API takes them); a call on the Responses API, which has
    no message names, leaves them out (:func:`without_names`).

    >>> from langchain_core.messages import ToolMessage
    >>> to_wire(ToolMessage("18°C", tool_call_id="call_1"), 0)
    {'role': 'tool', 'tool_call_id': 'call_1', 'content': '18°C'}
    """
    where = f"messages[{index}]"
    kind = message.type
    if kind in ("tool", "ToolMessageChunk"):
        return tool_wire_message(
            str(getattr(message, "tool_call_id", "") or ""), message.content, where=where
        )
    if kind in ("function", "FunctionMessageChunk"):
        raise ArkUnsupportedError(f"{where} is a {type(message).__name__}. {_FUNCTION_MESSAGE}")
    role = _ROLES.get(kind)
    if role is None:
        if kind in ("chat", "ChatMessageChunk"):
            role = str(getattr(message, "role", ""))
            if role in ("tool", "function"):
                raise ArkInputError(
                    f"{where} is a ChatMessage with role {role!r}; send a tool result as "
                    "ToolMessage(content, tool_call_id=...)."
                )
        else:
            raise ArkInputError(
                f"{where} is a {type(message).__name__} (type {kind!r}); send System, Human, "
                "AI, Tool or Chat messages."
            )
    if role == "assistant":
        if message.additional_kwargs.get("function_call"):
            raise ArkUnsupportedError(
                f"{where} carries a legacy function_call. {_FUNCTION_MESSAGE} Send the call as "
                "AIMessage(tool_calls=[...])."
            )
        calls = _ai_tool_calls(message, where) if isinstance(message, AIMessage) else []
        if not isinstance(message, AIMessage) and message.additional_kwargs.get("tool_calls"):
            raise ArkInputError(f"{where} carries tool calls; send them as an AIMessage.")
        text = _ai_text(message.content, where)
        return assistant_wire_message(text, calls, message.name or None, where=where)
    return dict(wire_message(role, message.content, message.name, where=where))


def to_wire_messages(messages: Sequence[BaseMessage]) -> list[ToolWireMessage]:
    """Convert and validate a conversation that may hold tool calls and tool results."""
    wire = [to_wire(m, i) for i, m in enumerate(messages)]
    validate_conversation_with_tools(wire)
    return wire


def validate_tool_conversation(wire: Sequence[Mapping[str, Any]]) -> None:
    """Check a wire conversation that holds tool calls or tool results (before any call)."""
    validate_conversation_with_tools(wire)


def check_tool_fields(params: Mapping[str, Any]) -> None:
    """Check ``tools`` and ``tool_choice`` in a call's request fields (e.g. passed to
    ``invoke`` directly rather than through ``bind_tools``) before any network call."""
    tools = params.get("tools")
    if tools:
        to_response_tools(tools)
    if params.get("tool_choice") is not None:
        to_tool_choice(params["tool_choice"], tools or ())


def without_names(wire: list[Any]) -> list[Any]:
    """The conversation without message names: the Responses API has none, and a name the
    API cannot take is ignored (LangChain's rule for such names), not refused."""
    if not any("name" in m for m in wire):
        return wire
    return [{k: v for k, v in m.items() if k != "name"} for m in wire]


def has_tool_messages(messages: Sequence[BaseMessage]) -> bool:
    """Whether a conversation holds tool calls or tool results (the Context API cannot
    take it: such a call goes to plain chat completions or the Responses API).

    >>> from langchain_core.messages import HumanMessage
    >>> has_tool_messages([HumanMessage("hi")])
    False
    """
    for m in messages:
        if m.type in ("tool", "ToolMessageChunk", "function", "FunctionMessageChunk"):
            return True
        if isinstance(m, AIMessage) and (m.tool_calls or m.invalid_tool_calls):
            return True
        if m.additional_kwargs.get("tool_calls") or m.additional_kwargs.get("function_call"):
            return True
    return False


# -- results -> LangChain -------------------------------------------------------------------


def usage_metadata(usage: ResponsesUsage) -> UsageMetadata:
    """Responses usage -> ``UsageMetadata`` (``input_tokens`` includes cached tokens,
    ``output_tokens`` includes reasoning tokens)."""
    return UsageMetadata(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        input_token_details=InputTokenDetails(cache_read=usage.cached_tokens),
        output_token_details=OutputTokenDetails(reasoning=usage.reasoning_tokens),
    )


def _split_calls(
    calls: Sequence[Mapping[str, Any]],
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for c in calls:
        fn = c["function"]
        try:
            args = json.loads(fn["arguments"])
        except ValueError as exc:
            invalid.append(
                invalid_tool_call(name=fn["name"], args=fn["arguments"], id=c["id"], error=str(exc))
            )
            continue
        if isinstance(args, dict):
            valid.append(tool_call(name=fn["name"], args=args, id=c["id"]))
        else:
            invalid.append(
                invalid_tool_call(
                    name=fn["name"],
                    args=fn["arguments"],
                    id=c["id"],
                    error="arguments are not a JSON object",
                )
            )
    return valid, invalid


def _response_metadata(
    result: ResponsesResult, model: str, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "model_name": result.model or model,
        "id": result.id,
        "status": result.status,
        "finish_reason": result.finish_reason,
    }
    if result.incomplete_reason:
        meta["incomplete_details"] = {"reason": result.incomplete_reason}
    if result.expire_at is not None:
        meta["expire_at"] = result.expire_at
    if extra:
        meta.update(extra)
    return meta


def to_ai_message(
    result: ResponsesResult,
    *,
    model: str = "",
    metadata: Mapping[str, Any] | None = None,
    usage: UsageMetadata | None = None,
) -> AIMessage:
    """A normalised reply (either API) as an ``AIMessage``. ``metadata`` (e.g. the route)
    is merged into ``response_metadata``; ``model_name`` is always set. ``usage`` replaces
    the usage read from ``result`` (e.g. the billed usage, with creation tokens).

    >>> from ark_context.conversation import parse_response
    >>> r = parse_response({"id": "resp_1", "status": "completed", "output": [
    ...     {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"x": 1}'}]})
    >>> to_ai_message(r, model="m").tool_calls
    [{'name': 'f', 'args': {'x': 1}, 'id': 'c1', 'type': 'tool_call'}]
    """
    valid, invalid = _split_calls(result.tool_calls)
    extra_kwargs: dict[str, Any] = {}
    if result.reasoning:
        extra_kwargs["reasoning_content"] = result.reasoning
    return AIMessage(
        content=result.text,
        id=result.id,
        tool_calls=valid,
        invalid_tool_calls=invalid,
        additional_kwargs=extra_kwargs,
        usage_metadata=usage if usage is not None else _result_usage(result),
        response_metadata=_response_metadata(result, model, metadata),
    )


def _result_usage(result: ResponsesResult) -> UsageMetadata | None:
    return usage_metadata(result.usage) if result.usage is not None else None


class ChunkBuilder:
    """Stream deltas -> ``AIMessageChunk`` s. Text goes to ``content``, tool-call fragments
    to ``tool_call_chunks`` (merged by ``index``), reasoning to
    ``additional_kwargs["reasoning_content"]``; the final delta gives the one chunk with
    usage and metadata (``chunk_position="last"``). Added up, the chunks give the same
    message as :func:`to_ai_message`, so the next turn's digest matches.

    A tool call's ``index`` is its content-block position, not its position among the
    calls: with ``output_version="v1"`` LangChain numbers reasoning and text blocks itself
    (a new number each time the block type changes) and merges blocks by ``index``, so a
    call numbered 0 after a reasoning block would be merged into it. Each kind change
    here moves to the next block, as LangChain counts, and each further call takes the
    next number.

    >>> from ark_context.conversation import StreamDelta
    >>> ChunkBuilder("m").chunk(StreamDelta(text="Hi")).content
    'Hi'
    """

    __slots__ = ("block", "calls", "id", "kind", "model")

    def __init__(self, model: str) -> None:
        self.model = model
        self.id: str | None = None
        self.block = -1  # the current content block's index, counted as LangChain counts
        self.kind = ""  # the current content block's kind
        self.calls: dict[int, int] = {}  # the stream's tool-call index -> its block index

    def _block(self, kind: str) -> int:
        if kind != self.kind:
            self.kind = kind
            self.block += 1
        return self.block

    def _call_block(self, index: int) -> int:
        block = self.calls.get(index)
        if block is None:
            if self.kind == "tool_call_chunk":
                self.block += 1  # another call: LangChain's count stays, the index moves on
            block = self.calls[index] = self._block("tool_call_chunk")
        return block

    def chunk(
        self,
        delta: StreamDelta,
        metadata: Mapping[str, Any] | None = None,
        usage: UsageMetadata | None = None,
    ) -> AIMessageChunk | None:
        """The chunk for one delta (``None``: nothing to add). ``usage`` replaces the
        usage of the final delta's result (e.g. the billed usage)."""
        if delta.response_id:
            self.id = delta.response_id
        if delta.result is not None:
            r = delta.result
            self.id = r.id or self.id
            return AIMessageChunk(
                content="",
                id=self.id,
                usage_metadata=usage if usage is not None else _result_usage(r),
                response_metadata=_response_metadata(r, self.model, metadata),
                chunk_position="last",
            )
        if delta.tool_call is not None:
            tc = delta.tool_call
            return AIMessageChunk(
                content="",
                id=self.id,
                tool_call_chunks=[
                    tool_call_chunk(
                        name=tc.name, args=tc.arguments, id=tc.id, index=self._call_block(tc.index)
                    )
                ],
            )
        if delta.reasoning:
            self._block("reasoning")
            return AIMessageChunk(
                content="", id=self.id, additional_kwargs={"reasoning_content": delta.reasoning}
            )
        if delta.text:
            self._block("text")
            return AIMessageChunk(content=delta.text, id=self.id)
        return None


# -- tools and tool_choice --------------------------------------------------------------------


def convert_tools(tools: Sequence[Any], *, strict: bool | None = None) -> list[dict[str, Any]]:
    """Tools as ``bind_tools`` takes them (functions, pydantic models, ``BaseTool`` s,
    OpenAI dicts) -> OpenAI chat-shape function tools, checked now against what the
    Responses API takes (function tools only) so a bad tool fails at ``bind_tools``.

    >>> def get_weather(city: str) -> str:
    ...     '''Weather of a city.'''
    ...     return "sunny"
    >>> convert_tools([get_weather])[0]["function"]["name"]
    'get_weather'
    """
    converted: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if isinstance(tool, Mapping) and tool.get("type") not in (None, "function", "object"):
            raise ArkResponsesInputError(
                f"tools[{i}] is a {tool.get('type')!r} tool; ark-context sends only function tools. "
                "Pass a function, a pydantic model, a BaseTool or an OpenAI function dict."
            )
        spec = convert_to_openai_tool(tool, strict=strict)
        to_response_tools([spec])  # a clear error now for what the API cannot take
        if spec not in converted:  # the same tool twice: once is enough
            converted.append(spec)
    # Two different tools under one name are refused when a call sends them
    # (``check_tool_fields``), before the network; binding them is allowed, as elsewhere.
    return converted


def normalize_tool_choice(tool_choice: Any, tools: Sequence[Mapping[str, Any]]) -> Any:
    """LangChain's ``tool_choice`` -> the chat-shape value (``None``: leave unset).

    ``True`` forces the only tool; ``"any"`` means ``"required"``; a tool's name or
    ``{"type": "function", "function": {"name": ...}}`` forces that tool.

    >>> tools = convert_tools([{"type": "function", "function": {"name": "f"}}])
    >>> normalize_tool_choice(True, tools), normalize_tool_choice("any", tools)
    ({'type': 'function', 'function': {'name': 'f'}}, 'required')
    """
    if tool_choice is None or tool_choice is False:
        return None
    if tool_choice is True:
        if len(tools) != 1:
            raise ArkResponsesInputError(
                f"tool_choice=True forces the one bound tool, but {len(tools)} are bound; "
                "name the tool, or use 'required'."
            )
        tool_choice = tools[0]["function"]["name"]
    flat = to_tool_choice(tool_choice, tools)  # validates names and spellings
    if isinstance(flat, dict):
        return {"type": "function", "function": {"name": flat["name"]}}
    return flat


def bind_tools_kwargs(
    tools: Sequence[Any],
    *,
    tool_choice: Any = None,
    strict: bool | None = None,
    parallel_tool_calls: bool | None = None,
) -> dict[str, Any]:
    """What ``ChatArkContext.bind_tools`` binds: ``tools`` (chat shape) and, when set,
    ``tool_choice`` and ``parallel_tool_calls`` (sent only when the caller sets it).

    >>> bind_tools_kwargs([{"type": "function", "function": {"name": "f"}}], tool_choice="f")["tool_choice"]
    {'type': 'function', 'function': {'name': 'f'}}
    """
    converted = convert_tools(tools, strict=strict)
    kwargs: dict[str, Any] = {"tools": converted}
    choice = normalize_tool_choice(tool_choice, converted)
    if choice is not None:
        kwargs["tool_choice"] = choice
    if parallel_tool_calls is not None:
        kwargs["parallel_tool_calls"] = parallel_tool_calls
    return kwargs


# -- structured output ------------------------------------------------------------------------

StructuredMethod = Literal["function_calling", "json_mode", "json_schema"]


def _json_schema_format(schema: Any, strict: bool | None) -> dict[str, Any]:
    js = convert_to_json_schema(schema)
    name = str(js.get("title") or "response")
    spec: dict[str, Any] = {"name": name, "schema": js}
    if js.get("description"):
        spec["description"] = js["description"]
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def structured_output(
    model: Any,
    schema: Mapping[str, Any] | type,
    *,
    method: StructuredMethod = "function_calling",
    include_raw: bool = False,
    strict: bool | None = None,
    bind_tools: Callable[..., Runnable[Any, Any]] | None = None,
) -> Runnable[Any, Any]:
    """``with_structured_output`` for ChatArkContext.

    - ``function_calling`` (default): bind ``schema`` as the one tool and force it; parse
      the call. Keeps the cache on the Responses API (tools are fixed at a chain's first
      turn, so the same tool set chains on).
    - ``json_mode``: ``response_format={"type": "json_object"}`` (allowed in a cached chain;
      the prompt must ask for JSON).
    - ``json_schema``: ``response_format`` with the schema. The API refuses it in a chain
      that has cached, so the backend must run such a call uncached (or fail clearly).

    ``bind_tools`` defaults to ``model.bind_tools``; ``model.bind`` binds the response
    format. ``include_raw=True`` returns ``{"raw", "parsed", "parsing_error"}``.
    """
    is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    fmt = {"kwargs": {"method": method}, "schema": schema}
    parser: Runnable[Any, Any]
    if method == "function_calling":
        name = convert_to_openai_tool(schema)["function"]["name"]
        binder = bind_tools or model.bind_tools
        llm = binder([schema], tool_choice=name, strict=strict, ls_structured_output_format=fmt)
        if is_pydantic:
            parser = PydanticToolsParser(tools=[cast(Any, schema)], first_tool_only=True)
        else:
            parser = JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
    elif method in ("json_mode", "json_schema"):
        response_format = (
            {"type": "json_object"}
            if method == "json_mode"
            else _json_schema_format(schema, strict)
        )
        llm = model.bind(response_format=response_format, ls_structured_output_format=fmt)
        parser = (
            PydanticOutputParser(pydantic_object=cast(Any, schema))
            if is_pydantic
            else JsonOutputParser()
        )
    else:
        raise ArkInputError(
            f"with_structured_output method={method!r} is not supported; use 'function_calling' "
            "(default, keeps the cache), 'json_mode' or 'json_schema'."
        )
    if not include_raw:
        return llm | parser
    with_parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    fallback = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | with_parsed.with_fallbacks(
        [fallback], exception_key="parsing_error"
    )
