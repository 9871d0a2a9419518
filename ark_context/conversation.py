"""The conversation in wire form, and the normalised reply both caching APIs return.

What adapters build and read (public; the modules behind it are private):

- wire messages: :func:`wire_message`, :func:`assistant_wire_message` (with
  ``tool_calls``), :func:`tool_call_wire`, :func:`tool_wire_message`, and
  :func:`validate_conversation_with_tools`;
- tools and formats: :func:`to_response_tools`, :func:`to_tool_choice`,
  :func:`to_text_format` (chat shapes -> Responses shapes; they also validate);
- replies: :class:`ResponsesResult` (``RoutedCompletion.result``), :class:`ResponsesUsage`,
  :class:`StreamDelta` and :class:`ToolCallChunk` (what ``stream.deltas()`` yields),
  :func:`parse_response` and :func:`parse_chat_completion`.

>>> from ark_context.conversation import assistant_wire_message, tool_call_wire
>>> assistant_wire_message("", [tool_call_wire("c1", "f", {"a": 1})])["tool_calls"][0]["function"]
{'name': 'f', 'arguments': '{"a":1}'}
"""

from __future__ import annotations

from ._messages import WireMessage, validate_conversation, wire_message
from ._replies import ResponsesResult, ResponsesUsage, parse_chat_completion, parse_response
from ._reply_stream import (
    ChatCompletionStreamAccumulator,
    ResponsesStreamAccumulator,
    StreamDelta,
    ToolCallChunk,
)
from ._responses_input import (
    ArkResponsesInputError,
    is_json_schema_format,
    to_input_items,
    to_request_fields,
    to_response_tools,
    to_text_format,
    to_tool_choice,
)
from .tool_messages import (
    ToolWireMessage,
    assistant_wire_message,
    canonical_arguments,
    dump_arguments,
    tool_call_wire,
    tool_wire_message,
    validate_conversation_with_tools,
)

__all__ = [
    "ArkResponsesInputError",
    "ChatCompletionStreamAccumulator",
    "ResponsesResult",
    "ResponsesStreamAccumulator",
    "ResponsesUsage",
    "StreamDelta",
    "ToolCallChunk",
    "ToolWireMessage",
    "WireMessage",
    "assistant_wire_message",
    "canonical_arguments",
    "dump_arguments",
    "is_json_schema_format",
    "parse_chat_completion",
    "parse_response",
    "to_input_items",
    "to_request_fields",
    "to_response_tools",
    "to_text_format",
    "to_tool_choice",
    "tool_call_wire",
    "tool_wire_message",
    "validate_conversation",
    "validate_conversation_with_tools",
    "wire_message",
]
