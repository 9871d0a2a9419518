"""``ResponsesRouter``: the routing face over the Responses API (same flows, same stores).

It differs from :class:`~ark_context.routing.ContextRouter` only in what it binds: a
:class:`~.responses.ResponsesBackend`, a namespace per chain settings (tools, thinking,
reasoning: a call with other settings never matches a recorded chain, and a new chain
starts; the change is reported as ``new_chain``), request conversion, and the reply's
normalised result (its wire message, tool calls included, is what gets recorded).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from .._exceptions import ArkError
from .._messages import WireMessage, namespace_digest
from .._route_types import RoutedCompletion, RouteInfo, usage_from
from ..costs import Prices, prices_for
from ..stores import ContextStore, Entry
from ..tool_messages import validate_conversation_with_tools
from .backend import CallSpec, client_settings, stamp
from .flows import Sent
from .outcomes import RouteConfig
from .policies import (
    CallView,
    CreateSession,
    Digests,
    Plain,
    Plan,
    RoutingPolicy,
    UsePrefix,
)
from .responses import (
    PREFIX_MIN_TOKENS,
    ResponsesBackend,
    ResponsesCall,
    chain_settings,
    check_model_support,
    estimate_tokens,
    responses_call,
    result_of,
)
from .router import ContextRouter, Reply, default_ttl, pick_policy
from .rules import check_reserved

if TYPE_CHECKING:
    from .._replies import ResponsesResult
    from ..stores._base import Put
    from .router import AsyncStreamType, StreamType

__all__ = ["ResponsesRouter"]


class _PrefixGuard:
    """Wraps a policy for the Responses API, for one set of chain settings.

    A prefix cache needs ≥ 1025 tokens, so a shorter shared prefix goes plain
    (``no_prefix``) instead of failing. A first turn with nothing to seed starts a chain
    (a chain's first turn costs what a plain call costs, where a Context API context
    would need a seed first), unless the policy's ``starts_chain(view, first_prior)``
    says no (``auto``'s weighs the evidence): a chain stores its cache from creation until ``expire_at``, so
    ``auto`` starts one only on evidence that it will be continued; ``agent`` (the call
    offers tools) counts as such evidence for a first call before any was seen. A chain
    marker (the conversation's first turn, digested
    without the settings, mapped to the settings' fingerprint) tells a miss caused by
    changed settings (``new_chain``) from a new conversation."""

    def __init__(
        self,
        inner: RoutingPolicy,
        min_tokens: int,
        base_ns: bytes = b"",
        settings: str = "",
        *,
        agent: bool = False,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.free_start_reasons = inner.free_start_reasons
        self.wants_session = inner.wants_session
        self.wants_prefix = inner.wants_prefix
        self.min_tokens = min_tokens
        self.base_ns = base_ns
        self.settings = settings
        self.first_prior = 1.0 if agent else 0.0

    def marker_key(self, digests: Digests) -> bytes | None:
        """Key of the chain marker: the first turn (what precedes the first reply),
        digested without the settings."""
        if not self.wants_session:
            return None
        from .._messages import Chain

        msgs = digests.messages
        end = digests.positions[-1] if digests.positions else len(msgs)
        if end == 0:
            return None
        return Chain(self.base_ns + b"chain").feed(list(msgs[:end]), [end - 1])[0]

    def evidence_keys(self, digests: Digests) -> Sequence[bytes]:
        keys = list(self.inner.evidence_keys(digests))
        marker = self.marker_key(digests)
        return [*keys, marker] if marker is not None else keys

    def changed(self, view: CallView) -> str | None:
        """Which pinned settings differ from the chain recorded for this conversation."""
        marker = self.marker_key(view.digests)
        entry = view.evidence.get(marker) if marker is not None else None
        if entry is None or entry.context_id == self.settings:
            return None
        old = dict(p.split("=", 1) for p in entry.context_id.split(";") if "=" in p)
        new = dict(p.split("=", 1) for p in self.settings.split(";") if "=" in p)
        names = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        return ",".join(names) or "settings"

    def decide(self, view: CallView) -> Plan:
        plan = self.inner.decide(view)
        if isinstance(plan, UsePrefix):
            prefix = list(view.messages[: view.digests.prefix_len])
            if estimate_tokens(prefix) < self.min_tokens:
                # Too short for a prefix cache: plain, unless the evidence says a chain
                # started here will be continued (``starts_chain`` below; a sliding window
                # or one-shot calls never are, and a chain would only pay storage).
                plan = Plain("no_prefix", plan.decision)
        if (
            isinstance(plan, Plain)
            and self.wants_session
            and plan.reason in self.free_start_reasons
            and self.inner.starts_chain(view, self.first_prior)
        ):
            # A chain's first turn costs what a plain call costs, plus storage until its
            # expire_at: a call likely to be continued starts a chain.
            plan = CreateSession("new", plan.decision)
        if isinstance(plan, CreateSession) and plan.reason == "new" and self.changed(view):
            return CreateSession("new_chain", plan.decision)
        return plan

    def starts_chain(self, view: CallView, first_prior: float) -> bool:
        return self.inner.starts_chain(view, first_prior)

    def evidence(
        self, view: CallView, route: RouteInfo, ok: bool, reply: Mapping[str, Any]
    ) -> Sequence[Put]:
        puts = list(self.inner.evidence(view, route, ok, reply))
        marker = self.marker_key(view.digests)
        if ok and marker is not None and route.outcome != "reused" and route.context_id is not None:
            from ..stores import Entry

            ttl = 7 * 86400
            puts.append((marker, Entry(self.settings, "live", view.now, ttl), view.now + ttl))
        return puts


class ResponsesRouter(ContextRouter):
    """Routes full conversations to Responses API chains (one per model and settings).

    Same calls and results as :class:`~ark_context.routing.ContextRouter`; see
    docs/responses-routing.md for what each call sends.

    >>> r = ResponsesRouter(model="doubao-seed-1-6-251015", api_key="k",
    ...                     base_url="http://127.0.0.1:1/api/v3")
    >>> r.api, r.mode, r.backend.expire_after
    ('responses', 'session', 86400)
    """

    api = "responses"

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str,
        mode: str = "session",
        ttl: int | None = None,
        prefix_messages: int | None = None,
        store: ContextStore | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: Any = None,
        http_async_client: Any = None,
        clock: Callable[[], float] = time.time,
        expiry_margin: float = 300.0,
        chain_gap: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Any] | None = None,
        policy: RoutingPolicy | None = None,
        prefix_min_tokens: int = PREFIX_MIN_TOKENS,
        delete_retired: bool = False,
        prices: Prices | Mapping[str, float] | None = None,
        **_: Any,
    ) -> None:
        if mode not in ("session", "common_prefix", "auto"):
            from .._exceptions import ArkInputError

            raise ArkInputError(f"mode must be 'session' or 'common_prefix'; got {mode!r}.")
        self.model = model
        self.mode = mode
        self.delete_retired = delete_retired
        self.backend: ResponsesBackend = ResponsesBackend(  # type: ignore[assignment]
            model=model,
            client_kwargs=client_settings(api_key, base_url, timeout, max_retries, default_headers),
            expire_after=ttl if ttl is not None else default_ttl(mode),
            chain_gap=chain_gap,
            http_client=http_client,
            http_async_client=http_async_client,
            clock=clock,
            sleep=sleep,
            async_sleep=async_sleep,
        )
        self.ttl = self.backend.expire_after
        self.truncation_strategy = None
        self.prices = prices_for(model, prices)
        self._inner = pick_policy(policy, mode, self.prices, self.ttl)
        self._min_tokens = prefix_min_tokens
        self._base_ns = namespace_digest(
            base_url=base_url,
            model=model,
            mode=f"responses:{mode}",
            truncation=None,
            api_key=api_key,
        )
        self._bind(
            self._base_ns,
            _PrefixGuard(self._inner, prefix_min_tokens),
            prefix_messages=prefix_messages,
            store=store,
            clock=clock,
            expiry_margin=expiry_margin,
            fresh_context_retries=0,  # a chain turn is never resent blindly
            sleeps=(sleep, async_sleep),
        )
        self._cfgs: dict[tuple[str, bool], RouteConfig] = {}

    @staticmethod
    def _settings_extra(settings: Any) -> dict[str, Any]:
        return {"delete_retired": getattr(settings, "delete_retired", False)}

    # -- the per-API hooks of ContextRouter ----------------------------------------------

    def _cfg_for(self, call: CallSpec) -> RouteConfig:
        """One config per set of chain settings: its own namespace and prefix guard (and
        per agent-or-not: a call offering tools is an agent's step; the namespace is the
        same either way)."""
        rc: ResponsesCall = call.extra
        settings = chain_settings(rc)
        fp = json.dumps(settings, sort_keys=True, separators=(",", ":")) if settings else ""
        agent = _agent_call(rc.fields)
        cfg = self._cfgs.get((fp, agent))
        if cfg is None:
            ns = hashlib.blake2b(self._base_ns + fp.encode(), digest_size=16).digest()
            guard = _PrefixGuard(
                self._inner, self._min_tokens, self._base_ns, _describe(settings), agent=agent
            )
            cfg = replace(self._cfg, namespace=ns, policy=guard)
            if len(self._cfgs) >= 64:
                self._cfgs.clear()
            self._cfgs[(fp, agent)] = cfg
        return cfg

    def _check(self, messages: Sequence[WireMessage], call: CallSpec) -> list[WireMessage]:
        validate_conversation_with_tools(messages)
        check_reserved(call.params)
        rc = call.extra = responses_call(call.params)
        check_model_support(self.model, rc)
        if rc.uncached_reason is not None:  # json_schema: the API refuses it in a cached chain
            call.plain = "json_schema"
        return list(messages)

    def _reply(self, sent: Sent) -> Reply:
        result = result_of(sent.result)
        return self._reply_of(sent, result, ok=result.status in ("completed", "incomplete"))

    def _reply_of(self, sent: Sent, result: ResponsesResult, *, ok: bool) -> Reply:
        """The record of a finished turn: the reply's wire message (tool calls included)
        and the chat-shaped usage."""
        pending = sent.pending
        pending.reply_message = result.wire_message()
        pending.expect_cached = 0  # reasoning is never cached: no truncation check here
        return Reply(result.text, usage_from(result.usage), ok, result)

    def _routed(self, sent: Sent, call: CallSpec, reply: Reply) -> RoutedCompletion:
        result = cast("ResponsesResult", reply.final)
        return RoutedCompletion.from_result(result, self._route(sent, call, result))

    def _after(self, sent: Sent, call: CallSpec, reply: Reply) -> None:
        if self.delete_retired and reply.ok:
            self._retire(sent, call, cast("ResponsesResult", reply.final))

    async def _aafter(self, sent: Sent, call: CallSpec, reply: Reply) -> None:
        if self.delete_retired and reply.ok:
            await self._aretire(sent, call, cast("ResponsesResult", reply.final))

    def _stream_types(self) -> tuple[StreamType, AsyncStreamType]:
        from .responses_streams import AsyncResponsesStream, ResponsesStream

        return cast("StreamType", ResponsesStream), cast("AsyncStreamType", AsyncResponsesStream)

    def _route(self, sent: Sent, call: CallSpec, result: ResponsesResult | None) -> RouteInfo:
        info = replace(stamp(sent.pending.route, call))  # a copy: the record needs the state
        info.api = "responses"
        rc: ResponsesCall = call.extra
        if info.context_id is not None:
            info.context_id = self.backend.split(info.context_id)[0] or None
        if result is not None:
            info.response_id = result.id
            info.expire_at = rc.expire_at if call.plain is None else None
        view = sent.pending.view
        if info.reason == "new_chain" and view is not None:
            info.new_chain = cast("_PrefixGuard", self._cfg_for(call).policy).changed(view)
        info.dropped = tuple(rc.dropped)
        return info

    # -- maintenance -------------------------------------------------------------------

    def _head(
        self, sent: Sent, call: CallSpec, result: ResponsesResult
    ) -> tuple[bytes, Put, set[bytes]] | None:
        """The conversation's head record (its newest turn), the write that moves it to
        this turn, and the transcripts this history holds (never retired)."""
        pending, view = sent.pending, sent.pending.view
        if view is None or pending.chain is None or pending.route.context_id is None:
            return None
        guard = cast("_PrefixGuard", self._cfg_for(call).policy)
        marker = guard.marker_key(view.digests)
        if marker is None or not result.id:
            return None
        key = hashlib.blake2b(marker + b"head", digest_size=16).digest()
        new_key = pending.chain.extended(result.wire_message())
        now = self.clock()
        ttl = self.ttl
        head = (key, Entry(result.id, "live", now, ttl, new_key), now + ttl)
        return key, head, set(view.digests.session_keys) | {new_key}

    def _retired(self, old: Entry | None, keep: set[bytes]) -> str | None:
        """The id to delete: the old head, unless this history still holds it."""
        if old is None or old.prev is None or old.prev in keep:
            return None
        return old.context_id

    def _retire(self, sent: Sent, call: CallSpec, result: ResponsesResult) -> None:
        head = self._head(sent, call, result)
        if head is None:
            return
        key, put, keep = head
        (old,) = self.store.get_many([key])
        self.store.apply([put])
        rid = self._retired(old, keep)
        if rid is not None:
            with contextlib.suppress(ArkError):  # best effort: it expires anyway
                self.backend.delete(rid)

    async def _aretire(self, sent: Sent, call: CallSpec, result: ResponsesResult) -> None:
        head = self._head(sent, call, result)
        if head is None:
            return
        key, put, keep = head
        (old,) = await self.store.aget_many([key])
        await self.store.aapply([put])
        rid = self._retired(old, keep)
        if rid is not None:
            with contextlib.suppress(ArkError):
                await self.backend.adelete(rid)

    def delete(self, response_id: str) -> bool:
        """Delete a stored response (e.g. a retired branch) so it stops costing storage.
        Never delete an ancestor of a chain you still use."""
        return self.backend.delete(response_id)


def _agent_call(fields: Mapping[str, Any]) -> bool:
    """An agent's step: it offers tools (``tool_choice`` other than ``none``), so its reply
    is likely a tool call the framework answers in a next call. One tool the call must use
    (``required`` or named) is structured output instead (``with_structured_output``,
    ``structured_predict``): its tool call is the answer, nothing follows it.

    >>> tool = {"type": "function", "name": "lookup", "parameters": {}}
    >>> _agent_call({"tools": [tool]}), _agent_call({"tools": [tool], "tool_choice": "none"})
    (True, False)
    >>> _agent_call({"tools": [tool], "tool_choice": "required"})
    False
    """
    tools, choice = fields.get("tools"), fields.get("tool_choice")
    if not tools or choice == "none":
        return False
    forced = choice == "required" or isinstance(choice, Mapping)
    return not (forced and len(tools) == 1)


def _describe(settings: Mapping[str, Any]) -> str:
    """A chain's pinned settings, compactly (tool schemas by digest): ``tools=…;thinking=…``."""
    parts = []
    for name in ("model", "tools", "thinking", "reasoning"):
        if name in settings:
            text = json.dumps(settings[name], sort_keys=True, separators=(",", ":"))
            if name == "tools":
                text = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
            parts.append(f"{name}={text}")
    for name in ("tools", "thinking", "reasoning"):
        if name not in settings:
            parts.append(f"{name}=")
    return ";".join(sorted(parts))
