"""Pure routing flows: conversation in, operations out, typed outcome back.

Each flow is a generator of :mod:`~ark_context.routing.ops` operations. ``route`` ends
with a :class:`Sent` (the request went out; what to record is in its :class:`Pending`);
``finish`` records what the server now holds, or drops it. The session reuse step
returns ``Sent | Retry``: a :class:`Retry` names the miss reason and, after a failure,
the first error, which is what the caller sees if the fresh-context retry fails too.
The state machine is drawn in docs/architecture.md ("Routing state machine").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING

from .._exceptions import ArkError
from .._messages import Chain, message_parts, trailing_turn_start
from .._route_types import MissReason, Outcome, RouteInfo
from ..stores import Entry
from .ops import Acquire, Apply, Claim, Create, Detached, Flow, Get, Release, Send, Sleep, run
from .policies import (
    CallView,
    CreateSession,
    Digests,
    Plain,
    Recorded,
    ReuseSession,
    RoutingPolicy,
    UsePrefix,
)
from .rules import backoff, retryable

if TYPE_CHECKING:
    from .._messages import WireMessage
    from .._models import Usage
    from ..stores._base import Put
    from .backend import Backend, CallSpec

__all__ = ["Pending", "Retry", "RouteConfig", "Sent", "finish", "route"]

_ROLE = itemgetter("role")
TOUCH_EVERY = 60.0  # seconds between last-use updates of a shared common_prefix entry


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """A router's fixed settings, as the flows see them."""

    namespace: bytes
    mode: str
    ttl: int
    expiry_margin: float
    truncation: bool  # a truncation strategy is configured (history may be dropped)
    prefix_messages: int | None
    fresh_context_retries: int
    clock: Callable[[], float]
    backend: Backend
    policy: RoutingPolicy

    def fresh(self, entry: Entry, now: float) -> bool:
        """Whether ``entry`` is still alive by the router's own clock (ttl minus a margin)."""
        return now < entry.last_used + (entry.ttl or self.ttl) - self.expiry_margin


@dataclass(slots=True, kw_only=True)
class Pending:
    """A request that was sent and whose outcome decides what is recorded."""

    route: RouteInfo
    started: float
    chain: Chain | None = None  # the whole conversation as sent (before the reply)
    claimed_key: bytes | None = None  # the session key we claimed, if any
    claimed_prev: bytes | None = None  # its predecessor, whose tombstone we can drop now
    root_key: bytes | None = None  # the first recorded transcript: kept as a branch marker
    mark_root: bool = False  # root_key was absent: mark it once this call succeeds
    shared_key: bytes | None = None  # common_prefix key, for touching last_used
    shared_entry: Entry | None = None
    expect_cached: int = 0  # tokens the context should serve from cache (0: unknown)
    view: CallView | None = None  # what the policy decided from (for its evidence)


@dataclass(slots=True)
class Sent:
    """The request went out: ``result`` is the completion (or the open stream)."""

    pending: Pending
    result: object


@dataclass(frozen=True, slots=True)
class Retry:
    """Start over on a fresh context, for ``reason``. ``failure``: the error that made
    us retry (raised, with the retry's error chained, if the retry fails too)."""

    reason: MissReason
    failure: ArkError | None = None


# -- the entry flow --------------------------------------------------------------------


def digests_for(cfg: RouteConfig, msgs: Sequence[WireMessage]) -> Digests:
    """Digest what the policy's lookups need (pure; no I/O)."""
    policy = cfg.policy
    positions: list[int] = []
    probe: tuple[bytes, ...] = ()
    chain: Chain | None = None
    parts: list[bytes] = []
    if policy.wants_session:
        # Recorded transcripts always end with a reply, so only those prefixes can hit.
        roles = map(_ROLE, msgs[:-1])
        positions = list(compress(range(len(msgs) - 1), map("assistant".__eq__, roles)))
        chain = Chain(cfg.namespace)
        parts = message_parts(msgs)
        ends = positions[:1] + positions[-1:] if len(positions) > 1 else positions
        keys = chain.feed_parts(parts, ends)  # the chain goes on to the whole history
        probe = tuple(reversed(keys))  # longest first
        positions.reverse()
    k = 0  # the shared prefix: only prefix policies look it up
    prefix_key = None
    if policy.wants_prefix:
        k = cfg.prefix_messages if cfg.prefix_messages is not None else _leading_system(msgs)
        if 0 < k < len(msgs):
            prefix_key = Chain(cfg.namespace).feed(msgs[:k], [k - 1])[0]
    return Digests(
        messages=msgs,
        positions=tuple(positions),
        probe=probe,
        chain=chain,
        prefix_len=k,
        prefix_key=prefix_key,
        split=trailing_turn_start(msgs),
        parts=parts,
        namespace=cfg.namespace,
    )


def route(cfg: RouteConfig, msgs: list[WireMessage], call: CallSpec) -> Flow[Sent]:
    """Look up, let the policy decide, and send. Returns once a request went out."""
    now = cfg.clock()
    d = digests_for(cfg, msgs)
    extra = list(cfg.policy.evidence_keys(d))
    # Probe the longest record and the root first. On a hit (the common case) the records
    # between them are never read (nor digested); they are when the longest cannot be used.
    probe = list(d.probe)
    keys = [*probe, *([d.prefix_key] if d.prefix_key is not None else []), *extra]
    entries = (yield from run(Get(keys))) if keys else []
    seen = dict(zip(probe, entries, strict=False))
    prefix_entry = entries[len(probe)] if d.prefix_key is not None else None
    evidence = dict(zip(extra, entries[len(keys) - len(extra) :], strict=True)) if extra else {}
    complete = len(d.positions) <= 2
    if not complete and not _usable(cfg, seen[probe[0]], now):
        middle = list(d.session_keys[1:-1])
        seen.update(zip(middle, (yield from run(Get(middle))), strict=True))
        complete = True
    recorded = _recorded(cfg, d, seen, now, complete)
    view = CallView(d, now, recorded, prefix_entry, evidence, complete)
    plan = cfg.policy.decide(view)
    if isinstance(plan, Plain):
        return (yield from _plain(cfg, view, plan.reason))
    if isinstance(plan, UsePrefix):
        return (yield from _prefix(cfg, view))
    reason: MissReason = plan.reason if isinstance(plan, CreateSession) else "new"
    retry: Retry | None = None
    if isinstance(plan, ReuseSession):
        miss: MissReason | None = None
        recs = list(recorded)
        i = 0
        while i < len(recs):
            rec = recs[i]
            i += 1
            if rec.usable:
                # Mutable state (a Context API context) is claimed, so one caller owns
                # it; immutable state (a response id) can be chained from by anyone.
                mutable = cfg.backend.mutable_state
                claimed = (yield from run(Claim(rec.key))) if mutable else rec.entry
                if claimed is not None:
                    outcome = yield from _reuse(cfg, view, call, rec, claimed)
                    if isinstance(outcome, Sent):
                        return outcome
                    retry = outcome
                    miss = outcome.reason
                    break
                if not complete:  # lost the longest: now read the shorter records
                    middle = list(d.session_keys[1:-1])
                    seen.update(zip(middle, (yield from run(Get(middle))), strict=True))
                    complete = True
                    shorter = _recorded(cfg, d, seen, now, complete)
                    recs = [*recs[:i], *(r for r in shorter if r.position < rec.position)]
            miss = miss or rec.reason
        reason = miss or "new"
    return (yield from _seed(cfg, view, call, reason, retry))


def _leading_system(msgs: Sequence[WireMessage]) -> int:
    k = 0
    while k < len(msgs) and msgs[k]["role"] == "system":
        k += 1
    return k


def _usable(cfg: RouteConfig, entry: Entry | None, now: float) -> bool:
    return entry is not None and entry.state == "live" and cfg.fresh(entry, now)


def _recorded(
    cfg: RouteConfig, d: Digests, seen: dict[bytes, Entry | None], now: float, complete: bool
) -> tuple[Recorded, ...]:
    """The records read so far that prefix the history, longest first."""
    out = []
    ends = d.positions[:1] + d.positions[-1:] if len(d.positions) > 1 else d.positions
    candidates = (
        zip(d.positions, d.session_keys, strict=True)
        if complete
        else zip(ends, d.probe, strict=True)
    )
    for p, key in candidates:
        e = seen.get(key)
        if e is not None:
            out.append(Recorded(p, key, e, _usable(cfg, e, now)))
    return tuple(out)


# -- the plans -------------------------------------------------------------------------


def _reuse(
    cfg: RouteConfig, view: CallView, call: CallSpec, rec: Recorded, claimed: Entry
) -> Flow[Sent | Retry]:
    """Send the tail on a claimed session context; a Retry when it must be recreated."""
    msgs, now, key = view.messages, view.now, rec.key
    tail = list(msgs[rec.position + 1 :])
    route = RouteInfo("reused", None, claimed.context_id, "session", len(tail))
    try:
        result = yield from run(Send(claimed.context_id, tail, idempotent=False))
    except ArkError as exc:
        failed = _failed(cfg, key, claimed, now)
        if cfg.backend.is_gone(exc):
            # The server no longer knows it; nothing was appended to it.
            yield from run(Apply(deletes=[key]))
            return Retry("gone")
        if failed:
            yield from run(Apply(puts=failed))
        if cfg.backend.is_busy(exc):
            return Retry("busy")  # used outside this store; our request was refused
        if _may_retry(cfg, exc, call):
            yield from run(Sleep(backoff(exc, call.attempts)))
            return Retry("failure", exc)
        raise
    except BaseException:  # cancelled or interrupted mid-request: outcome unknown
        failed = _failed(cfg, key, claimed, now)
        if failed:
            yield from run(Apply(puts=failed))
        raise
    pending = Pending(
        route=route,
        started=now,
        chain=view.digests.chain,
        claimed_key=key,
        claimed_prev=claimed.prev,
        expect_cached=claimed.tokens,
        view=view,
    )
    pending.root_key, pending.mark_root = _root(view)
    return Sent(pending, result)


def _seed(
    cfg: RouteConfig, view: CallView, call: CallSpec, reason: MissReason, retry: Retry | None
) -> Flow[Sent]:
    """Create a context from the history before the trailing turn, then send the turn."""
    msgs, split = view.messages, view.digests.split
    recreated = retry is not None
    first = retry.failure if retry is not None else None
    create_tokens = 0
    tail = list(msgs[split:])
    while True:
        try:
            created = yield from run(Create(list(msgs[:split])))
        except ArkError as exc:
            if first is not None:  # describe the request that may have arrived
                raise first from exc
            raise
        create_tokens += created.billed_tokens
        outcome: Outcome = "recreated" if recreated else "created"
        route = RouteInfo(outcome, reason, created.state, "session", len(tail))
        route.create_tokens = create_tokens
        try:
            result = yield from run(Send(created.state, tail, idempotent=False))
        except ArkError as exc:
            if _may_retry(cfg, exc, call):
                yield from run(Sleep(backoff(exc, call.attempts)))
                recreated, reason = True, "failure"
                first = first or exc
                continue
            if first is not None:  # describe the request that may have arrived
                raise first from exc
            raise
        pending = Pending(
            route=route,
            started=view.now,
            chain=view.digests.chain,
            expect_cached=created.billed_tokens,
            view=view,
        )
        pending.root_key, pending.mark_root = _root(view)
        return Sent(pending, result)


def _plain(cfg: RouteConfig, view: CallView, reason: MissReason) -> Flow[Sent]:
    msgs = list(view.messages)
    route = RouteInfo("bypassed", reason, None, cfg.mode, len(msgs))
    result = yield from run(Send(None, msgs, idempotent=True))
    return Sent(Pending(route=route, started=0.0, view=view), result)


def _prefix(cfg: RouteConfig, view: CallView) -> Flow[Sent]:
    """Send the rest on the shared context of the prefix (created once per process)."""
    d, now = view.digests, view.now
    key, k = d.prefix_key, d.prefix_len
    assert key is not None
    prefix, tail = list(view.messages[:k]), list(view.messages[k:])
    entry = view.prefix_entry
    outcome: Outcome = "reused"
    reason: MissReason | None = None
    create_tokens = 0
    if entry is None or entry.state != "live" or not cfg.fresh(entry, now):
        reason = "expired" if entry is not None else "new"
        stale = entry.context_id if entry is not None else None
        entry, billed = yield from run(Detached(shared_create(cfg, key, prefix, stale)))
        outcome = "created" if billed is not None else "reused"
        create_tokens += billed or 0
        if billed is None:
            reason = None
    for _ in range(2):
        route = RouteInfo(outcome, reason, entry.context_id, "common_prefix", len(tail))
        route.create_tokens = create_tokens
        try:
            result = yield from run(Send(entry.context_id, tail, idempotent=True))
        except ArkError as exc:
            if not cfg.backend.is_gone(exc) or outcome != "reused":
                raise  # a context we just made is gone too: say so, do not loop
            entry, billed = yield from run(
                Detached(shared_create(cfg, key, prefix, entry.context_id))
            )
            outcome, reason = "recreated", "gone"
            create_tokens += billed or 0
            continue
        pending = Pending(route=route, started=now, shared_key=key, shared_entry=entry, view=view)
        return Sent(pending, result)
    raise AssertionError("unreachable")  # pragma: no cover


def shared_create(
    cfg: RouteConfig, key: bytes, prefix: list[WireMessage], stale: str | None
) -> Flow[tuple[Entry, int | None]]:
    """Get-or-create the shared context of ``key``, once per process: under the key's
    lock, re-read the store and create only if nobody did meanwhile. Returns the entry
    and the tokens billed (``None``: someone else created it). ``stale``: an id known
    to be gone, never returned again."""
    yield from run(Acquire(key))
    try:
        (entry,) = yield from run(Get([key]))
        now = cfg.clock()
        if (
            entry is not None
            and entry.state == "live"
            and entry.context_id != stale
            and cfg.fresh(entry, now)
        ):
            return entry, None
        created = yield from run(Create(prefix))
        fresh = Entry(created.state, "live", now, created.ttl or cfg.ttl)
        yield from run(Apply(puts=[(key, fresh, now + fresh.ttl)]))
        return fresh, created.billed_tokens
    finally:
        yield from run(Release(key))


# -- after the request -----------------------------------------------------------------


def finish(
    cfg: RouteConfig,
    pending: Pending,
    reply: str,
    usage: Usage | None,
    *,
    ok: bool,
    final: object = None,
) -> Flow[None]:
    """Record what the server now holds (or drop it) after the request ended. ``final``:
    the completion or stream, from which the backend reads the state after the turn."""
    puts: list[Put] = []
    deletes: list[bytes] = []
    route = pending.route
    if route.context_id is not None:
        _record(cfg, pending, reply, usage, ok, final, puts, deletes)
    if pending.view is not None:
        puts.extend(cfg.policy.evidence(pending.view, route, ok and not route.truncated))
    if puts or deletes:
        yield from run(Apply(puts=puts, deletes=deletes))


def _record(
    cfg: RouteConfig,
    pending: Pending,
    reply: str,
    usage: Usage | None,
    ok: bool,
    final: object,
    puts: list[Put],
    deletes: list[bytes],
) -> None:
    route, now = pending.route, pending.started
    assert route.context_id is not None
    if ok and usage is not None and _truncated(pending.expect_cached, usage):
        # The server served less than the context held: it dropped history. Only a
        # truncation the user configured may do that; otherwise never reuse it.
        route.truncated = True
        ok = cfg.truncation
    if pending.shared_key is not None:
        e = pending.shared_entry
        if ok and e is not None and now - e.last_used > TOUCH_EVERY:
            ttl = e.ttl or cfg.ttl
            puts.append((pending.shared_key, Entry(e.context_id, "live", now, ttl), now + ttl))
        return
    ttl = cfg.ttl
    expire = now + ttl
    mutable = cfg.backend.mutable_state
    if not ok:
        if pending.claimed_key is not None and mutable:
            marker = Entry(route.context_id, "failed", now, ttl)
            puts.append((pending.claimed_key, marker, expire))
        return
    if pending.chain is None:  # pragma: no cover - only plain calls have no chain
        return
    new_key = pending.chain.extended({"role": "assistant", "content": reply})
    held = usage.prompt_tokens + usage.completion_tokens if usage is not None else 0
    state = cfg.backend.state_after_turn(route.context_id, final)
    puts.append((new_key, Entry(state, "live", now, ttl, pending.claimed_key, held), expire))
    tombstone = Entry("", "superseded", now, ttl)
    if pending.claimed_key is not None and mutable:  # immutable state stays reusable
        puts.append((pending.claimed_key, tombstone, expire))
        if pending.claimed_prev is not None and pending.claimed_prev != pending.root_key:
            deletes.append(pending.claimed_prev)
    if pending.mark_root and pending.root_key is not None:
        puts.append((pending.root_key, tombstone, expire))


# -- helpers ---------------------------------------------------------------------------


def _root(view: CallView) -> tuple[bytes | None, bool]:
    """The conversation's first recorded transcript (its shortest candidate key), and
    whether it is absent from the store. It is kept as a ``superseded`` marker, so an
    edit of an earlier message misses as ``branch`` rather than ``new``."""
    keys = view.digests.probe
    if not keys:
        return None, False
    root = keys[-1]
    return root, not any(r.key == root for r in view.recorded)


def _may_retry(cfg: RouteConfig, exc: ArkError, call: CallSpec) -> bool:
    """A fresh-context retry after ``exc``: within ``fresh_context_retries`` and only for
    errors the retry rules allow. Counts the attempt."""
    if call.attempts > cfg.fresh_context_retries or not retryable(exc):
        return False
    call.attempts += 1
    return True


def _failed(cfg: RouteConfig, key: bytes, claimed: Entry, now: float) -> list[Put]:
    """The write that marks a claimed context failed (none for immutable state, which a
    failed turn leaves as it was)."""
    if not cfg.backend.mutable_state:
        return []
    return [(key, _marker(claimed, "failed"), now + claimed.ttl)]


def _marker(entry: Entry, state: str) -> Entry:
    return Entry(entry.context_id, state, entry.last_used, entry.ttl)  # type: ignore[arg-type]


def _truncated(expected: int, usage: Usage) -> bool:
    """True when fewer tokens came from the cache than the context held (with a small
    tolerance for server-side accounting): the server dropped history."""
    return expected > 0 and usage.cached_tokens < expected * 0.98 - 8
