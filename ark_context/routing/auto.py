"""``mode="auto"`` (the default): create a context only when reuse is likely to pay for it.

:class:`AutoPolicy` plugs :func:`ark_context.adaptive.decide` into the policy seam. Per
call it reads, in the same ``get_many`` as the session and shared-prefix lookups, three
kinds of evidence records (:class:`~ark_context.adaptive.Evidence`): the group of calls
that share this system prompt, the namespace (model, key, settings), and whether the
history extends a transcript seen answered (its longest and shortest reply positions).
It then picks one plan:

- a live session context holds a prefix of the history: reuse it (``continues``);
- the history extends a transcript seen answered, by any route, and a session context
  pays at the group's observed continue rate: create one (``continues``); a first call
  in a group whose first calls mostly went on gets one at once (``group_continues``);
- otherwise the leading system messages: a live shared context is used, and one is
  created when the prompt was seen before often enough to pay (``prefix_repeats``);
- else a plain call: ``one_off`` (prompt never seen), ``no_repeat`` (seen, not often
  enough), ``window_slides`` (earlier turns that extend nothing seen: a trimmed or
  rewritten history never gets a session context), ``no_prefix`` (nothing to cache).

After every completed call, whatever its route (plain, shared prefix or session), it
writes the evidence back (three puts in the record's batch), so a conversation seen to
continue gets a session next time, in this process or another one sharing the store.

Sizes are estimated from characters (about four per token plus a per-message overhead):
the decisions compare sizes with each other and with the price ratio, never with a bill.

One process-local hint complements the store: system prompts this policy decided on in
the last minute whose evidence is not written yet (calls still in flight). Concurrent
calls behind one new prompt (``batch``, ``abatch``) thus count each other as repeats and
share one context instead of all going plain.

>>> from ark_context.routing.auto import AutoPolicy
>>> p = AutoPolicy()
>>> p.name, p.wants_session, p.wants_prefix, p.cost_model.ttl
('auto', True, True, 3600)
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..adaptive import CallFacts, Decision, Evidence, GroupStats, NamespaceStats, decide
from ..costs import CostModel
from .policies import CallView, CreateSession, Digests, Plain, Plan, ReuseSession, UsePrefix

if TYPE_CHECKING:
    from .._messages import WireMessage
    from .._route_types import MissReason, RouteInfo
    from ..stores._base import Put

__all__ = ["AUTO_TTL", "AutoPolicy", "chain_start_pays", "estimate_tokens"]

#: The ttl ``auto`` gives its contexts unless ``ttl`` is set: the API's minimum, so a
#: context stops costing storage an hour after its last use (every use restarts it).
AUTO_TTL = 3600
_HINT_SECONDS = 60.0  # how long a decided-on prompt counts as "in flight"
_HINT_MAX = 4096  # prompts remembered for the hint (oldest dropped first)
_PLAIN: dict[str, MissReason] = {
    "one_off": "one_off",
    "no_repeat": "no_repeat",
    "window_slides": "window_slides",
    "no_prefix": "no_prefix",
}


def estimate_tokens(messages: Sequence[WireMessage]) -> int:
    """A size estimate of ``messages`` in tokens (characters / 4, plus 4 per message).

    >>> estimate_tokens([{"role": "user", "content": "x" * 40}])
    14
    """
    return sum(len(m.get("content") or "") // 4 + 4 for m in messages)


class AutoPolicy:
    """``mode="auto"``: plain, shared prefix or session per call, from evidence in the store
    and a :class:`~ark_context.costs.CostModel` (prices and the contexts' ttl).

    >>> from ark_context.costs import CostModel, Prices
    >>> AutoPolicy(CostModel(Prices(cached_ratio=0.1), ttl=7200)).cost_model.prices.cached_ratio
    0.1
    """

    name = "auto"
    wants_session = True
    wants_prefix = True
    #: where a session's first turn is free, only what slides or gets rewritten stays
    #: plain (a chain would pay storage for nothing)
    free_start_reasons: frozenset[MissReason] = frozenset(
        {"no_prefix", "one_off", "no_repeat", "new"}
    )

    def __init__(self, cost_model: CostModel | None = None) -> None:
        self.cost_model = cost_model if cost_model is not None else CostModel(ttl=AUTO_TTL)
        #: evidence records live as long as the contexts they would justify
        self.window = self.cost_model.ttl
        self._lock = threading.Lock()
        self._in_flight: OrderedDict[bytes, tuple[float, int, int]] = OrderedDict()

    def __repr__(self) -> str:
        return f"AutoPolicy({self.cost_model!r})"

    # -- the seam --------------------------------------------------------------------

    def evidence_keys(self, digests: Digests) -> Sequence[bytes]:
        return _keys(digests)

    def decide(self, view: CallView) -> Plan:
        facts, ev = _facts(view, sizes=view.longest_hit is None)
        stats = self._with_in_flight(view, ev.group)
        d = decide(facts, stats, self.cost_model, ev.namespace)
        if d.plan == "reuse_session":
            return ReuseSession(d.reason)
        if d.plan == "create_session":
            return CreateSession(view.miss or "new", d.reason)
        if d.plan in ("use_prefix", "create_prefix"):
            return UsePrefix(d.reason)
        return Plain(_PLAIN.get(d.reason, "new"), d.reason)

    def starts_chain(self, view: CallView, first_prior: float = 0.0) -> bool:
        """Whether a call :meth:`decide` sends plain should rather start a Responses API
        chain (its first turn is billed as a plain call, plus storage until ``expire_at``):
        only on evidence that a later call will continue it, ``first_prior`` standing in
        for a first call's before any was seen
        (:func:`chain_start_pays`)."""
        facts, ev = _facts(view, sizes=False)
        return chain_start_pays(
            facts, ev.group, self.cost_model, ev.namespace, first_prior=first_prior
        )

    def evidence(
        self, view: CallView, route: RouteInfo, ok: bool, reply: Mapping[str, Any]
    ) -> Sequence[Put]:
        d = view.digests
        if not ok or d.chain is None:
            return ()
        facts, ev = _facts(view, sizes=False)
        created = route.mode == "session" and route.outcome != "reused"  # counts sessions made
        decision = Decision("create_session" if created else "plain", "continues")
        answered = dict(reply)
        return ev.writes(
            facts,
            decision,
            d.namespace,
            d.prefix_key or d.namespace,
            d.chain.extended(answered),
            answered_tokens=estimate_tokens([*view.messages, answered]),
            now=view.now,
            window=self.window,
        )

    # -- the in-flight hint ----------------------------------------------------------

    def _with_in_flight(self, view: CallView, stats: GroupStats) -> GroupStats:
        """``stats``, counting the calls of this group this policy decided on in the last
        minute, whose evidence the store may not show yet (they are still in flight)."""
        key = view.digests.prefix_key
        if key is None:
            return stats
        now = time.monotonic()
        with self._lock:
            since, base, n = self._in_flight.get(key, (now, stats.calls, 0))
            if now - since > _HINT_SECONDS:
                since, base, n = now, stats.calls, 0
            self._in_flight[key] = (since, base, n + 1)
            self._in_flight.move_to_end(key)
            while len(self._in_flight) > _HINT_MAX:
                self._in_flight.popitem(last=False)
        # Each call decided on is recorded after its reply; until then, count it here.
        calls = max(stats.calls, base + n)
        return stats if calls == stats.calls else replace(stats, calls=calls)


def chain_start_pays(
    facts: CallFacts,
    stats: GroupStats,
    model: CostModel,
    namespace: NamespaceStats | None = None,
    *,
    first_prior: float = 0.0,
) -> bool:
    """Where starting a session costs what a plain call costs plus storage (a Responses
    API chain: its first turn is billed as a plain call, and its cache is stored from
    creation until ``expire_at``, at least one started hour), whether a call that
    :func:`~ark_context.adaptive.decide` sends plain should start one anyway.

    It pays when the chance ``p`` that a later call continues this transcript times what
    that call then saves, ``(1 - cached_ratio)`` per token, beats the storage of one ttl
    (the sizes cancel out). ``p`` comes from evidence:

    - the history continues a transcript seen answered: the group's chance to go on
      again (``GroupStats.p_continue_again``, the namespace's rate as prior);
    - a first call (no earlier replies): the share of this namespace's first calls that
      were continued; before any was seen, ``first_prior`` (0: one-shot calls and a
      template's or a retriever's prompts never pay storage for a chain that is not
      continued; the router passes 1 for a call offering tools, an agent's step, whose
      tool call the framework likely answers in a next call);
    - earlier replies that extend nothing seen (a trimmed or rewritten history): no.

    >>> from ark_context.costs import CostModel
    >>> first = CallFacts(prefix_tokens=300, history_tokens=300)
    >>> chain_start_pays(first, GroupStats(), CostModel(ttl=3600), NamespaceStats())
    False
    >>> chats = NamespaceStats(firsts=3, first_continued=2)
    >>> chain_start_pays(first, GroupStats(), CostModel(ttl=3600), chats)
    True
    """
    ns = namespace if namespace is not None else NamespaceStats()
    if facts.continues:
        p = stats.p_continue_again(ns.continue_rate)
    elif not facts.has_history:
        p = ns.first_continue_rate(first_prior)
    else:
        return False
    started_hours = max(math.ceil(model.ttl / 3600), 1)  # storage is billed per started hour
    return p * model.saving_per_reuse_units(1) > model.storage_units(1, started_hours)


def _keys(d: Digests) -> list[bytes]:
    return Evidence.keys(d.namespace, d.prefix_key or d.namespace, d.probe)


def _facts(view: CallView, *, sizes: bool = True) -> tuple[CallFacts, Evidence]:
    """The call's facts and evidence. ``sizes=False`` skips the history's size (a pass
    over every message) where nothing reads it: a session hit, and the evidence writes."""
    d = view.digests
    ev = Evidence.parse([view.evidence.get(k) for k in _keys(d)])
    msgs = view.messages
    sessionable = 0 < d.split < len(msgs)
    hit = view.longest_hit if sessionable else None
    shared = view.prefix_entry
    live = (
        shared is not None
        and shared.state == "live"
        and view.now < shared.last_used + (shared.ttl or AUTO_TTL)
    )
    facts = CallFacts(
        prefix_tokens=estimate_tokens(msgs[: d.prefix_len]) if d.prefix_key is not None else 0,
        history_tokens=estimate_tokens(msgs[: d.split]) if sessionable and sizes else 0,
        session_hit_tokens=max(hit.entry.tokens, 1) if hit is not None else 0,
        shared_live=live and d.prefix_key is not None,
        continues=ev.continues and sessionable,
        depth=ev.depth,
        has_history=bool(d.positions),
    )
    return facts, ev
