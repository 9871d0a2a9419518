"""Routed Responses API streams: ``deltas()`` yields normalised deltas; the turn is
recorded once the terminal event arrived (a cut stream records nothing, so the next call
chains from the same parent and no turn is sent twice). A reply cut short
(``response.incomplete``, e.g. by ``max_output_tokens``) is a result, as without
streaming: its last delta carries it, and the turn is recorded."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._exceptions import ArkResponseIncompleteError
from .._reply_stream import ResponsesStreamAccumulator
from .._responses_models import Response
from .._route_types import usage_from
from .router import Reply

if TYPE_CHECKING:
    from .._messages import WireMessage
    from .._models import ChatCompletionChunk, Usage
    from .._replies import ResponsesResult
    from .._reply_stream import StreamDelta
    from .._route_types import RouteInfo
    from .backend import CallSpec
    from .flows import Sent
    from .responses import ResponsesCall
    from .responses_router import ResponsesRouter

__all__ = ["AsyncResponsesStream", "ResponsesStream"]


class _StreamBase:
    """What both Responses streams share: the route, usage and final result."""

    def __init__(
        self, router: ResponsesRouter, messages: Sequence[WireMessage], call: CallSpec
    ) -> None:
        self._router = router
        self._messages = messages
        self._call = call
        self._sent: Sent | None = None
        self._inner: Any = None
        self._acc = ResponsesStreamAccumulator()
        self._done = False
        self.route: RouteInfo | None = None
        self.result: ResponsesResult | None = None

    @property
    def usage(self) -> Usage | None:
        return usage_from(self.result.usage) if self.result is not None else None

    @property
    def response_id(self) -> str | None:
        """The new response's id, from ``response.created`` (None until it arrived)."""
        return self._acc.response_id

    def _opened(self, sent: Sent) -> None:
        self._sent, self._inner = sent, sent.result
        self.route = self._router._route(sent, self._call, None)

    def _feed(self, event: Any) -> StreamDelta | None:
        return self._fed(self._acc.feed(event.model_dump(exclude_none=True)))

    def _fed(self, delta: StreamDelta | None) -> StreamDelta | None:
        if delta is not None and delta.result is not None:
            self.result = delta.result
        return delta

    def _cut_short(self, exc: ArkResponseIncompleteError) -> StreamDelta:
        """The result delta of a reply the wire stream raised on as ``incomplete`` (a
        reply cut short, which ``chat`` returns too), or ``exc`` again without one."""
        partial = exc.partial
        if not isinstance(partial, Response):
            raise exc
        event = {"type": "response.incomplete", "response": partial.model_dump(exclude_none=True)}
        delta = self._fed(self._acc.feed(event))
        if delta is None or delta.result is None:
            raise exc
        return delta

    def _closing(self, ok: bool) -> tuple[Sent, Reply] | None:
        """What :meth:`_end` records (None: nothing was sent). Once the terminal event
        arrived the response is stored, so it is recorded even if the caller stopped
        reading right after it; otherwise the turn is dropped."""
        if self._sent is None:
            return None
        result = self.result if ok or self.result is not None else None
        if result is None:
            return self._sent, Reply("", None, False)
        assert self.route is not None
        self.route.response_id = result.id
        rc: ResponsesCall = self._call.extra
        self.route.expire_at = rc.expire_at if self._call.plain is None else None
        return self._sent, self._router._reply_of(self._sent, result, ok=True)


class ResponsesStream(_StreamBase):
    """A routed Responses API stream: ``deltas()`` yields normalised deltas; the turn is
    recorded when the terminal event arrived (a cut stream records nothing).

    Example (``router`` is a :class:`ResponsesRouter`)::

        with router.stream([{"role": "user", "content": "hi"}]) as s:
            text = "".join(d.text for d in s.deltas())
    """

    def __enter__(self) -> ResponsesStream:
        if self._sent is None:
            self._opened(self._router._send(self._messages, self._call))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        """Chat-chunk view of :meth:`deltas` (text and the final usage), for callers
        written against the Context API's chunks; tool calls and reasoning need deltas."""
        for delta in self.deltas():
            chunk = _chunk(delta)
            if chunk is not None:
                yield chunk

    def deltas(self) -> Iterator[StreamDelta]:
        if self._sent is None:
            self._opened(self._router._send(self._messages, self._call))
        try:
            try:
                for event in self._inner:
                    delta = self._feed(event)
                    if delta is not None:
                        yield delta
            except ArkResponseIncompleteError as exc:
                yield self._cut_short(exc)
            self.result = self._acc.finish()
        except BaseException:
            self._end(ok=False)
            raise
        self._end(ok=True)

    def _end(self, *, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        if self._inner is not None:
            with contextlib.suppress(Exception):
                self._inner.close()
        done = self._closing(ok)
        if done is not None:
            sent, r = done
            self._router._finish(sent.pending, self._call, r.text, r.usage, ok=r.ok, final=r.final)
            self._router._after(sent, self._call, r)

    def close(self) -> None:
        """Stop early: nothing is recorded (the next call chains from the parent)."""
        self._end(ok=False)


class AsyncResponsesStream(_StreamBase):
    """Async twin of :class:`ResponsesStream`.

    Example (``router`` is a :class:`ResponsesRouter`)::

        async with router.astream([{"role": "user", "content": "hi"}]) as s:
            text = "".join([d.text async for d in s.deltas()])
    """

    async def __aenter__(self) -> AsyncResponsesStream:
        if self._sent is None:
            self._opened(await self._router._asend(self._messages, self._call))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[ChatCompletionChunk]:
        async for delta in self.deltas():
            chunk = _chunk(delta)
            if chunk is not None:
                yield chunk

    async def deltas(self) -> AsyncIterator[StreamDelta]:
        if self._sent is None:
            self._opened(await self._router._asend(self._messages, self._call))
        try:
            try:
                async for event in self._inner:
                    delta = self._feed(event)
                    if delta is not None:
                        yield delta
            except ArkResponseIncompleteError as exc:
                yield self._cut_short(exc)
            self.result = self._acc.finish()
        except BaseException:
            await self._end(ok=False)
            raise
        await self._end(ok=True)

    async def _end(self, *, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        if self._inner is not None:
            with contextlib.suppress(Exception):
                await self._inner.aclose()
        done = self._closing(ok)
        if done is not None:
            sent, r = done
            await self._router._afinish(
                sent.pending, self._call, r.text, r.usage, ok=r.ok, final=r.final
            )
            await self._router._aafter(sent, self._call, r)

    async def aclose(self) -> None:
        await self._end(ok=False)


def _chunk(delta: StreamDelta) -> ChatCompletionChunk | None:
    """A chat chunk for a text delta or the final result (None for other deltas)."""
    from .._models import ChatCompletionChunk

    result = delta.result
    if result is not None:
        return ChatCompletionChunk.model_validate(
            {
                "id": result.id or "",
                "model": result.model or "",
                "choices": [{"delta": {}, "finish_reason": result.finish_reason}],
                "usage": usage_from(result.usage).model_dump(),
            }
        )
    if delta.text:
        return ChatCompletionChunk.model_validate({"choices": [{"delta": {"content": delta.text}}]})
    return None
