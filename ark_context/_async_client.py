"""The async client (:class:`AsyncArkContextClient`): an I/O shell around the shared core
(see :mod:`ark_context._client` for what lives where)."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from typing_extensions import Unpack

from ._api import ContextMethods
from ._exceptions import ArkConfigError
from ._flows import Flow, run_async
from ._models import ChatCompletion, ContextInfo
from ._requests import ClientConfig, ClientSettings
from ._streams import AsyncChatStream
from ._transport import shared_async_client

if TYPE_CHECKING:
    import asyncio

    from ._responses_api import Responses
    from ._responses_models import DeletedResponse, InputItem, InputItemList, Response
    from ._responses_stream import AsyncResponseStream

__all__ = ["AsyncArkContextClient"]


async def _async_sleep(seconds: float) -> None:
    import asyncio  # on first use: sync-only programs never load asyncio

    await asyncio.sleep(seconds)


class AsyncArkContextClient(
    ContextMethods[Awaitable[ContextInfo], Awaitable[ChatCompletion], Awaitable[AsyncChatStream]]
):
    """Async :class:`~ark_context.ArkContextClient`: same arguments (``http_client`` is an
    ``httpx.AsyncClient``, ``sleep`` an async callable), every method awaitable;
    streams are :class:`AsyncChatStream`.

    >>> AsyncArkContextClient(api_key="k", base_url="http://127.0.0.1:8765/api/v3")
    AsyncArkContextClient(base_url='http://127.0.0.1:8765/api/v3', timeout=60.0, max_retries=2)
    """

    _stream_cls = AsyncChatStream

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        share_pool: bool = True,
        **settings: Unpack[ClientSettings],
    ) -> None:
        """See :class:`ArkContextClient`. Shared pools are per running event loop."""
        self._cfg = ClientConfig.of(type(self).__name__, settings)
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

    async def _drive(self, flow: Flow[Any]) -> Any:
        return await run_async(flow, self._client(), self._sleep)

    def _run(self, flow: Flow[Any]) -> Awaitable[Any]:
        return self._drive(flow)

    @property
    def responses(
        self,
    ) -> Responses[
        Awaitable[Response],
        Awaitable[AsyncResponseStream],
        Awaitable[DeletedResponse],
        Awaitable[InputItemList],
        Awaitable[list[InputItem]],
    ]:
        """The Responses API calls, awaitable (see :class:`ark_context.Responses`)."""
        from ._responses_stream import AsyncResponseStream

        return self._responses_api(AsyncResponseStream)

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
