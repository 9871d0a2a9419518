"""HTTP clients for the Ark Context API (sync and async).

CONTRACT STUB: helper implementing issue 2 replaces the bodies; signatures are fixed
(the router and adapters code against them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ._models import ChatCompletion, ChatCompletionChunk, ContextInfo

from ._settings import DEFAULT_BASE_URL

__all__ = ["DEFAULT_BASE_URL", "ArkContextClient", "AsyncArkContextClient", "ChatStream", "AsyncChatStream"]


class ChatStream(Iterator[ChatCompletionChunk]):
    """Iterator over the chunks of one streamed completion; ``close()`` releases the
    connection. Raises ArkStreamError if the stream ends without ``[DONE]``; an error
    event inside the stream raises the matching ArkAPIError subclass.
    Attributes: ``response`` (httpx.Response), ``request_bytes`` (int, body size sent)."""

    def __next__(self) -> ChatCompletionChunk: ...
    def close(self) -> None: ...
    def __enter__(self) -> ChatStream: ...
    def __exit__(self, *exc: object) -> None: ...


class AsyncChatStream(AsyncIterator[ChatCompletionChunk]):
    async def __anext__(self) -> ChatCompletionChunk: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> AsyncChatStream: ...
    async def __aexit__(self, *exc: object) -> None: ...


class ArkContextClient:
    """Sync client.

    >>> client = ArkContextClient(api_key="k", base_url="http://127.0.0.1:8765/api/v3")
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,  # falls back to ARK_API_KEY; ArkConfigError naming it if missing
        base_url: str | None = None,  # falls back to ARK_BASE_URL, then DEFAULT_BASE_URL; scheme checked
        timeout: float | httpx.Timeout = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        sleep: Any = None,  # injectable sleep(seconds) for tests; default time.sleep
    ) -> None: ...

    def create_context(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        mode: str | None = None,
        ttl: int | None = None,
        truncation_strategy: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ContextInfo: ...

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
        ...

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
    ) -> ChatStream: ...

    def chat_completions(
        self, *, model: str, messages: Sequence[Mapping[str, Any]], request_id: str | None = None, **params: Any
    ) -> ChatCompletion: ...

    def chat_completions_stream(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        include_usage: bool = True,
        request_id: str | None = None,
        **params: Any,
    ) -> ChatStream: ...

    def close(self) -> None: ...


class AsyncArkContextClient:
    """Async twin of ArkContextClient: same arguments (http_client is an httpx.AsyncClient,
    sleep an async callable), every method awaitable; streams are AsyncChatStream."""
