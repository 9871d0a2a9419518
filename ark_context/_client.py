"""HTTP clients for the Ark Context API (sync and async), with typed errors and safe retries.

What the router relies on:

* ``create_context`` -> :class:`ContextInfo`; ``chat`` / ``chat_completions`` ->
  :class:`ChatCompletion`; ``chat_stream`` / ``chat_completions_stream`` ->
  :class:`ChatStream` (async: :class:`AsyncChatStream`).
* **Request size**: every returned ``ContextInfo`` / ``ChatCompletion`` has a
  ``request_bytes`` property (a pydantic private attribute, not a wire field) with the
  size of the JSON body sent; streams have a ``request_bytes`` attribute.
* **Retries** (``max_retries``, default 2): ``create_context`` and ``chat_completions``
  are idempotent. ``chat(..., idempotent=False)`` (session mode, the default) is retried
  only when the request provably never left (:class:`ArkConnectionError` with
  ``sent=False``); ``idempotent=True`` (common_prefix) also retries timeouts, dropped
  connections, 429, 5xx and 403 ``InvalidState``. A stream is retried only while it is
  being opened (error status before any event), never after an event was yielded.
  Backoff: full jitter, 0.5 s doubling up to 8 s; ``Retry-After`` (seconds or HTTP date)
  wins, capped at 60 s.
* **Errors**: see :mod:`ark_context._errors_map`. 404, or a "context not found/expired"
  message, on ``/context/chat/completions`` is :class:`ArkContextGoneError`.
* **Pools**: clients with the same ``(base_url, timeout)`` share one ``httpx`` pool per
  process (per event loop for async); the key is sent per request. Pass ``http_client``
  to use your own (it is never closed by this library).
* A stream abandoned early must be closed (``close()`` or ``with``) to release its
  connection; the sync stream also closes itself when garbage-collected.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import ValidationError

from ._errors_map import (
    error_from_payload,
    error_from_response,
    excerpt,
    from_transport_error,
    url_advice,
)
from ._exceptions import (
    ArkAPIError,
    ArkConfigError,
    ArkError,
    ArkInputError,
    ArkProtocolError,
    ArkStreamError,
    ArkUnsupportedError,
    register_secret,
)
from ._models import ChatCompletion, ChatCompletionChunk, ContextInfo, Usage
from ._retry import backoff_delay, should_retry
from ._sse import SSEEvent, SSEParser
from ._transport import (
    drop_none,
    encode_body,
    messages_list,
    pool_key,
    shared_async_client,
    shared_client,
)
from ._validation import DEFAULT_BASE_URL, check_base_url, check_truncation, check_ttl

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "DEFAULT_BASE_URL",
    "ArkContextClient",
    "AsyncArkContextClient",
    "AsyncChatStream",
    "ChatStream",
]

_log = logging.getLogger("ark_context")
_M = TypeVar("_M", ChatCompletion, ContextInfo)

_CONTEXT_CHAT = "/context/chat/completions"
_UNSUPPORTED_ON_CONTEXT = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "thinking",
)
_DRAIN_LIMIT = 65536  # bytes read after [DONE] so the connection can go back to the pool
_USER_AGENT = "ark-context/0.1.0"


# ---------------------------------------------------------------------------------------
# shared pieces (no I/O)


class _Config:
    """Validated settings shared by the sync and async clients."""

    __slots__ = ("api_key", "base_url", "headers", "max_retries", "pool_key", "timeout", "urls")

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("ARK_API_KEY")
        if not key or not isinstance(key, str) or not key.strip():
            raise ArkConfigError(
                "No API key: pass api_key=... or set the ARK_API_KEY environment variable."
            )
        key = key.strip()
        register_secret(key)
        if any(c in key for c in "\r\n\0 "):
            raise ArkConfigError(
                "The API key (api_key / ARK_API_KEY) contains whitespace; check it."
            )
        url = base_url or os.environ.get("ARK_BASE_URL") or DEFAULT_BASE_URL
        if not isinstance(url, str):
            raise ArkConfigError(f"base_url must be a string; got {type(url).__name__}.")
        self.base_url = check_base_url(url)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, httpx.Timeout)):
            raise ArkConfigError(
                f"timeout must be seconds (a number) or an httpx.Timeout; got {timeout!r}."
            )
        if not isinstance(timeout, httpx.Timeout) and timeout <= 0:
            raise ArkConfigError(f"timeout must be > 0 seconds; got {timeout!r}.")
        self.timeout = timeout
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ArkConfigError(f"max_retries must be an int >= 0; got {max_retries!r}.")
        self.max_retries = max_retries
        self.api_key = key
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        for name, value in (default_headers or {}).items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ArkConfigError("default_headers must map str to str.")
            if name.lower() == "authorization":
                raise ArkConfigError(
                    "default_headers must not set Authorization; pass api_key instead."
                )
            headers[name] = value
        self.headers = headers
        self.pool_key = pool_key(self.base_url, timeout)
        self.urls = {
            "create": self.base_url + "/context/create",
            "context": self.base_url + _CONTEXT_CHAT,
            "plain": self.base_url + "/chat/completions",
        }

    def describe(self, cls: str) -> str:
        t = self.timeout if not isinstance(self.timeout, httpx.Timeout) else self.timeout.read
        return f"{cls}(base_url={self.base_url!r}, timeout={t!r}, max_retries={self.max_retries})"

    def request_headers(self, request_id: str | None, stream: bool) -> dict[str, str]:
        if request_id is None and not stream:
            return self.headers
        headers = dict(self.headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        if request_id is not None:
            if (
                not isinstance(request_id, str)
                or not request_id
                or "\n" in request_id
                or "\r" in request_id
            ):
                raise ArkInputError("request_id must be a non-empty single-line string.")
            headers["X-Client-Request-Id"] = request_id
        return headers


def _check_model(model: Any) -> None:
    if not isinstance(model, str) or not model:
        raise ArkInputError("model must be your Ark endpoint id, e.g. model='ep-2024...'.")


def _create_body(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    mode: str | None,
    ttl: int | None,
    truncation_strategy: Mapping[str, Any] | None,
) -> bytes:
    _check_model(model)
    body: dict[str, Any] = {"model": model, "messages": messages_list(messages, "create_context")}
    if mode is not None:
        if mode not in ("session", "common_prefix"):
            raise ArkConfigError(f"mode must be 'session' or 'common_prefix'; got {mode!r}.")
        body["mode"] = mode
    if ttl is not None:
        body["ttl"] = check_ttl(ttl)
    if truncation_strategy is not None:
        body["truncation_strategy"] = check_truncation(mode or "session", dict(truncation_strategy))
    return encode_body(drop_none(body))


def _chat_body(
    where: str,
    context_id: str | None,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    stream: bool,
    include_usage: bool,
) -> bytes:
    _check_model(model)
    if "stream" in params:
        raise ArkInputError(f"{where}: do not pass stream=...; call the *_stream method instead.")
    body: dict[str, Any] = {}
    if context_id is not None:
        if not isinstance(context_id, str) or not context_id:
            raise ArkInputError(
                f"{where}: context_id must be the id create_context returned (ctx-...)."
            )
        for name in _UNSUPPORTED_ON_CONTEXT:
            if params.get(name) is not None:
                raise ArkUnsupportedError(
                    f"{where}: {name!r} is not supported by the Ark Context API."
                )
        if params.get("service_tier") == "auto":
            raise ArkUnsupportedError(
                f"{where}: service_tier='auto' is not supported on context chat; omit it or use 'default'."
            )
        body["context_id"] = context_id
    body["model"] = model
    body["messages"] = messages_list(messages, where)
    if params:
        body.update(params)
    if stream:
        body["stream"] = True
        if include_usage:
            opts = body.get("stream_options")
            body["stream_options"] = (
                {**opts, "include_usage": True}
                if isinstance(opts, Mapping)
                else {"include_usage": True}
            )
    return encode_body(drop_none(body))


def _parse(response: httpx.Response, model: type[_M], context_call: bool, size: int) -> _M:
    """Validate a 2xx answer; a 200 carrying ``{"error": ...}`` raises the mapped error."""
    content = response.content
    try:
        obj = model.model_validate_json(content)
    except ValidationError:
        raise _bad_success(response, context_call) from None
    extra = obj.__pydantic_extra__
    if extra and extra.get("error"):
        raise error_from_payload(
            extra["error"], status=0, context_call=context_call, response=response
        )
    if model is ChatCompletion and "choices" not in obj.model_fields_set:
        raise _bad_success(response, context_call)  # some other JSON: not a completion
    obj._request_bytes = size
    return obj


def _bad_success(response: httpx.Response, context_call: bool) -> ArkError:
    import json

    content = response.content
    ctype = response.headers.get("content-type", "") or "no content type"
    try:
        payload = json.loads(content)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        return error_from_payload(
            payload["error"], status=0, context_call=context_call, response=response
        )
    if "json" not in ctype:
        what = f"a {ctype} answer, not JSON"
    elif payload is None:
        what = "malformed JSON"
    else:
        what = "JSON of an unexpected shape"
    text = excerpt(content) if content else "(empty body)"
    return ArkProtocolError(
        f"HTTP {response.status_code}: {what}: {text}. {url_advice(response)}",
        response=response,
    )


def _stream_open_error(response: httpx.Response, context_call: bool) -> ArkError:
    """Error for a stream whose (read) answer is not an event stream."""
    if response.status_code >= 300:
        return error_from_response(response, context_call=context_call)
    err = _bad_success(response, context_call)
    if isinstance(err, ArkAPIError):
        return err
    ctype = response.headers.get("content-type", "") or "no content type"
    return ArkProtocolError(
        f"Expected an event stream (text/event-stream) but got {ctype}: "
        f"{excerpt(response.content) or '(empty body)'}. {url_advice(response)}",
        response=response,
    )


def _is_event_stream(response: httpx.Response) -> bool:
    return response.status_code < 300 and "text/event-stream" in response.headers.get(
        "content-type", ""
    )


def _log_retry(url: str, attempt: int, delay: float, exc: ArkError) -> None:
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug(
            "ark_context retry %d in %.2fs after %s on %s: %s",
            attempt + 1,
            delay,
            type(exc).__name__,
            url,
            exc.message[:200],
        )


class _ChunkDecoder:
    """Turns SSE events into chunks; tracks ``[DONE]`` and the usage chunk."""

    __slots__ = ("context_call", "done", "response", "usage")

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
            raise self._error_event(data)
        try:
            chunk = ChatCompletionChunk.model_validate_json(data)
        except ValidationError:
            raise self._error_event(data) from None
        extra = chunk.__pydantic_extra__
        if extra and extra.get("error"):
            raise error_from_payload(
                extra["error"], status=0, context_call=self.context_call, response=self.response
            )
        if chunk.usage is not None:
            self.usage = chunk.usage
        return chunk

    def _error_event(self, data: str) -> ArkError:
        import json

        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and (payload.get("error") or payload.get("code")):
            err = payload.get("error") or payload
            return error_from_payload(
                err, status=0, context_call=self.context_call, response=self.response
            )
        return ArkStreamError(f"Unreadable stream event: {excerpt(data)}", response=self.response)

    def ended(self) -> ArkStreamError:
        return ArkStreamError(
            "The stream ended without 'data: [DONE]'; the reply may be incomplete.",
            response=self.response,
        )


# ---------------------------------------------------------------------------------------
# streams


_NEED = object()  # more bytes are needed before the next event
_DONE = object()  # [DONE] arrived


class _StreamState:
    """What both stream classes share: SSE parsing and chunk decoding, no I/O."""

    def __init__(self, response: httpx.Response, request_bytes: int, context_call: bool) -> None:
        self.response = response
        self.request_bytes = request_bytes
        self._decoder = _ChunkDecoder(response, context_call)
        self._parser = SSEParser()
        self._pending: list[SSEEvent] = []
        self._pos = 0
        self._closed = False

    @property
    def usage(self) -> Usage | None:
        """The usage from the final usage chunk (None until it arrived)."""
        return self._decoder.usage

    @property
    def done(self) -> bool:
        """True once ``[DONE]`` was received."""
        return self._decoder.done

    def _next_pending(self) -> object:
        """The next decoded chunk of the bytes read so far, ``_DONE`` or ``_NEED``."""
        if self._pos < len(self._pending):
            ev = self._pending[self._pos]
            self._pos += 1
            chunk = self._decoder.decode(ev)
            return _DONE if chunk is None else chunk
        return _NEED

    def _absorb(self, raw: bytes | None) -> None:
        """Parse more of the body (``None``: it ended; without [DONE] that is an error)."""
        events = self._parser.close() if raw is None else self._parser.feed(raw)
        if raw is None and not events:
            raise self._decoder.ended()
        self._pending, self._pos = events, 0


class ChatStream(_StreamState, Iterator[ChatCompletionChunk]):
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
        _StreamState.__init__(self, response, request_bytes, context_call)
        self._raw = response.iter_bytes()

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        while True:
            try:
                item = self._next_pending()
                if item is _NEED:
                    if self._closed:
                        raise StopIteration
                    try:
                        raw: bytes | None = next(self._raw)
                    except StopIteration:
                        raw = None
                    except httpx.HTTPError as exc:
                        raise from_transport_error(exc, during_stream=True) from exc
                    self._absorb(raw)
                    continue
            except StopIteration:
                raise
            except BaseException:
                self.close()
                raise
            if item is _DONE:
                self._finish()
                raise StopIteration
            return item  # type: ignore[return-value]

    def _finish(self) -> None:
        """After [DONE]: read the tiny rest so the connection can be reused, then close."""
        if self._closed:
            return
        try:
            seen = 0
            for rest in self._raw:
                seen += len(rest)
                if seen > _DRAIN_LIMIT:
                    break
        except httpx.HTTPError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._pending = []
            self.response.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass


class AsyncChatStream(_StreamState, AsyncIterator[ChatCompletionChunk]):
    """Async twin of :class:`ChatStream`; use ``async with`` so an early exit releases
    the connection.

    >>> async with await aclient.chat_stream(context_id="c", model="ep", messages=m) as s:  # doctest: +SKIP
    ...     text = "".join([chunk.text async for chunk in s])
    """

    def __init__(self, response: httpx.Response, request_bytes: int, context_call: bool) -> None:
        _StreamState.__init__(self, response, request_bytes, context_call)
        self._araw = response.aiter_bytes()

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        while True:
            try:
                item = self._next_pending()
                if item is _NEED:
                    if self._closed:
                        raise StopAsyncIteration
                    try:
                        raw: bytes | None = await self._araw.__anext__()
                    except StopAsyncIteration:
                        raw = None
                    except httpx.HTTPError as exc:
                        raise from_transport_error(exc, during_stream=True) from exc
                    self._absorb(raw)
                    continue
            except StopAsyncIteration:
                raise
            except BaseException:
                await self.aclose()
                raise
            if item is _DONE:
                await self._finish()
                raise StopAsyncIteration
            return item  # type: ignore[return-value]

    async def _finish(self) -> None:
        if self._closed:
            return
        try:
            seen = 0
            async for rest in self._araw:
                seen += len(rest)
                if seen > _DRAIN_LIMIT:
                    break
        except httpx.HTTPError:
            pass
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Release the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._pending = []
            await self.response.aclose()

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# ---------------------------------------------------------------------------------------
# sync client


class ArkContextClient:
    """Sync client for ``/context/create``, ``/context/chat/completions`` and ``/chat/completions``.

    >>> client = ArkContextClient(api_key="k", base_url="http://127.0.0.1:8765/api/v3")
    >>> client
    ArkContextClient(base_url='http://127.0.0.1:8765/api/v3', timeout=60.0, max_retries=2)
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], Any] | None = None,
        share_pool: bool = True,
    ) -> None:
        """``api_key`` falls back to ``ARK_API_KEY`` (ArkConfigError naming it when missing);
        ``base_url`` to ``ARK_BASE_URL``, then :data:`DEFAULT_BASE_URL`. ``http_client`` is
        used as given and never closed (it keeps its own timeout). ``share_pool=False``
        gives this client a private pool that :meth:`close` closes. ``sleep`` replaces
        ``time.sleep`` (tests)."""
        self._cfg = _Config(api_key, base_url, timeout, max_retries, default_headers)
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ArkConfigError(
                f"http_client must be an httpx.Client; got {type(http_client).__name__} "
                "(use AsyncArkContextClient for an httpx.AsyncClient)."
            )
        self._injected = http_client is not None
        self._shared = http_client is None and share_pool
        if http_client is not None:
            self._http = http_client
        elif share_pool:
            self._http = shared_client(self._cfg.pool_key)
        else:
            self._http = httpx.Client(timeout=self._cfg.timeout)
        self._sleep: Callable[[float], Any] = sleep or time.sleep

    def __repr__(self) -> str:
        return self._cfg.describe(type(self).__name__)

    @property
    def base_url(self) -> str:
        """The API base URL in use."""
        return self._cfg.base_url

    @property
    def max_retries(self) -> int:
        """Retries for retryable errors (see the module docstring)."""
        return self._cfg.max_retries

    def _client(self) -> httpx.Client:
        http = self._http
        if self._shared and http.is_closed:  # the shared pools were closed (tests, shutdown)
            http = self._http = shared_client(self._cfg.pool_key)
        return http

    # -- public API ----------------------------------------------------------------

    def create_context(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        mode: str | None = None,
        ttl: int | None = None,
        truncation_strategy: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ContextInfo:
        """POST /context/create (idempotent: every retryable error is retried)."""
        content = _create_body(model, messages, mode, ttl, truncation_strategy)
        headers = self._cfg.request_headers(request_id, False)
        return self._call(self._cfg.urls["create"], content, headers, ContextInfo, True, False)

    def chat(
        self,
        *,
        context_id: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        idempotent: bool = False,
        request_id: str | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """POST /context/chat/completions. ``idempotent=False`` (session mode): retry only
        errors raised before the request was sent. ``idempotent=True`` (common_prefix):
        also retry timeouts, dropped connections, 429, 5xx and 403 InvalidState."""
        content = _chat_body("chat", context_id, model, messages, params, False, False)
        headers = self._cfg.request_headers(request_id, False)
        return self._call(
            self._cfg.urls["context"], content, headers, ChatCompletion, idempotent, True
        )

    def chat_stream(
        self,
        *,
        context_id: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        idempotent: bool = False,
        include_usage: bool = True,
        request_id: str | None = None,
        **params: Any,
    ) -> ChatStream:
        """Streaming :meth:`chat`; retries (by the same rules) only while opening."""
        content = _chat_body(
            "chat_stream", context_id, model, messages, params, True, include_usage
        )
        headers = self._cfg.request_headers(request_id, True)
        return self._open(self._cfg.urls["context"], content, headers, idempotent, True)

    def chat_completions(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        request_id: str | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """POST /chat/completions (no context; idempotent)."""
        content = _chat_body("chat_completions", None, model, messages, params, False, False)
        headers = self._cfg.request_headers(request_id, False)
        return self._call(self._cfg.urls["plain"], content, headers, ChatCompletion, True, False)

    def chat_completions_stream(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        include_usage: bool = True,
        request_id: str | None = None,
        **params: Any,
    ) -> ChatStream:
        """Streaming :meth:`chat_completions`."""
        content = _chat_body(
            "chat_completions_stream", None, model, messages, params, True, include_usage
        )
        headers = self._cfg.request_headers(request_id, True)
        return self._open(self._cfg.urls["plain"], content, headers, True, False)

    def close(self) -> None:
        """Close a private pool (``share_pool=False``); shared and injected pools stay open."""
        if not self._injected and not self._shared:
            self._http.close()

    def __enter__(self) -> ArkContextClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- machinery -----------------------------------------------------------------

    def _call(
        self,
        url: str,
        content: bytes,
        headers: dict[str, str],
        model: type[_M],
        idempotent: bool,
        context_call: bool,
    ) -> _M:
        attempt = 0
        while True:
            try:
                try:
                    response = self._client().post(url, content=content, headers=headers)
                except httpx.HTTPError as exc:
                    raise from_transport_error(exc) from exc
                if response.status_code >= 300:
                    raise error_from_response(response, context_call=context_call)
                return _parse(response, model, context_call, len(content))
            except ArkError as exc:
                if attempt >= self._cfg.max_retries or not should_retry(exc, idempotent=idempotent):
                    raise
                delay = backoff_delay(attempt, getattr(exc, "retry_after", None))
                _log_retry(url, attempt, delay, exc)
                self._sleep(delay)
                attempt += 1

    def _open(
        self,
        url: str,
        content: bytes,
        headers: dict[str, str],
        idempotent: bool,
        context_call: bool,
    ) -> ChatStream:
        attempt = 0
        while True:
            try:
                http = self._client()
                request = http.build_request("POST", url, content=content, headers=headers)
                try:
                    response = http.send(request, stream=True)
                except httpx.HTTPError as exc:
                    raise from_transport_error(exc) from exc
                if _is_event_stream(response) or (
                    response.status_code < 300 and "content-type" not in response.headers
                ):
                    return ChatStream(response, len(content), context_call)
                try:
                    response.read()
                except httpx.HTTPError as exc:
                    raise from_transport_error(exc) from exc
                finally:
                    response.close()
                raise _stream_open_error(response, context_call)
            except ArkError as exc:
                if attempt >= self._cfg.max_retries or not should_retry(exc, idempotent=idempotent):
                    raise
                delay = backoff_delay(attempt, getattr(exc, "retry_after", None))
                _log_retry(url, attempt, delay, exc)
                self._sleep(delay)
                attempt += 1


# ---------------------------------------------------------------------------------------
# async client


async def _async_sleep(seconds: float) -> None:
    import asyncio  # on first use: sync-only programs never load asyncio

    await asyncio.sleep(seconds)


class AsyncArkContextClient:
    """Async twin of :class:`ArkContextClient`: same arguments (``http_client`` is an
    ``httpx.AsyncClient``, ``sleep`` an async callable), every method awaitable;
    streams are :class:`AsyncChatStream`.

    >>> aclient = AsyncArkContextClient(api_key="k", base_url="http://127.0.0.1:8765/api/v3")
    >>> aclient
    AsyncArkContextClient(base_url='http://127.0.0.1:8765/api/v3', timeout=60.0, max_retries=2)
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        share_pool: bool = True,
    ) -> None:
        """See :class:`ArkContextClient`. Shared pools are per running event loop."""
        self._cfg = _Config(api_key, base_url, timeout, max_retries, default_headers)
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise ArkConfigError(
                f"http_client must be an httpx.AsyncClient; got {type(http_client).__name__} "
                "(use ArkContextClient for an httpx.Client)."
            )
        self._injected = http_client
        self._share = share_pool
        self._private: httpx.AsyncClient | None = None
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._http: httpx.AsyncClient | None = None
        self._sleep: Callable[[float], Awaitable[Any]] = sleep or _async_sleep

    def __repr__(self) -> str:
        return self._cfg.describe(type(self).__name__)

    @property
    def base_url(self) -> str:
        """The API base URL in use."""
        return self._cfg.base_url

    @property
    def max_retries(self) -> int:
        """Retries for retryable errors (see the module docstring)."""
        return self._cfg.max_retries

    def _client(self) -> httpx.AsyncClient:
        if self._injected is not None:
            return self._injected
        import asyncio

        loop = asyncio.get_running_loop()
        ref = self._loop
        http = self._http
        if ref is not None and ref() is loop and http is not None and not http.is_closed:
            return http
        if self._share:
            http = shared_async_client(self._cfg.pool_key)
        else:
            if (
                self._private is not None
                and not self._private.is_closed
                and ref is not None
                and ref() is loop
            ):
                http = self._private
            else:
                http = self._private = httpx.AsyncClient(timeout=self._cfg.timeout)
        self._http = http
        self._loop = weakref.ref(loop)
        return http

    # -- public API ----------------------------------------------------------------

    async def create_context(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        mode: str | None = None,
        ttl: int | None = None,
        truncation_strategy: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ContextInfo:
        """POST /context/create (idempotent: every retryable error is retried)."""
        content = _create_body(model, messages, mode, ttl, truncation_strategy)
        headers = self._cfg.request_headers(request_id, False)
        return await self._call(
            self._cfg.urls["create"], content, headers, ContextInfo, True, False
        )

    async def chat(
        self,
        *,
        context_id: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        idempotent: bool = False,
        request_id: str | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """POST /context/chat/completions; retry rules as :meth:`ArkContextClient.chat`."""
        content = _chat_body("chat", context_id, model, messages, params, False, False)
        headers = self._cfg.request_headers(request_id, False)
        return await self._call(
            self._cfg.urls["context"], content, headers, ChatCompletion, idempotent, True
        )

    async def chat_stream(
        self,
        *,
        context_id: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        idempotent: bool = False,
        include_usage: bool = True,
        request_id: str | None = None,
        **params: Any,
    ) -> AsyncChatStream:
        """Streaming :meth:`chat`; retries only while opening."""
        content = _chat_body(
            "chat_stream", context_id, model, messages, params, True, include_usage
        )
        headers = self._cfg.request_headers(request_id, True)
        return await self._open(self._cfg.urls["context"], content, headers, idempotent, True)

    async def chat_completions(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        request_id: str | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """POST /chat/completions (no context; idempotent)."""
        content = _chat_body("chat_completions", None, model, messages, params, False, False)
        headers = self._cfg.request_headers(request_id, False)
        return await self._call(
            self._cfg.urls["plain"], content, headers, ChatCompletion, True, False
        )

    async def chat_completions_stream(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        include_usage: bool = True,
        request_id: str | None = None,
        **params: Any,
    ) -> AsyncChatStream:
        """Streaming :meth:`chat_completions`."""
        content = _chat_body(
            "chat_completions_stream", None, model, messages, params, True, include_usage
        )
        headers = self._cfg.request_headers(request_id, True)
        return await self._open(self._cfg.urls["plain"], content, headers, True, False)

    async def aclose(self) -> None:
        """Close a private pool (``share_pool=False``); shared and injected pools stay open."""
        if self._private is not None:
            await self._private.aclose()
            self._private = None
            self._http = None

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncArkContextClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- machinery -----------------------------------------------------------------

    async def _call(
        self,
        url: str,
        content: bytes,
        headers: dict[str, str],
        model: type[_M],
        idempotent: bool,
        context_call: bool,
    ) -> _M:
        attempt = 0
        while True:
            try:
                try:
                    response = await self._client().post(url, content=content, headers=headers)
                except httpx.HTTPError as exc:
                    raise from_transport_error(exc) from exc
                if response.status_code >= 300:
                    raise error_from_response(response, context_call=context_call)
                return _parse(response, model, context_call, len(content))
            except ArkError as exc:
                if attempt >= self._cfg.max_retries or not should_retry(exc, idempotent=idempotent):
                    raise
                delay = backoff_delay(attempt, getattr(exc, "retry_after", None))
                _log_retry(url, attempt, delay, exc)
                await self._sleep(delay)
                attempt += 1

    async def _open(
        self,
        url: str,
        content: bytes,
        headers: dict[str, str],
        idempotent: bool,
        context_call: bool,
    ) -> AsyncChatStream:
        attempt = 0
        while True:
            try:
                http = self._client()
                request = http.build_request("POST", url, content=content, headers=headers)
                try:
                    response = await http.send(request, stream=True)
                except httpx.HTTPError as exc:
                    raise from_transport_error(exc) from exc
                if _is_event_stream(response) or (
                    response.status_code < 300 and "content-type" not in response.headers
                ):
                    return AsyncChatStream(response, len(content), context_call)
                try:
                    await response.aread()
                except httpx.HTTPError as exc:
                    raise from_transport_error(exc) from exc
                finally:
                    await response.aclose()
                raise _stream_open_error(response, context_call)
            except ArkError as exc:
                if attempt >= self._cfg.max_retries or not should_retry(exc, idempotent=idempotent):
                    raise
                delay = backoff_delay(attempt, getattr(exc, "retry_after", None))
                _log_retry(url, attempt, delay, exc)
                await self._sleep(delay)
                attempt += 1
