"""The shared-prefix plan (``common_prefix``): one immutable context per leading prefix,
created once per process (docs/architecture.md, "Routing state machine")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exceptions import ArkError
from .._route_types import RouteInfo
from ..stores import Entry
from .ops import Acquire, Apply, Create, Detached, Flow, Get, Release, Send, run
from .outcomes import Pending, RouteConfig, Sent

if TYPE_CHECKING:
    from .._messages import WireMessage
    from .._route_types import MissReason, Outcome
    from .policies import CallView

__all__ = ["prefix_plan", "shared_create"]


def prefix_plan(cfg: RouteConfig, view: CallView) -> Flow[Sent]:
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
        created = yield from run(Create(prefix, shared=True))
        fresh = Entry(created.state, "live", now, created.ttl or cfg.ttl)
        yield from run(Apply(puts=[(key, fresh, now + fresh.ttl)]))
        return fresh, created.billed_tokens
    finally:
        yield from run(Release(key))
