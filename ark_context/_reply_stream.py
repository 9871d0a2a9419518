"""Streams, normalised: SSE events (Responses API) and chat-completion chunks (plain chat)
-> :class:`StreamDelta` s, ending with the final :class:`~ark_context._replies.ResponsesResult`.
Public through :mod:`ark_context.conversation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._exceptions import ArkStreamError
from ._replies import (
    REASONING_SEPARATOR,
    ResponsesResult,
    ResponsesUsage,
    chat_status,
    chat_usage,
    order_calls,
    parse_response,
)
from .tool_messages import tool_call_wire

__all__ = [
    "ChatCompletionStreamAccumulator",
    "ResponsesStreamAccumulator",
    "StreamDelta",
    "ToolCallChunk",
]


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
                piece = REASONING_SEPARATOR + piece
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
                tool_calls=order_calls(calls),
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
            self._usage = chat_usage(chunk.get("usage"))
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
        status, reason = chat_status(self._finish)
        result = ResponsesResult(
            id=self._id,
            model=self._model,
            status=status,
            text="".join(self._text),
            tool_calls=order_calls(calls),
            reasoning="".join(self._reasoning),
            usage=self._usage,
            incomplete_reason=reason,
        )
        return StreamDelta(result=result)
