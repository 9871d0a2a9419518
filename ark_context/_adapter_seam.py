"""The adapter seam: what an adapter (LangChain, LlamaIndex, ...) needs from the core.

An adapter subclasses :class:`~ark_context.ArkContextParams` next to its framework base.
That gives it the settings (fields, env vars, validation), the request fields for one call
(``ark_sampling_params``) and, through ``ark_router(model)``, an :class:`ArkRouter`: the
routing calls below. Each call hands back a :class:`~ark_context.RoutedCompletion` (or a
stream whose ``route`` and ``usage`` fill in), whose ``metadata()`` is the flat usage and
route metadata both adapters publish. Adapters type against these protocols, not against
the router's class, so the router can change shape behind them.

>>> from ark_context import ArkContextParams, ArkRouter
>>> router: ArkRouter = ArkContextParams(model="ep-1", api_key="k").ark_router()
>>> callable(router.chat) and callable(router.astream)
True
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._messages import WireMessage
    from ._models import ChatCompletionChunk, Usage
    from ._route_types import RoutedCompletion, RouteInfo

__all__ = ["ArkRouter", "ArkStream", "AsyncArkStream"]


class ArkStream(Protocol):
    """A routed, streamed completion (sync): a context manager over its chunks.

    ``route`` is set once the stream is open; ``usage`` once the server sent it. The turn is
    recorded only when the stream ends normally; closing early drops the context.

    Example (``router`` is an :class:`ArkRouter`)::

        with router.stream([{"role": "user", "content": "hi"}]) as s:
            text = "".join(chunk.text for chunk in s)
        print(s.route.outcome, s.usage)
    """

    @property
    def route(self) -> RouteInfo | None: ...

    @property
    def usage(self) -> Usage | None: ...

    def __enter__(self) -> ArkStream: ...

    def __exit__(self, *exc: object) -> None: ...

    def __iter__(self) -> Iterator[ChatCompletionChunk]: ...

    def close(self) -> None: ...


class AsyncArkStream(Protocol):
    """Async twin of :class:`ArkStream`.

    Example (``router`` is an :class:`ArkRouter`)::

        async with router.astream([{"role": "user", "content": "hi"}]) as s:
            text = "".join([chunk.text async for chunk in s])
    """

    @property
    def route(self) -> RouteInfo | None: ...

    @property
    def usage(self) -> Usage | None: ...

    async def __aenter__(self) -> AsyncArkStream: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]: ...

    async def aclose(self) -> None: ...


class ArkRouter(Protocol):
    """The routing calls: send the caller's whole conversation, get a routed completion.

    ``messages`` is the full history (the router decides which server-side state to reuse);
    ``params`` the request fields for this call; ``request_id`` is sent as
    ``X-Client-Request-Id``.

    >>> from ark_context import ArkContextParams
    >>> settings = ArkContextParams(model="ep-1", api_key="k", base_url="http://127.0.0.1:9/api/v3")
    >>> router: ArkRouter = settings.ark_router()
    >>> router is settings.ark_router(), router is settings.ark_router("ep-2")
    (True, False)
    """

    def chat(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> RoutedCompletion: ...

    async def achat(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> RoutedCompletion: ...

    def stream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> ArkStream: ...

    def astream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> AsyncArkStream: ...
