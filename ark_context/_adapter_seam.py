"""The adapter seam: what an adapter (LangChain, LlamaIndex, ...) needs from the core.

An adapter subclasses :class:`~ark_context.ArkContextParams` next to its framework base.
That gives it the settings (fields, env vars, validation), the request fields for one call
(``ark_sampling_params``) and, through ``ark_router(model)``, an :class:`ArkRouter` over
the caching API the model uses (``router.api``: ``"context"`` or ``"responses"``; see
``caching_api``). Adapters type against these protocols, not against a router class, so
both backends look the same to them.

**The contract (both APIs).**

* ``messages``: the whole conversation in wire form (``ark_context.conversation``):
  ``{"role", "content"}``, assistant ``tool_calls``
  (``[{"id", "type": "function", "function": {"name", "arguments"}}]``) and
  ``{"role": "tool", "tool_call_id", "content"}`` results.
* ``params``: chat-completions-shaped request fields. Besides the sampling fields
  (``temperature``, ``top_p``, ``max_tokens``, ``stop``, ...): ``tools`` (chat shape,
  ``{"type": "function", "function": {...}}``), ``tool_choice`` (``"auto"``, ``"none"``,
  ``"required"`` or ``{"type": "function", "function": {"name"}}``),
  ``parallel_tool_calls``, ``response_format`` (``{"type": "json_object"}`` or
  ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``), ``thinking``
  (``{"type": "enabled" | "disabled" | "auto"}``) and ``reasoning_effort``
  (``"minimal" | "low" | "medium" | "high"``). The Responses backend converts them; the
  Context backend sends a call with tools, tool messages, ``response_format`` or
  ``thinking`` as a plain ``/chat/completions`` call (``bypassed``, reason ``tools`` or
  ``params``).
* ``chat``/``achat`` return a :class:`~ark_context.RoutedCompletion`: ``.result`` is a
  :class:`~ark_context.conversation.ResponsesResult` (``text``, ``tool_calls`` in wire
  form, ``reasoning``, ``usage``: :class:`~ark_context.conversation.ResponsesUsage` with
  ``input_tokens`` (incl. cached), ``cached_tokens``, ``output_tokens`` (incl.
  reasoning), ``reasoning_tokens``; ``finish_reason``; ``incomplete_reason``; ``id``;
  ``model``; ``wire_message()``: the assistant message to put back in the history);
  ``.route`` (:class:`~ark_context.RouteInfo`), ``.usage`` (chat-shaped
  :class:`~ark_context.Usage`), ``.raw`` (the server's JSON) and ``.metadata()`` (the
  flat usage and route keys both adapters publish).
* ``stream``/``astream`` return a stream: ``deltas()`` yields
  :class:`~ark_context.conversation.StreamDelta` values (``text``, ``reasoning``,
  ``tool_call``: a :class:`~ark_context.conversation.ToolCallChunk`, ``response_id``); the
  last delta has ``result`` (the final :class:`ResponsesResult`, with usage). ``route`` is
  set once the stream is open, ``usage`` and ``result`` once it ended. Iterating the
  stream itself yields chat chunks on the Context API only (kept for old callers).

>>> from ark_context import ArkContextParams, ArkRouter
>>> router: ArkRouter = ArkContextParams(model="ep-1", api_key="k").ark_router()
>>> callable(router.chat) and callable(router.astream), router.api
(True, 'context')
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._messages import WireMessage
    from ._models import ChatCompletionChunk, Usage
    from ._replies import ResponsesResult
    from ._reply_stream import StreamDelta
    from ._route_types import RoutedCompletion, RouteInfo

__all__ = ["ArkRouter", "ArkStream", "AsyncArkStream"]


class ArkStream(Protocol):
    """A routed, streamed completion (sync): a context manager over its deltas.

    ``route`` is set once the stream is open; ``usage`` and ``result`` once it ended. The
    turn is recorded only when the stream ends normally; closing early records nothing.

    Example (``router`` is an :class:`ArkRouter`)::

        with router.stream([{"role": "user", "content": "hi"}]) as s:
            text = "".join(d.text for d in s.deltas())
        print(s.route.outcome, s.usage, s.result.finish_reason)
    """

    @property
    def route(self) -> RouteInfo | None: ...

    @property
    def usage(self) -> Usage | None: ...

    @property
    def result(self) -> ResponsesResult | None: ...

    def __enter__(self) -> ArkStream: ...

    def __exit__(self, *exc: object) -> None: ...

    def deltas(self) -> Iterator[StreamDelta]: ...

    def __iter__(self) -> Iterator[ChatCompletionChunk]: ...

    def close(self) -> None: ...


class AsyncArkStream(Protocol):
    """Async twin of :class:`ArkStream`.

    Example (``router`` is an :class:`ArkRouter`)::

        async with router.astream([{"role": "user", "content": "hi"}]) as s:
            text = "".join([d.text async for d in s.deltas()])
    """

    @property
    def route(self) -> RouteInfo | None: ...

    @property
    def usage(self) -> Usage | None: ...

    @property
    def result(self) -> ResponsesResult | None: ...

    async def __aenter__(self) -> AsyncArkStream: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def deltas(self) -> AsyncIterator[StreamDelta]: ...

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]: ...

    async def aclose(self) -> None: ...


class ArkRouter(Protocol):
    """The routing calls: send the caller's whole conversation, get a routed completion.

    ``messages`` is the full history (the router decides which server-side state to reuse);
    ``params`` the request fields for this call (see the module docstring for the names);
    ``request_id`` is sent as ``X-Client-Request-Id``. ``api`` is the caching API this
    router speaks: ``"context"`` or ``"responses"``.

    >>> from ark_context import ArkContextParams
    >>> settings = ArkContextParams(model="ep-1", api_key="k", base_url="http://127.0.0.1:9/api/v3")
    >>> router: ArkRouter = settings.ark_router()
    >>> router is settings.ark_router(), router is settings.ark_router("ep-2")
    (True, False)
    """

    @property
    def api(self) -> str: ...

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
