"""``ContextRouter``: the public face of routing (settings, clients, chat and streams).

Callers (LangChain, LlamaIndex) pass the whole conversation on every call. The router
finds the context whose server-side transcript is the longest prefix of it, claims it,
sends only the rest, and records the new transcript's digest after the reply. The
decisions live in :mod:`.flows` (pure generators of typed operations) and
:mod:`.policies`; this class only binds them to a store, a backend and a driver. See
docs/architecture.md for the invariant this keeps and the state machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._messages import WireMessage, namespace_digest, validate_conversation
from .._route_types import RoutedCompletion
from .._validation import check_truncation, check_ttl
from ..adaptive import check_mode
from ..costs import CostModel, Prices, prices_for
from ..stores import ContextStore, default_store
from ..tool_messages import validate_conversation_with_tools
from .auto import AUTO_TTL, AutoPolicy
from .backend import CallSpec, ContextAPIBackend, client_settings, stamp
from .drivers import AsyncRunner, KeyedLocks, LoopLocks, SyncRunner, adrive, drive
from .flows import Pending, RouteConfig, Sent, finish, route
from .policies import RoutingPolicy, policy_for
from .rules import (
    check_fresh_context_retries,
    check_params,
    check_reserved,
    check_tool_fields,
    plain_only,
)

if TYPE_CHECKING:
    from .._adapter_seam import ArkStream, AsyncArkStream
    from .._client import ArkContextClient, AsyncArkContextClient
    from .._models import ChatCompletion, Usage

    StreamType = Callable[["ContextRouter", Sequence[WireMessage], CallSpec], ArkStream]
    AsyncStreamType = Callable[["ContextRouter", Sequence[WireMessage], CallSpec], AsyncArkStream]

__all__ = ["ContextRouter", "Reply"]

_R = TypeVar("_R", bound="ContextRouter")


class ContextRouter:
    """Routes full conversations to Ark contexts. One per (key, endpoint, mode) setting.

    ``mode``: ``auto`` (default; :class:`~ark_context.routing.auto.AutoPolicy`: plain,
    shared prefix or session per call, whichever the evidence says pays), ``session`` or
    ``common_prefix`` (force one). ``ttl`` (None: 3600 s in auto mode, else 86400 s).
    ``prices``: what auto judges by (:class:`~ark_context.costs.Prices` or a mapping of
    its fields; None: the model's list prices when the catalog knows it, else the
    defaults).

    ``fresh_context_retries`` (default 1): after a session send fails in a way that may
    be retried (a dropped connection, a timeout, 429, 5xx), the failed context is dropped
    and the call starts over this many times on a fresh context seeded from the history.

    >>> r = ContextRouter(model="ep-x", api_key="k", base_url="http://127.0.0.1:1/api/v3",
    ...                   mode="common_prefix")
    >>> r.mode, r.api
    ('common_prefix', 'context')
    """

    api = "context"

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str,
        mode: str = "auto",
        ttl: int | None = None,
        truncation_strategy: Mapping[str, Any] | None = None,
        prefix_messages: int | None = None,
        store: ContextStore | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: Any = None,
        http_async_client: Any = None,
        client: ArkContextClient | None = None,
        async_client: AsyncArkContextClient | None = None,
        clock: Callable[[], float] = time.time,
        expiry_margin: float = 120.0,
        fresh_context_retries: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Any] | None = None,
        policy: RoutingPolicy | None = None,
        prices: Prices | Mapping[str, float] | None = None,
    ) -> None:
        self.mode = check_mode(mode)
        self.model = model
        self.ttl = check_ttl(ttl if ttl is not None else default_ttl(mode))
        self.truncation_strategy = check_truncation(
            mode, dict(truncation_strategy) if truncation_strategy else None
        )
        self.backend = ContextAPIBackend(
            model=model,
            mode=mode,
            ttl=self.ttl,
            truncation_strategy=self.truncation_strategy,
            client_kwargs=client_settings(api_key, base_url, timeout, max_retries, default_headers),
            http_client=http_client,
            http_async_client=http_async_client,
            client=client,
            async_client=async_client,
        )
        self.prices = prices_for(model, prices)
        self._bind(
            namespace_digest(
                base_url=base_url,
                model=model,
                mode=mode,
                truncation=self.truncation_strategy,
                api_key=api_key,
            ),
            pick_policy(policy, mode, self.prices, self.ttl),
            prefix_messages=prefix_messages,
            store=store,
            clock=clock,
            expiry_margin=expiry_margin,
            fresh_context_retries=check_fresh_context_retries(fresh_context_retries),
            sleeps=(sleep, async_sleep),
        )

    def _bind(
        self,
        namespace: bytes,
        policy: RoutingPolicy,
        *,
        prefix_messages: int | None,
        store: ContextStore | None,
        clock: Callable[[], float],
        expiry_margin: float,
        fresh_context_retries: int,
        sleeps: tuple[Callable[[float], None], Callable[[float], Any] | None],
    ) -> None:
        """What every router holds, whatever its API (``self.backend``, ``mode``, ``ttl``
        and ``truncation_strategy`` are set first): the store, the clock, the policy,
        the flows' config and the locks."""
        self.prefix_messages = prefix_messages
        self.store: ContextStore = store if store is not None else default_store()
        self.clock = clock
        self.expiry_margin = min(expiry_margin, self.ttl / 4)
        self.fresh_context_retries = fresh_context_retries
        self._sleep = sleeps[0]
        self._async_sleep = sleeps[1] or _asyncio_sleep
        self.policy: RoutingPolicy = policy
        self._cfg = RouteConfig(
            namespace=namespace,
            mode=self.mode,
            ttl=self.ttl,
            expiry_margin=self.expiry_margin,
            truncation=self.truncation_strategy is not None,
            prefix_messages=prefix_messages,
            fresh_context_retries=fresh_context_retries,
            clock=clock,
            backend=self.backend,
            policy=policy,
        )
        self._locks: KeyedLocks[threading.Lock] = KeyedLocks(threading.Lock)
        self._alocks = LoopLocks()

    @classmethod
    def from_settings(
        cls: type[_R], settings: Any, *, api_key: str, model: str | None = None
    ) -> _R:
        """Build from an :class:`~ark_context.ArkContextParams` (what the adapters use)."""
        return cls(
            model=model or settings.model,
            api_key=api_key,
            base_url=settings.base_url,
            mode=settings.mode,
            ttl=settings.ttl,
            prefix_messages=settings.prefix_messages,
            store=settings.store,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            default_headers=settings.default_headers,
            http_client=settings.http_client,
            http_async_client=settings.http_async_client,
            prices=getattr(settings, "prices", None),
            **cls._settings_extra(settings),
        )

    @staticmethod
    def _settings_extra(settings: Any) -> dict[str, Any]:
        """The settings only this API takes. ``fresh_context_retries`` comes from the
        settings when they have it; otherwise it is 1, or 0 when ``max_retries`` is 0 (no
        retries of any kind)."""
        fresh = getattr(settings, "fresh_context_retries", None)
        if fresh is None:  # the client checks max_retries itself, naming that setting
            retries = settings.max_retries
            fresh = 1 if isinstance(retries, int) and retries >= 1 else 0
        return {"truncation_strategy": settings.truncation_strategy, "fresh_context_retries": fresh}

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(model={self.model!r}, mode={self.mode!r}, ttl={self.ttl})"

    def __deepcopy__(self: _R, memo: dict[int, Any]) -> _R:
        return self  # shared, like its connection pools and store

    @property
    def client(self) -> ArkContextClient:
        return self.backend.client

    @property
    def async_client(self) -> AsyncArkContextClient:
        return self.backend.async_client

    # -- public API (the same for every API; the hooks below differ) --------------------

    def chat(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> RoutedCompletion:
        """Route one completion (blocking)."""
        call = CallSpec(dict(params or {}), request_id)
        sent = self._send(messages, call)
        reply = self._reply(sent)
        self._finish(sent.pending, call, reply.text, reply.usage, ok=reply.ok, final=reply.final)
        self._after(sent, call, reply)
        return self._routed(sent, call, reply)

    async def achat(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> RoutedCompletion:
        """Route one completion (async, native)."""
        call = CallSpec(dict(params or {}), request_id)
        sent = await self._asend(messages, call)
        reply = self._reply(sent)
        await self._afinish(
            sent.pending, call, reply.text, reply.usage, ok=reply.ok, final=reply.final
        )
        await self._aafter(sent, call, reply)
        return self._routed(sent, call, reply)

    def stream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> ArkStream:
        """Route one streamed completion. Iterate the result; close it if you stop early."""
        call = CallSpec(dict(params or {}), request_id, stream=True, include_usage=include_usage)
        return self._stream_types()[0](self, messages, call)

    def astream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> AsyncArkStream:
        """Async twin of :meth:`stream`."""
        call = CallSpec(dict(params or {}), request_id, stream=True, include_usage=include_usage)
        return self._stream_types()[1](self, messages, call)

    # -- the per-API hooks (the Responses router overrides these) -----------------------

    def _check(self, messages: Sequence[WireMessage], call: CallSpec) -> list[WireMessage]:
        """Validate before any network call; decide a plain send (``call.plain``)."""
        call.plain = plain_only(messages, call.params)
        if call.plain is not None:  # tools & co.: plain /chat/completions takes them
            validate_conversation_with_tools(messages)
            check_reserved(call.params)
            check_tool_fields(call.params)
            return list(messages)
        validate_conversation(messages)
        check_params(call.params)
        return list(messages)

    def _cfg_for(self, call: CallSpec) -> RouteConfig:
        """The flows' config for this call (one per router here)."""
        return self._cfg

    def _reply(self, sent: Sent) -> Reply:
        """What a finished (non-streamed) send records."""
        completion = cast("ChatCompletion", sent.result)
        return Reply(completion.text, completion.usage, True, completion)

    def _routed(self, sent: Sent, call: CallSpec, reply: Reply) -> RoutedCompletion:
        """The caller's result."""
        return RoutedCompletion(
            cast("ChatCompletion", reply.final), stamp(sent.pending.route, call)
        )

    def _after(self, sent: Sent, call: CallSpec, reply: Reply) -> None:
        """Maintenance once the turn is recorded (nothing here)."""

    async def _aafter(self, sent: Sent, call: CallSpec, reply: Reply) -> None:
        """Async twin of :meth:`_after`."""

    def _stream_types(self) -> tuple[StreamType, AsyncStreamType]:
        from .streams import AsyncRoutedStream, RoutedStream

        return RoutedStream, AsyncRoutedStream

    # -- binding flows to a driver (used by the streams too) ----------------------------

    def _runner(self, call: CallSpec) -> SyncRunner:
        return SyncRunner(self.store, self.backend, call, self._locks, self._sleep)

    def _arunner(self, call: CallSpec) -> AsyncRunner:
        return AsyncRunner(self.store, self.backend, call, self._alocks, self._async_sleep)

    def _send(self, messages: Sequence[WireMessage], call: CallSpec) -> Sent:
        msgs = self._check(messages, call)
        return drive(route(self._cfg_for(call), msgs, call), self._runner(call))

    async def _asend(self, messages: Sequence[WireMessage], call: CallSpec) -> Sent:
        msgs = self._check(messages, call)
        return await adrive(route(self._cfg_for(call), msgs, call), self._arunner(call))

    def _finish(
        self,
        pending: Pending,
        call: CallSpec,
        reply: str,
        usage: Usage | None,
        *,
        ok: bool,
        final: object = None,
    ) -> None:
        flow = finish(self._cfg_for(call), pending, reply, usage, ok=ok, final=final)
        drive(flow, self._runner(call))

    async def _afinish(
        self,
        pending: Pending,
        call: CallSpec,
        reply: str,
        usage: Usage | None,
        *,
        ok: bool,
        final: object = None,
    ) -> None:
        flow = finish(self._cfg_for(call), pending, reply, usage, ok=ok, final=final)
        await adrive(flow, self._arunner(call))


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished turn as the record sees it: text, usage, whether to record it, and the
    ``final`` object (a chat completion, a Responses result or a stream)."""

    text: str
    usage: Usage | None
    ok: bool
    final: object = None


def pick_policy(policy: RoutingPolicy | None, mode: str, prices: Prices, ttl: int) -> RoutingPolicy:
    """The policy a router uses: the one given, else auto's (judging by ``prices``) or the
    forced mode's."""
    if policy is not None:
        return policy
    return AutoPolicy(CostModel(prices, ttl)) if mode == "auto" else policy_for(mode)


def default_ttl(mode: str) -> int:
    """The ttl when none is set: one hour in auto mode (the API's minimum: a context auto
    created stops costing storage soon after its last use), else a day."""
    return AUTO_TTL if mode == "auto" else 86400


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # imported on first use: sync-only programs never load asyncio

    await asyncio.sleep(seconds)
