"""What the flows share: a router's fixed settings and the typed outcomes of a flow.

``route`` ends with a :class:`Sent`; the session reuse step returns ``Sent | Retry``.
A :class:`Pending` (keyword-only) is what a sent request must record when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._exceptions import ArkError
    from .._messages import Chain
    from .._route_types import MissReason, RouteInfo
    from ..stores import Entry
    from .backend import Backend
    from .policies import CallView, RoutingPolicy

__all__ = ["Pending", "Retry", "RouteConfig", "Sent"]


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
    reply_message: dict[str, Any] | None = None  # the reply's wire message, when not text only


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
