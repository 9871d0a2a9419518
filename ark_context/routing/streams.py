"""Routed streams: iterate chunks (or normalised deltas); the turn is recorded only when
the stream completes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .._messages import WireMessage
    from .._models import ChatCompletionChunk, Usage
    from .._replies import ResponsesResult
    from .._reply_stream import StreamDelta
    from .._route_types import RouteInfo
    from .backend import CallSpec
    from .flows import Pending
    from .router import ContextRouter

__all__ = ["AsyncRoutedStream", "RoutedStream"]


class _StreamBase:
    route: RouteInfo | None
    usage: Usage | None

    def __init__(
        self, router: ContextRouter, messages: Sequence[WireMessage], call: CallSpec
    ) -> None:
        self._router = router
        self._messages = messages
        self._call = call
        self._pending: Pending | None = None
        self._inner: Any = None
        self._parts: list[str] = []
        self._done = False
        self.route = None
        self.usage = None
        self.finish_reason: str | None = None
        self.result: ResponsesResult | None = None

    def _opened(self, pending: Pending, inner: object) -> None:
        from .backend import stamp

        self._pending, self._inner = pending, inner
        self.route = stamp(pending.route, self._call)

    def _absorb(self, chunk: ChatCompletionChunk) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.choices:
            c = chunk.choices[0]
            if c.delta.content:
                self._parts.append(c.delta.content)
            if c.finish_reason:
                self.finish_reason = c.finish_reason

    @property
    def text(self) -> str:
        """The reply text received so far."""
        return "".join(self._parts)


class RoutedStream(_StreamBase, Iterator["ChatCompletionChunk"]):
    """A routed, streamed completion: iterate chunks; ``route`` and ``usage`` fill in.

    The turn is recorded only when the stream ends with ``[DONE]``. Closing it early
    (or any error) drops the context: the next call starts from the caller's history.

    Example (``router`` is a :class:`~ark_context.routing.ContextRouter`)::

        with router.stream([{"role": "user", "content": "hi"}]) as s:
            text = "".join(chunk.text for chunk in s)
    """

    def _open(self) -> None:
        sent = self._router._send(self._messages, self._call)
        self._opened(sent.pending, sent.result)

    def __enter__(self) -> RoutedStream:
        if self._pending is None:
            self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> RoutedStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._done:
            raise StopIteration
        if self._pending is None:
            self._open()
        try:
            chunk = next(self._inner)
        except StopIteration:
            self._end(ok=True)
            raise
        except BaseException:
            self._end(ok=False)
            raise
        self._absorb(chunk)
        return cast("ChatCompletionChunk", chunk)

    def deltas(self) -> Iterator[StreamDelta]:
        """The stream as normalised deltas (text, reasoning, tool-call fragments); the
        last one carries the final ``result`` (also kept on :attr:`result`)."""
        from .._reply_stream import ChatCompletionStreamAccumulator

        acc = ChatCompletionStreamAccumulator()
        for chunk in self:
            yield from acc.feed(chunk.model_dump())
        final = acc.finish()
        self.result = final.result
        yield final

    def _end(self, *, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        inner, pending = self._inner, self._pending
        if inner is not None:
            with contextlib.suppress(Exception):  # must not mask the cause
                inner.close()
        if pending is not None:
            self._router._finish(pending, self._call, self.text, self.usage, ok=ok, final=inner)

    def close(self) -> None:
        """Stop early. An unfinished stream drops its context (never recorded)."""
        self._end(ok=False)

    def __del__(self) -> None:
        if not self._done and self._pending is not None:
            with contextlib.suppress(Exception):
                self.close()


class AsyncRoutedStream(_StreamBase, AsyncIterator["ChatCompletionChunk"]):
    """Async twin of :class:`RoutedStream`.

    Example (``router`` is a :class:`~ark_context.routing.ContextRouter`)::

        async with router.astream([{"role": "user", "content": "hi"}]) as s:
            text = "".join([chunk.text async for chunk in s])
    """

    async def _open(self) -> None:
        sent = await self._router._asend(self._messages, self._call)
        self._opened(sent.pending, sent.result)

    async def __aenter__(self) -> AsyncRoutedStream:
        if self._pending is None:
            await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncRoutedStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._done:
            raise StopAsyncIteration
        if self._pending is None:
            await self._open()
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            await self._end(ok=True)
            raise
        except BaseException:
            await self._end(ok=False)
            raise
        self._absorb(chunk)
        return cast("ChatCompletionChunk", chunk)

    async def deltas(self) -> AsyncIterator[StreamDelta]:
        """Async twin of :meth:`RoutedStream.deltas`."""
        from .._reply_stream import ChatCompletionStreamAccumulator

        acc = ChatCompletionStreamAccumulator()
        async for chunk in self:
            for delta in acc.feed(chunk.model_dump()):
                yield delta
        final = acc.finish()
        self.result = final.result
        yield final

    async def _end(self, *, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        inner, pending = self._inner, self._pending
        if inner is not None:
            with contextlib.suppress(Exception):
                await inner.aclose()
        if pending is not None:
            await self._router._afinish(
                pending, self._call, self.text, self.usage, ok=ok, final=inner
            )

    async def aclose(self) -> None:
        """Stop early. An unfinished stream drops its context (never recorded)."""
        await self._end(ok=False)

    def __del__(self) -> None:
        # Abandoned without aclose(): mark the context failed with the sync store API (a
        # finalizer cannot await), so it is never reused and not left "claimed".
        if not self._done and self._pending is not None:
            self._done = True
            with contextlib.suppress(Exception):
                self._router._finish(self._pending, self._call, self.text, None, ok=False)
