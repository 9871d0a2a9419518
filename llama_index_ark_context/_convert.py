"""LlamaIndex <-> wire translation for tool calls, tool results and thinking.

Pure translation, no I/O (the Responses backend and ``ArkContextLLM`` call these).
Tool calls are represented as llama-index-llms-openai does: ``ToolCallBlock`` s in the
assistant message's blocks (arguments kept as the JSON text) plus
``additional_kwargs["tool_calls"]`` (chat-shape dicts); a tool result is a
``MessageRole.TOOL`` message with ``additional_kwargs["tool_call_id"]`` (what
``FunctionAgent`` writes). Reasoning comes back as a ``ThinkingBlock`` and is never resent.

- :func:`to_wire_messages`: ``ChatMessage`` s -> wire messages (validated).
- :func:`to_chat_message` / :func:`to_chat_response`: a Responses result -> LlamaIndex.
- :class:`StreamState`: stream deltas -> ``ChatResponse`` s (message so far + ``delta``).
- :func:`tool_selections`: ``get_tool_calls_from_response``.
- :func:`prepare_chat_with_tools`, :func:`force_single_tool_call`: ``FunctionCallingLLM``.

Round trip: ``to_wire_messages([to_chat_message(r)])[0] == r.wire_message()``, streamed or
not, so the next turn's digest finds the reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection

from ark_context import ArkInputError, ArkUnsupportedError
from ark_context.conversation import (
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

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = [
    "StreamState",
    "force_single_tool_call",
    "has_tool_messages",
    "prepare_chat_with_tools",
    "to_chat_message",
    "to_chat_response",
    "to_wire_messages",
    "tool_selections",
    "usage_kwargs",
]

_ROLES: dict[str, str] = {
    MessageRole.SYSTEM.value: "system",
    MessageRole.DEVELOPER.value: "system",
    MessageRole.USER.value: "user",
    MessageRole.ASSISTANT.value: "assistant",
    MessageRole.CHATBOT.value: "assistant",
    MessageRole.MODEL.value: "assistant",
    MessageRole.TOOL.value: "tool",
}


# -- messages -> wire ---------------------------------------------------------------------


def _raw_call(call: Any) -> tuple[str, str, Any]:
    """(id, name, arguments) of a chat-shape tool call: a dict or an OpenAI SDK object."""
    if hasattr(call, "model_dump"):
        call = call.model_dump()
    if not isinstance(call, Mapping):
        raise ArkInputError(f"a tool call of type {type(call).__name__} is not understood.")
    fn = call.get("function") or {}
    return str(call.get("id") or ""), str(fn.get("name") or ""), fn.get("arguments") or ""


def _split_blocks(message: ChatMessage, where: str) -> tuple[str, list[dict[str, Any]]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolCallBlock):
            if not block.tool_call_id:
                raise ArkInputError(
                    f"{where} has a tool call to {block.tool_name!r} without tool_call_id; the "
                    "API pairs tool results with calls by id."
                )
            calls.append(tool_call_wire(block.tool_call_id, block.tool_name, block.tool_kwargs))
        elif isinstance(block, (ThinkingBlock, CachePoint)):
            continue  # reasoning is never resent; CachePoint is another provider's hint
        else:
            raise ArkUnsupportedError(
                f"{where} has a {type(block).__name__}; ark-context sends text, tool calls and "
                "tool results. Send TextBlocks or a string."
            )
    return "".join(texts), calls


def to_wire_messages(messages: Sequence[ChatMessage]) -> list[ToolWireMessage]:
    """LlamaIndex messages (tool calls and tool results included) -> validated wire messages.

    >>> msgs = [ChatMessage(role="user", content="Weather?"),
    ...         ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_call_id="c1", tool_name="w", tool_kwargs={})]),
    ...         ChatMessage(role="tool", content="sunny", additional_kwargs={"tool_call_id": "c1"})]
    >>> [m["role"] for m in to_wire_messages(msgs)]
    ['user', 'assistant', 'tool']
    """
    wire: list[ToolWireMessage] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, ChatMessage):
            raise ArkInputError(
                f"{where} is a {type(message).__name__}; pass llama_index ChatMessage objects."
            )
        role_value = (
            message.role.value if isinstance(message.role, MessageRole) else str(message.role)
        )
        role = _ROLES.get(role_value)
        if role is None:
            raise ArkUnsupportedError(
                f"{where} has role {role_value!r}; send system, user, assistant or tool messages "
                "(tool results as role TOOL with additional_kwargs['tool_call_id'])."
            )
        extra = message.additional_kwargs
        text, calls = _split_blocks(message, where)
        if role == "tool":
            call_id = extra.get("tool_call_id") or extra.get("call_id")
            wire.append(tool_wire_message(str(call_id or ""), text, where=where))
            continue
        if role == "assistant":
            if not calls and extra.get("tool_calls"):
                calls = [tool_call_wire(*_raw_call(c)) for c in extra["tool_calls"]]
            wire.append(assistant_wire_message(text, calls, where=where))
            continue
        if calls or extra.get("tool_calls"):
            raise ArkInputError(
                f"{where} ({role}) carries tool calls; only assistant messages may."
            )
        name = extra.get("name")
        wire.append(
            dict(wire_message(role, text, name if isinstance(name, str) else None, where=where))
        )
    validate_conversation_with_tools(wire)
    return wire


def has_tool_messages(messages: Sequence[ChatMessage]) -> bool:
    """Whether a chat holds tool calls or tool results (the Context API cannot take it:
    such a call goes to plain chat completions or the Responses API).

    >>> has_tool_messages([ChatMessage(role="user", content="hi")])
    False
    """
    for m in messages:
        if not isinstance(m, ChatMessage):
            continue  # the conversion names it
        if m.role in (MessageRole.TOOL, MessageRole.FUNCTION):
            return True
        extra = m.additional_kwargs
        if extra.get("tool_calls") or extra.get("function_call") or extra.get("tool_call_id"):
            return True
        if any(isinstance(b, ToolCallBlock) for b in m.blocks):
            return True
    return False


# -- results -> LlamaIndex ------------------------------------------------------------------


def usage_kwargs(usage: ResponsesUsage | None) -> dict[str, int]:
    """Flat usage for ``additional_kwargs`` (chat-completions names, as the Context API path
    reports them, plus ``reasoning_tokens``)."""
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.cached_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def _message(
    text: str, reasoning: str, calls: Sequence[tuple[str, str, str]], reasoning_tokens: int | None
) -> ChatMessage:
    blocks: list[Any] = []
    if reasoning:
        blocks.append(ThinkingBlock(content=reasoning, num_tokens=reasoning_tokens))
    if text:
        blocks.append(TextBlock(text=text))
    for call_id, name, args in calls:
        blocks.append(ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=args))
    extra: dict[str, Any] = {}
    if calls:
        extra["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls
        ]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=extra)


def to_chat_message(result: ResponsesResult) -> ChatMessage:
    """The assistant ``ChatMessage`` for a reply: a ``ThinkingBlock`` (reasoning), a
    ``TextBlock`` and one ``ToolCallBlock`` per call (arguments as JSON text).

    >>> from ark_context.conversation import parse_response
    >>> r = parse_response({"status": "completed", "output": [
    ...     {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"x": 1}'}]})
    >>> to_chat_message(r).blocks[0].tool_kwargs
    '{"x":1}'
    """
    calls = [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in result.tool_calls
    ]
    tokens = result.usage.reasoning_tokens if result.usage and result.reasoning else None
    return _message(result.text, result.reasoning, calls, tokens)


def to_chat_response(
    result: ResponsesResult, metadata: Mapping[str, Any] | None = None
) -> ChatResponse:
    """A reply as a ``ChatResponse``: ``raw`` is the Response object, ``additional_kwargs``
    the flat usage, the response id and status, plus ``metadata`` (e.g. the route)."""
    extra: dict[str, Any] = {
        **usage_kwargs(result.usage),
        "response_id": result.id,
        "status": result.status,
        "finish_reason": result.finish_reason,
    }
    if metadata:
        extra.update(metadata)
    return ChatResponse(
        message=to_chat_message(result), raw=dict(result.raw), additional_kwargs=extra
    )


class StreamState:
    """Stream deltas -> ``ChatResponse`` s, each with the message so far and the new text
    as ``delta`` (tool calls appear as ``ToolCallBlock`` s with the arguments so far). The
    last response carries the usage and the final message.

    >>> from ark_context.conversation import StreamDelta
    >>> s = StreamState()
    >>> s.feed(StreamDelta(text="Hi")).message.content
    'Hi'
    """

    __slots__ = ("_calls", "_reasoning", "_text")

    def __init__(self) -> None:
        self._text = ""
        self._reasoning = ""
        self._calls: dict[int, list[str]] = {}

    def feed(
        self, delta: StreamDelta, metadata: Mapping[str, Any] | None = None
    ) -> ChatResponse | None:
        if delta.result is not None:
            return to_chat_response(delta.result, metadata)
        if delta.tool_call is not None:
            tc = delta.tool_call
            entry = self._calls.setdefault(tc.index, ["", "", ""])
            entry[0] = tc.id or entry[0]
            entry[1] = tc.name or entry[1]
            entry[2] += tc.arguments
        elif delta.reasoning:
            self._reasoning += delta.reasoning
        elif delta.text:
            self._text += delta.text
        else:
            return None
        calls = [(c[0], c[1], c[2]) for _, c in sorted(self._calls.items())]
        return ChatResponse(
            message=_message(self._text, self._reasoning, calls, None),
            delta=delta.text,
            additional_kwargs={"thinking_delta": delta.reasoning} if delta.reasoning else {},
        )


# -- FunctionCallingLLM pieces ----------------------------------------------------------------


def tool_selections(
    response: ChatResponse, error_on_no_tool_call: bool = True
) -> list[ToolSelection]:
    """``get_tool_calls_from_response``: the reply's ``ToolCallBlock`` s (or, for messages
    built elsewhere, ``additional_kwargs["tool_calls"]``) as ``ToolSelection`` s. Arguments
    that are not a JSON object give ``{}``, as llama-index-llms-openai does.

    >>> msg = ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_call_id="c1", tool_name="f", tool_kwargs='{"a": 1}')])
    >>> tool_selections(ChatResponse(message=msg))[0].tool_kwargs
    {'a': 1}
    """
    calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    raw = [(b.tool_call_id or "", b.tool_name, b.tool_kwargs) for b in calls] or [
        _raw_call(c) for c in response.message.additional_kwargs.get("tool_calls") or ()
    ]
    if not raw:
        if error_on_no_tool_call:
            raise ValueError("Expected at least one tool call, but got 0 tool calls.")
        return []
    out: list[ToolSelection] = []
    for call_id, name, args in raw:
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = {}
        out.append(
            ToolSelection(
                tool_id=call_id, tool_name=name, tool_kwargs=args if isinstance(args, dict) else {}
            )
        )
    return out


def _resolve_tool_choice(tool_choice: Any, tool_required: bool) -> Any:
    if tool_choice is None:
        return "required" if tool_required else "auto"
    if isinstance(tool_choice, str) and tool_choice not in ("none", "auto", "required"):
        return {"type": "function", "function": {"name": tool_choice}}
    return tool_choice


def prepare_chat_with_tools(
    tools: Sequence[BaseTool],
    user_msg: str | ChatMessage | None = None,
    chat_history: list[ChatMessage] | None = None,
    *,
    tool_required: bool = False,
    tool_choice: str | dict[str, Any] | None = None,
    strict: bool | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """``FunctionCallingLLM._prepare_chat_with_tools``: the ``chat`` kwargs — ``messages``,
    ``tools`` (chat-shape specs, checked against what the Responses API takes) and
    ``tool_choice``. ``parallel_tool_calls`` is not sent (the API documents no such field);
    enforce ``allow_parallel_tool_calls=False`` with :func:`force_single_tool_call`."""
    kwargs.pop("allow_parallel_tool_calls", None)
    kwargs.pop("verbose", None)
    specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
    if strict is not None:
        for spec in specs:
            spec["function"]["strict"] = strict
    to_response_tools(specs)  # a clear error now for what the API cannot take
    messages = list(chat_history or [])
    if isinstance(user_msg, str):
        user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
    if user_msg is not None:
        messages.append(user_msg)
    choice = _resolve_tool_choice(tool_choice, tool_required) if specs else None
    if choice is not None:
        to_tool_choice(choice, specs)  # validates names
    return {"messages": messages, "tools": specs or None, "tool_choice": choice, **kwargs}


def force_single_tool_call(response: ChatResponse) -> None:
    """Keep only the first tool call (``allow_parallel_tool_calls=False``). The trimmed
    reply differs from what the server stored, so the next turn rebuilds its chain."""
    message = response.message
    seen = False
    kept: list[Any] = []
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            if seen:
                continue
            seen = True
        kept.append(block)
    message.blocks = kept
    if message.additional_kwargs.get("tool_calls"):
        message.additional_kwargs["tool_calls"] = message.additional_kwargs["tool_calls"][:1]
