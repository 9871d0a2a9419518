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
from typing import TYPE_CHECKING, Any, cast

from .._messages import WireMessage, namespace_digest, validate_conversation
from .._route_types import RoutedCompletion
from .._validation import check_truncation, check_ttl
from ..adaptive import check_mode
from ..costs import CostModel, Prices, prices_for
from ..stores import ContextStore, default_store
from ..tool_messages import validate_conversation_with_tools
from .auto import AUTO_TTL, AutoPolicy
from .backend import CallSpec, ContextAPIBackend, stamp
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
    from .._client import ArkContextClient, AsyncArkContextClient
    from .._models import ChatCompletion, Usage
    from .streams import AsyncRoutedStream, RoutedStream

__all__ = ["ContextRouter"]


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
        self.prices = prices_for(model, prices)
        self.truncation_strategy = check_truncation(
            mode, dict(truncation_strategy) if truncation_strategy else None
        )
        self.prefix_messages = prefix_messages
        self.store: ContextStore = store if store is not None else default_store()
        self.clock = clock
        self.expiry_margin = min(expiry_margin, self.ttl / 4)
        self.fresh_context_retries = check_fresh_context_retries(fresh_context_retries)
        self._sleep = sleep
        self._async_sleep = async_sleep or _asyncio_sleep
        self.backend = ContextAPIBackend(
            model=model,
            mode=mode,
            ttl=self.ttl,
            truncation_strategy=self.truncation_strategy,
            client_kwargs={
                "api_key": api_key,
                "base_url": base_url,
                "timeout": timeout,
                "max_retries": max_retries,
                "default_headers": default_headers,
            },
            http_client=http_client,
            http_async_client=http_async_client,
            client=client,
            async_client=async_client,
        )
        if policy is None:
            policy = AutoPolicy(CostModel(self.prices, self.ttl)) if mode == "auto" else None
        self.policy: RoutingPolicy = policy if policy is not None else policy_for(mode)
        self._cfg = RouteConfig(
            namespace=namespace_digest(
                base_url=base_url,
                model=model,
                mode=mode,
                truncation=self.truncation_strategy,
                api_key=api_key,
            ),
            mode=mode,
            ttl=self.ttl,
            expiry_margin=self.expiry_margin,
            truncation=self.truncation_strategy is not None,
            prefix_messages=prefix_messages,
            fresh_context_retries=self.fresh_context_retries,
            clock=clock,
            backend=self.backend,
            policy=self.policy,
        )
        self._locks: KeyedLocks[threading.Lock] = KeyedLocks(threading.Lock)
        self._alocks = LoopLocks()

    @classmethod
    def from_settings(
        cls, settings: Any, *, api_key: str, model: str | None = None
    ) -> ContextRouter:
        """Build from an :class:`~ark_context.ArkContextParams` (what the adapters use).

        ``fresh_context_retries`` comes from the settings when they have it; otherwise it
        is 1, or 0 when ``max_retries`` is 0 (no retries of any kind)."""
        fresh = getattr(settings, "fresh_context_retries", None)
        if fresh is None:  # the client checks max_retries itself, naming that setting
            retries = settings.max_retries
            fresh = 1 if isinstance(retries, int) and retries >= 1 else 0
        return cls(
            model=model or settings.model,
            api_key=api_key,
            base_url=settings.base_url,
            mode=settings.mode,
            ttl=settings.ttl,
            truncation_strategy=settings.truncation_strategy,
            prefix_messages=settings.prefix_messages,
            store=settings.store,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            default_headers=settings.default_headers,
            http_client=settings.http_client,
            http_async_client=settings.http_async_client,
            fresh_context_retries=fresh,
            prices=getattr(settings, "prices", None),
        )

    def __repr__(self) -> str:
        return f"ContextRouter(model={self.model!r}, mode={self.mode!r}, ttl={self.ttl})"

    def __deepcopy__(self, memo: dict[int, Any]) -> ContextRouter:
        return self  # shared, like its connection pools and store

    @property
    def client(self) -> ArkContextClient:
        return self.backend.client

    @property
    def async_client(self) -> AsyncArkContextClient:
        return self.backend.async_client

    # -- public API ----------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> RoutedCompletion:
        """Route one completion (blocking)."""
        call = CallSpec(dict(params or {}), request_id)
        runner = self._runner(call)
        sent = drive(route(self._cfg, self._check(messages, call), call), runner)
        completion = cast("ChatCompletion", sent.result)
        text, usage = completion.text, completion.usage
        drive(finish(self._cfg, sent.pending, text, usage, ok=True, final=completion), runner)
        return RoutedCompletion(completion, stamp(sent.pending.route, call))

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
        completion = cast("ChatCompletion", sent.result)
        await self._afinish(
            sent.pending, call, completion.text, completion.usage, ok=True, final=completion
        )
        return RoutedCompletion(completion, stamp(sent.pending.route, call))

    def stream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> RoutedStream:
        """Route one streamed completion. Iterate the result; close it if you stop early."""
        from .streams import RoutedStream

        call = CallSpec(dict(params or {}), request_id, stream=True, include_usage=include_usage)
        return RoutedStream(self, messages, call)

    def astream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> AsyncRoutedStream:
        """Async twin of :meth:`stream`."""
        from .streams import AsyncRoutedStream

        call = CallSpec(dict(params or {}), request_id, stream=True, include_usage=include_usage)
        return AsyncRoutedStream(self, messages, call)

    # -- binding flows to a driver (used by the streams too) ----------------------------

    def _check(self, messages: Sequence[WireMessage], call: CallSpec) -> list[WireMessage]:
        call.plain = plain_only(messages, call.params)
        if call.plain is not None:  # tools & co.: plain /chat/completions takes them
            validate_conversation_with_tools(messages)
            check_reserved(call.params)
            check_tool_fields(call.params)
            return list(messages)
        validate_conversation(messages)
        check_params(call.params)
        return list(messages)

    def _runner(self, call: CallSpec) -> SyncRunner:
        return SyncRunner(self.store, self.backend, call, self._locks, self._sleep)

    def _arunner(self, call: CallSpec) -> AsyncRunner:
        return AsyncRunner(self.store, self.backend, call, self._alocks, self._async_sleep)

    def _send(self, messages: Sequence[WireMessage], call: CallSpec) -> Sent:
        return drive(route(self._cfg, self._check(messages, call), call), self._runner(call))

    async def _asend(self, messages: Sequence[WireMessage], call: CallSpec) -> Sent:
        msgs = self._check(messages, call)
        return await adrive(route(self._cfg, msgs, call), self._arunner(call))

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
        flow = finish(self._cfg, pending, reply, usage, ok=ok, final=final)
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
        flow = finish(self._cfg, pending, reply, usage, ok=ok, final=final)
        await adrive(flow, self._arunner(call))


def default_ttl(mode: str) -> int:
    """The ttl when none is set: one hour in auto mode (the API's minimum: a context auto
    created stops costing storage soon after its last use), else a day."""
    return AUTO_TTL if mode == "auto" else 86400


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # imported on first use: sync-only programs never load asyncio

    await asyncio.sleep(seconds)
