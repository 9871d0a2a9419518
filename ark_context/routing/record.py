"""After the request: record the transcript the server now holds, or drop it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stores import Entry
from .ops import Apply, Flow, run
from .outcomes import Pending, RouteConfig

if TYPE_CHECKING:
    from .._models import Usage
    from ..stores._base import Put

__all__ = ["TOUCH_EVERY", "finish"]

TOUCH_EVERY = 60.0  # seconds between last-use updates of a shared common_prefix entry


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
        answered = pending.reply_message or {"role": "assistant", "content": reply}
        puts.extend(cfg.policy.evidence(pending.view, route, ok and not route.truncated, answered))
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
            # A touch moves the last use, never a fixed deadline (a Responses prefix
            # cache's expire_at): the lifetime left is capped by it.
            ttl = _lifetime(cfg, e.context_id, now, e.ttl or cfg.ttl)
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
    new_key = pending.chain.extended(
        pending.reply_message or {"role": "assistant", "content": reply}
    )
    held = usage.prompt_tokens + usage.completion_tokens if usage is not None else 0
    state = cfg.backend.state_after_turn(route.context_id, final)
    ttl = _lifetime(cfg, state, now, ttl)
    expire = now + ttl
    puts.append((new_key, Entry(state, "live", now, ttl, pending.claimed_key, held), expire))
    tombstone = Entry("", "superseded", now, ttl)
    if pending.claimed_key is not None and mutable:  # immutable state stays reusable
        puts.append((pending.claimed_key, tombstone, expire))
        if pending.claimed_prev is not None and pending.claimed_prev != pending.root_key:
            deletes.append(pending.claimed_prev)
    if pending.mark_root and pending.root_key is not None:
        puts.append((pending.root_key, tombstone, expire))


def _lifetime(cfg: RouteConfig, state: str, now: float, ttl: int) -> int:
    """Seconds ``state`` lives from ``now``: ``ttl``, or up to the fixed deadline the
    state carries (Responses ``expire_at``), which never slides."""
    deadline = cfg.backend.deadline(state)
    return ttl if deadline is None else max(int(deadline - now), 1)


def _truncated(expected: int, usage: Usage) -> bool:
    """True when fewer tokens came from the cache than the context held (with a small
    tolerance for server-side accounting): the server dropped history."""
    return expected > 0 and usage.cached_tokens < expected * 0.98 - 8
