"""Pure routing flows: conversation in, operations out, typed outcome back.

Each flow is a generator of :mod:`~ark_context.routing.ops` operations. ``route`` ends
with a :class:`Sent` (the request went out; what to record is in its :class:`Pending`);
``finish`` (:mod:`.record`) records what the server now holds, or drops it; the
shared-prefix plan lives in :mod:`.prefix`. The session reuse step
returns ``Sent | Retry``: a :class:`Retry` names the miss reason and, after a failure,
the first error, which is what the caller sees if the fresh-context retry fails too.
The state machine is drawn in docs/architecture.md ("Routing state machine").
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING

from .._exceptions import ArkError
from .._messages import Chain, message_parts, trailing_turn_start
from .._route_types import MissReason, Outcome, RouteInfo
from ..stores import Entry
from .ops import Apply, Claim, Create, Flow, Get, Send, Sleep, run
from .outcomes import Pending, Retry, RouteConfig, Sent
from .policies import (
    CallView,
    CreateSession,
    Digests,
    Plain,
    Plan,
    Recorded,
    ReuseSession,
    UsePrefix,
)
from .prefix import prefix_plan, shared_create
from .record import finish
from .rules import backoff, retryable

if TYPE_CHECKING:
    from .._messages import WireMessage
    from ..stores._base import Put
    from .backend import CallSpec

__all__ = [
    "Pending",
    "Retry",
    "RouteConfig",
    "Sent",
    "digests_for",
    "finish",
    "route",
    "shared_create",
]

_ROLE = itemgetter("role")


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
    if call.plain is not None:  # decided before routing (e.g. tools on the Context API)
        route = RouteInfo("bypassed", call.plain, None, cfg.mode, len(msgs))
        result = yield from run(Send(None, msgs, idempotent=True))
        return Sent(Pending(route=route, started=0.0), result)
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
    sent = yield from _carry_out(cfg, view, plan, call, seen)
    sent.pending.route.decision = plan.decision
    return sent


def _carry_out(
    cfg: RouteConfig, view: CallView, plan: Plan, call: CallSpec, seen: dict[bytes, Entry | None]
) -> Flow[Sent]:
    """Carry out the policy's plan (``seen``: the session records read so far)."""
    d, now, recorded, complete = view.digests, view.now, view.recorded, view.complete
    if isinstance(plan, Plain):
        return (yield from _plain(cfg, view, plan.reason))
    if isinstance(plan, UsePrefix):
        return (yield from prefix_plan(cfg, view))
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
        if (yield from _fresh_retry(cfg, exc, call)):
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
            if (yield from _fresh_retry(cfg, exc, call)):
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


# -- after the request -----------------------------------------------------------------


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


def _fresh_retry(cfg: RouteConfig, exc: ArkError, call: CallSpec) -> Flow[bool]:
    """Whether to start over on a fresh context after ``exc`` (within
    ``fresh_context_retries``, for errors the retry rules allow); if so, count the attempt
    and wait the backoff first. The one place the router uses the retry rules."""
    if call.attempts > cfg.fresh_context_retries or not retryable(exc):
        return False
    call.attempts += 1
    yield from run(Sleep(backoff(exc, call.attempts)))
    return True


def _failed(cfg: RouteConfig, key: bytes, claimed: Entry, now: float) -> list[Put]:
    """The write that marks a claimed context failed (none for immutable state, which a
    failed turn leaves as it was)."""
    if not cfg.backend.mutable_state:
        return []
    return [(key, _marker(claimed, "failed"), now + claimed.ttl)]


def _marker(entry: Entry, state: str) -> Entry:
    return Entry(entry.context_id, state, entry.last_used, entry.ttl)  # type: ignore[arg-type]
