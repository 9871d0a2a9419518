"""Event streams: one core (SSE parsing, decoding, end-of-stream rules; no I/O) and two
thin shells that only read bytes, sync and async.

A *decoder* turns each SSE event into an item (a chat chunk, a Responses event) or
``None`` when the stream is over, and says what a premature end means. The chat
completion streams (:class:`ChatStream`, :class:`AsyncChatStream`) are defined here;
the Responses streams add their own decoder (:mod:`ark_context._responses_stream`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, Protocol, TypeVar

import httpx
from pydantic import ValidationError

from ._errors_map import error_from_payload, excerpt, from_transport_error
from ._exceptions import ArkError, ArkStreamError
from ._models import ChatCompletionChunk, Usage
from ._sse import SSEEvent, SSEParser

__all__ = ["AsyncChatStream", "AsyncEventStream", "ChatStream", "Decoder", "EventStream"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_DRAIN_LIMIT = 65536  # bytes read after the end so the connection can go back to the pool
_NEED = object()  # more bytes are needed before the next item
_DONE = object()  # the stream is over: drain and close
_STOP = object()  # closed by the caller: stop without reading


class Decoder(Protocol[_T_co]):
    """What a stream needs from its protocol."""

    response_id: str | None

    def decode(self, ev: SSEEvent) -> _T_co | None:
        """The item for ``ev``; ``None`` when the stream is complete."""

    def ended(self) -> ArkError | None:
        """At end of body before ``decode`` said complete: the error, or None if fine."""


def event_error(data: str, response: httpx.Response, context_call: bool) -> ArkError:
    """The error for an in-stream error event (Ark ``{"error": ...}`` or ``{"code", ...}``)
    or an unreadable event."""
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and (payload.get("error") or payload.get("code")):
        err = payload.get("error") or payload
        return error_from_payload(err, status=0, context_call=context_call, response=response)
    return ArkStreamError(f"Unreadable stream event: {excerpt(data)}", response=response)


class _StreamCore(Generic[_T]):
    """Bytes in, items out: everything a stream does except reading."""

    def __init__(self, response: httpx.Response, request_bytes: int, decoder: Decoder[_T]):
        self.response = response
        self.request_bytes = request_bytes
        self._decoder = decoder
        self._parser = SSEParser()
        self._pending: list[SSEEvent] = []
        self._pos = 0
        self._eof = False
        self._closed = False

    def _pull(self) -> object:
        """The next item of the bytes read so far, or ``_NEED`` / ``_DONE`` / ``_STOP``."""
        if self._pos < len(self._pending):
            ev = self._pending[self._pos]
            self._pos += 1
            item = self._decoder.decode(ev)
            return _DONE if item is None else item
        if self._eof:
            err = self._decoder.ended()
            if err is not None:
                raise err
            return _DONE
        return _STOP if self._closed else _NEED

    def _feed(self, raw: bytes | None) -> None:
        """Parse more of the body (``None``: it ended)."""
        if raw is None:
            self._pending, self._eof = self._parser.close(), True
        else:
            self._pending = self._parser.feed(raw)
        self._pos = 0

    def _failed(self, exc: BaseException) -> None:
        """Tag an error with the response id the stream announced (Responses API)."""
        rid = self._decoder.response_id
        if rid is not None and isinstance(exc, ArkError) and exc.response_id is None:
            exc.response_id = rid

    def _drained(self, seen: int, chunk: bytes) -> int:
        """Bytes read after the end so far; -1 once enough to give up."""
        seen += len(chunk)
        return -1 if seen > _DRAIN_LIMIT else seen

    def _forget(self) -> bool:
        """Mark closed; True if it was open (the shell then closes the response)."""
        was_open = not self._closed
        self._closed = True
        self._pending = []
        return was_open


class EventStream(_StreamCore[_T], Iterator[_T]):
    """Sync shell: reads the body with ``iter_bytes``."""

    _raw: Iterator[bytes] | None = None

    def __iter__(self) -> EventStream[_T]:
        return self

    def __next__(self) -> _T:
        try:
            item = self._pull()
            while item is _NEED:
                self._feed(self._read())
                item = self._pull()
        except BaseException as exc:
            self._failed(exc)
            self.close()
            raise
        if item is _DONE or item is _STOP:
            if item is _DONE:
                self._finish()
            raise StopIteration
        return item  # type: ignore[return-value]

    def _read(self) -> bytes | None:
        if self._raw is None:
            self._raw = self.response.iter_bytes()
        try:
            return next(self._raw)
        except StopIteration:
            return None
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, during_stream=True) from exc

    def _finish(self) -> None:
        """After the end: read the tiny rest so the connection can be reused, then close."""
        seen = 0
        try:
            for rest in self._raw or ():
                if (seen := self._drained(seen, rest)) < 0:
                    break
        except httpx.HTTPError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (idempotent)."""
        if self._forget():
            self.response.close()

    def __enter__(self) -> EventStream[_T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass


class AsyncEventStream(_StreamCore[_T], AsyncIterator[_T]):
    """Async shell: reads the body with ``aiter_bytes``; use ``async with``."""

    _araw: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncEventStream[_T]:
        return self

    async def __anext__(self) -> _T:
        try:
            item = self._pull()
            while item is _NEED:
                if self._araw is None:
                    self._araw = self.response.aiter_bytes()
                try:
                    raw: bytes | None = await self._araw.__anext__()
                except StopAsyncIteration:
                    raw = None
                except httpx.HTTPError as exc:
                    raise from_transport_error(exc, during_stream=True) from exc
                self._feed(raw)
                item = self._pull()
        except BaseException as exc:
            self._failed(exc)
            await self.aclose()
            raise
        if item is _DONE and self._araw is not None:
            seen = 0
            try:
                async for rest in self._araw:
                    if (seen := self._drained(seen, rest)) < 0:
                        break
            except httpx.HTTPError:
                pass
            finally:
                await self.aclose()
        if item is _DONE or item is _STOP:
            await self.aclose()
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    async def aclose(self) -> None:
        """Release the connection (idempotent)."""
        if self._forget():
            await self.response.aclose()

    async def __aenter__(self) -> AsyncEventStream[_T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# ---------------------------------------------------------------------------------------
# chat completion streams


class ChatDecoder:
    """Chat completion chunks; tracks ``[DONE]`` and the usage chunk."""

    __slots__ = ("context_call", "done", "response", "usage")

    response_id: str | None = None

    def __init__(self, response: httpx.Response, context_call: bool) -> None:
        self.response = response
        self.context_call = context_call
        self.done = False
        self.usage: Usage | None = None

    def decode(self, ev: SSEEvent) -> ChatCompletionChunk | None:
        data = ev.data
        if data == "[DONE]":
            self.done = True
            return None
        if ev.event == "error":
            raise event_error(data, self.response, self.context_call)
        try:
            chunk = ChatCompletionChunk.model_validate_json(data)
        except ValidationError:
            raise event_error(data, self.response, self.context_call) from None
        extra = chunk.__pydantic_extra__
        if extra and extra.get("error"):
            raise error_from_payload(
                extra["error"], status=0, context_call=self.context_call, response=self.response
            )
        if chunk.usage is not None:
            self.usage = chunk.usage
        return chunk

    def ended(self) -> ArkError:
        return ArkStreamError(
            "The stream ended without 'data: [DONE]'; the reply may be incomplete.",
            response=self.response,
        )


class _ChatInfo:
    _decoder: Any

    @property
    def usage(self) -> Usage | None:
        """The usage from the final usage chunk (None until it arrived)."""
        return self._decoder.usage  # type: ignore[no-any-return]

    @property
    def done(self) -> bool:
        """True once ``[DONE]`` was received."""
        return self._decoder.done  # type: ignore[no-any-return]


class ChatStream(_ChatInfo, EventStream[ChatCompletionChunk]):
    """Iterator over the chunks of one streamed completion.

    ``close()`` (or leaving the ``with`` block) releases the connection. Raises
    ArkStreamError if the stream ends without ``[DONE]``; an error event inside the
    stream raises the matching ArkAPIError subclass. Attributes: ``response``
    (httpx.Response), ``request_bytes`` (int, body size sent), ``usage`` (the usage
    chunk's usage, once seen).

    >>> with client.chat_stream(context_id="ctx-1", model="ep-1", messages=msgs) as s:  # doctest: +SKIP
    ...     text = "".join(chunk.text for chunk in s)
    """

    def __init__(self, response: httpx.Response, request_bytes: int, context_call: bool) -> None:
        super().__init__(response, request_bytes, ChatDecoder(response, context_call))

    def __enter__(self) -> ChatStream:
        return self


class AsyncChatStream(_ChatInfo, AsyncEventStream[ChatCompletionChunk]):
    """Async :class:`ChatStream`; use ``async with`` so an early exit releases the
    connection.

    >>> async with await aclient.chat_stream(context_id="c", model="ep", messages=m) as s:  # doctest: +SKIP
    ...     text = "".join([chunk.text async for chunk in s])
    """

    def __init__(self, response: httpx.Response, request_bytes: int, context_call: bool) -> None:
        super().__init__(response, request_bytes, ChatDecoder(response, context_call))

    async def __aenter__(self) -> AsyncChatStream:
        return self
