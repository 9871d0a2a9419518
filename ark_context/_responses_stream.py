"""Streams of ``POST /responses`` (``stream=True``): the decoder (events, assembly,
failure rules) and the sync/async stream classes on the shared shells.

Rules (spec §4, §7.13): the JSON ``type`` is authoritative; unknown event types are
yielded as :class:`UnknownEvent` and otherwise ignored; text is assembled by
``(output_index, content_index)`` and reasoning summaries apart from it; usage comes
from the terminal event only. An ``error`` event, a Chat-style ``{"error": ...}``
message and ``response.failed`` raise the mapped :class:`ArkAPIError`;
``response.incomplete`` raises :class:`ArkResponseIncompleteError`; a stream that
ends (or sends ``[DONE]``) without a terminal event raises :class:`ArkStreamError`.
Every such error carries ``response_id`` from ``response.created`` (the response may
exist and be billed: retrieve or delete it), and ``sent=True``.
"""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
from pydantic import ValidationError

from ._errors_map import error_from_payload, excerpt
from ._exceptions import ArkError, ArkResponseIncompleteError, ArkStreamError
from ._responses_models import (
    EVENT_TYPES,
    ArgumentsDeltaEvent,
    ErrorEvent,
    FunctionCall,
    OutputItemEvent,
    PartEvent,
    ReasoningDeltaEvent,
    Response,
    ResponseEvent,
    ResponseLifecycleEvent,
    ResponseUsage,
    TextDeltaEvent,
    UnknownEvent,
)
from ._sse import SSEEvent
from ._streams import AsyncEventStream, EventStream

__all__ = ["AsyncResponseStream", "ResponseStream", "ResponsesDecoder"]

_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


class ResponsesDecoder:
    """Turns SSE events into :class:`ResponseEvent` s and assembles the reply."""

    def __init__(self, response: httpx.Response, chained: str | None = None) -> None:
        self.response = response
        self.chained = chained
        self.response_id: str | None = None
        self.final: Response | None = None
        self.texts: dict[tuple[int, int], list[str]] = {}
        self.reasoning: dict[tuple[int, int], list[str]] = {}
        self.arguments: dict[int, list[str]] = {}
        self.items: dict[int, Any] = {}

    def decode(self, ev: SSEEvent) -> ResponseEvent | None:
        data = ev.data
        if data == "[DONE]":
            if self.final is None:
                raise self._no_terminal("sent [DONE]")
            return None
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise self._tag(
                ArkStreamError(f"Unreadable stream event: {excerpt(data)}", response=self.response)
            )
        kind = obj.get("type")
        if kind is None and obj.get("error"):  # Chat-style error message
            raise self._api_error(obj["error"])
        cls = EVENT_TYPES.get(kind, UnknownEvent) if isinstance(kind, str) else UnknownEvent
        try:
            event = cls.model_validate(obj)
        except ValidationError:
            raise self._tag(
                ArkStreamError(f"Malformed {kind!r} event: {excerpt(data)}", response=self.response)
            ) from None
        self._apply(event)
        return event

    def _apply(self, event: ResponseEvent) -> None:
        kind = event.type
        if isinstance(event, PartEvent):
            if isinstance(event, ReasoningDeltaEvent):
                parts, index = self.reasoning, event.summary_index
            else:
                parts, index = self.texts, cast(TextDeltaEvent, event).content_index
            key = (event.output_index, index)
            if kind.endswith("text.delta"):
                parts.setdefault(key, []).append(event.delta)
            elif kind.endswith("text.done") and event.text is not None:
                parts[key] = [event.text]
        elif isinstance(event, ArgumentsDeltaEvent):
            if kind.endswith(".delta"):
                self.arguments.setdefault(event.output_index, []).append(event.delta)
            elif event.arguments is not None:
                self.arguments[event.output_index] = [event.arguments]
        elif isinstance(event, OutputItemEvent):
            if event.item is not None:
                self.items[event.output_index] = event.item
        elif isinstance(event, ResponseLifecycleEvent):
            if self.response_id is None and event.response.id:
                self.response_id = event.response.id
            if kind in _TERMINAL:
                self._terminal(kind, event.response)
        elif isinstance(event, ErrorEvent):
            payload = {"code": event.code, "message": event.message, "param": event.param}
            raise self._api_error(payload)

    def _terminal(self, kind: str, final: Response) -> None:
        if kind == "response.completed":
            self.final = final
            return
        rid = self.response_id or final.id or "?"
        if kind == "response.incomplete":
            reason = (final.incomplete_details or {}).get("reason")
            raise self._tag(
                ArkResponseIncompleteError(
                    f"Response {rid} ended incomplete (reason: {reason!r}); raise "
                    "max_output_tokens or shorten the input. The partial response is in "
                    ".partial.",
                    reason=None if reason is None else str(reason),
                    partial=final,
                    response=self.response,
                )
            )
        err = final.error
        if err is not None and (err.code or err.message):
            raise self._api_error({"code": err.code, "message": err.message})
        raise self._tag(
            ArkStreamError(f"Response {rid} failed without an error.", response=self.response)
        )

    def _api_error(self, payload: Any) -> ArkError:
        return self._tag(
            error_from_payload(payload, status=0, response=self.response, chained=self.chained)
        )

    def _tag(self, err: ArkError) -> ArkError:
        if self.response_id is not None:
            err.response_id = self.response_id
        return err

    def _no_terminal(self, how: str) -> ArkError:
        rid = f" (response {self.response_id} may exist: retrieve or delete it)"
        return self._tag(
            ArkStreamError(
                f"The stream {how} without a terminal event (response.completed, "
                f".incomplete or .failed); the reply may be incomplete"
                + (rid if self.response_id else "")
                + ".",
                response=self.response,
            )
        )

    def ended(self) -> ArkError | None:
        return None if self.final is not None else self._no_terminal("ended")


def _joined(parts: dict[Any, list[str]]) -> str:
    return "".join("".join(parts[k]) for k in sorted(parts))


class _ResponseInfo:
    _decoder: Any  # a ResponsesDecoder

    @property
    def _rd(self) -> ResponsesDecoder:
        return self._decoder  # type: ignore[no-any-return]

    @property
    def response_id(self) -> str | None:
        """The id from ``response.created`` (None until it arrived)."""
        return self._rd.response_id

    @property
    def text(self) -> str:
        """The answer text so far, assembled by (output_index, content_index)."""
        return _joined(self._rd.texts)

    @property
    def reasoning_text(self) -> str:
        """The reasoning summaries so far (kept apart from :attr:`text`)."""
        return _joined(self._rd.reasoning)

    @property
    def final_response(self) -> Response | None:
        """The ``response.completed`` object (None until it arrived)."""
        return self._rd.final

    @property
    def usage(self) -> ResponseUsage | None:
        """Usage from the terminal event (None until it arrived)."""
        final = self._rd.final
        return final.usage if final is not None else None

    @property
    def function_calls(self) -> list[FunctionCall]:
        """Completed function calls (from ``output_item.done`` and argument events)."""
        d = self._rd
        out = []
        for index in sorted(set(d.items) | set(d.arguments)):
            item = d.items.get(index)
            if item is not None and not isinstance(item, FunctionCall):
                continue
            call = item.model_copy() if item is not None else FunctionCall()
            if index in d.arguments:
                call.arguments = "".join(d.arguments[index])
            out.append(call)
        return out


class ResponseStream(_ResponseInfo, EventStream[ResponseEvent]):
    """Iterator over the events of one streamed response (see the module docstring for
    the failure rules). Use ``with`` (or ``close()``) so an early exit frees the
    connection; after the loop, ``text``, ``usage`` and ``final_response`` are set.

    >>> with client.responses.stream(model="doubao-seed-1-6-251015", input="hi") as s:  # doctest: +SKIP
    ...     for event in s:
    ...         pass
    ...     print(s.response_id, s.text, s.usage.cached_tokens)
    """

    def __init__(self, response: httpx.Response, request_bytes: int, chained: str | None):
        super().__init__(response, request_bytes, ResponsesDecoder(response, chained))

    def __enter__(self) -> ResponseStream:
        return self


class AsyncResponseStream(_ResponseInfo, AsyncEventStream[ResponseEvent]):
    """Async :class:`ResponseStream`; use ``async with``.

    >>> async with await aclient.responses.stream(model="m", input="hi") as s:  # doctest: +SKIP
    ...     async for event in s:
    ...         pass
    """

    def __init__(self, response: httpx.Response, request_bytes: int, chained: str | None):
        super().__init__(response, request_bytes, ResponsesDecoder(response, chained))

    async def __aenter__(self) -> AsyncResponseStream:
        return self
