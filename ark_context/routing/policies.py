"""The policy seam: which plan a call takes, decided from a read-only view of the store.

A routing policy is pure: :meth:`RoutingPolicy.decide` maps a :class:`CallView` (the
messages, their digests, the longest live session hit and why longer ones missed, the
shared-prefix entry, the trailing-turn split, and any evidence entries the policy asked
for) to a :class:`Plan`. The flows carry the plan out; they never ask why. ``session`` and
``common_prefix`` are the two policies here; the cost-aware ``auto`` policy
(:mod:`.auto`, the default) plugs in the same way: it names extra store keys to read
(:meth:`~RoutingPolicy.evidence_keys`) and entries to write after the call
(:meth:`~RoutingPolicy.evidence`), without touching a flow. See docs/architecture.md ("Policy seam").

>>> policy = policy_for("session")
>>> policy.name, policy.wants_session, policy.wants_prefix
('session', True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._messages import Chain, WireMessage
    from .._route_types import MissReason, RouteInfo
    from ..stores import Entry
    from ..stores._base import Put

__all__ = [
    "STATE_REASON",
    "CallView",
    "CommonPrefixPolicy",
    "CreateSession",
    "Digests",
    "Plain",
    "Plan",
    "Recorded",
    "ReuseSession",
    "RoutingPolicy",
    "SessionPolicy",
    "UsePrefix",
    "policy_for",
]

#: Why a recorded transcript that is not usable missed, by its store state.
STATE_REASON: dict[str, MissReason] = {
    "superseded": "branch",  # a later transcript continued it: this history diverged
    "claimed": "busy",
    "failed": "failure",
    "evicted": "evicted",
    "live": "expired",  # live, but past its ttl (minus the margin) by the router's clock
}


@dataclass(slots=True)  # read-only by convention (frozen costs ~2 us a call)
class Digests:
    """What the flow computed before reading the store (no I/O yet).

    Only the keys of the longest candidate and of the first one (the root) are computed
    up front (``probe``); :attr:`session_keys` computes the others on first use."""

    messages: Sequence[WireMessage]
    positions: tuple[int, ...]  # session candidates: indices of assistant replies, longest first
    probe: tuple[bytes, ...]  # keys of positions[0] and positions[-1] (one key if they agree)
    chain: Chain | None  # running digest of the whole history (session policies)
    prefix_len: int  # leading system messages, or the configured length (0: not looked up)
    prefix_key: bytes | None  # digest of messages[:prefix_len] (prefix policies)
    split: int  # where the trailing new turn starts
    parts: Sequence[bytes] = ()  # message_parts(messages), for the other keys
    namespace: bytes = b""
    _memo: list[tuple[bytes, ...]] = field(default_factory=list, repr=False, compare=False)

    @property
    def session_keys(self) -> tuple[bytes, ...]:
        """The key (digest of ``messages[: p + 1]``) of every position, longest first."""
        if len(self.positions) <= 2:
            return self.probe
        if not self._memo:
            from .._messages import Chain

            ascending = self.positions[::-1]
            keys = Chain(self.namespace).feed_parts(self.parts, ascending)
            self._memo.append(tuple(reversed(keys)))
        return self._memo[0]


@dataclass(slots=True)  # read-only by convention (frozen costs ~2 us a call)
class Recorded:
    """A recorded transcript that prefixes the history."""

    position: int  # index of its last message
    key: bytes
    entry: Entry
    usable: bool  # live and fresh: a claim may win it

    @property
    def reason(self) -> MissReason:
        return "busy" if self.usable else STATE_REASON.get(self.entry.state, "new")


@dataclass(slots=True)  # read-only by convention (frozen costs ~2 us a call)
class CallView:
    """Everything a policy may look at. Read-only; built once per call."""

    digests: Digests
    now: float
    recorded: tuple[Recorded, ...]  # longest first; absent keys left out
    prefix_entry: Entry | None
    evidence: dict[bytes, Entry | None] = field(default_factory=dict)
    complete: bool = True  # False: only the longest record (usable) and the root were read

    @property
    def messages(self) -> Sequence[WireMessage]:
        return self.digests.messages

    @property
    def longest_hit(self) -> Recorded | None:
        """The longest live, fresh recorded transcript (a claim may still lose it)."""
        return next((r for r in self.recorded if r.usable), None)

    @property
    def miss(self) -> MissReason | None:
        """Why the longest recorded transcript cannot be reused (None: no record, or a hit)."""
        for r in self.recorded:
            return None if r.usable else r.reason
        return None


@dataclass(frozen=True, slots=True)
class ReuseSession:
    """Claim the longest live session context and send the rest; else create one.
    ``decision`` (every plan): why the policy chose it, reported as ``RouteInfo.decision``."""

    decision: str | None = None


@dataclass(frozen=True, slots=True)
class CreateSession:
    """Create a session context seeded with the history before the trailing turn."""

    reason: MissReason
    decision: str | None = None


@dataclass(frozen=True, slots=True)
class UsePrefix:
    """Use (or create, once per process) the shared context of the leading prefix."""

    decision: str | None = None


@dataclass(frozen=True, slots=True)
class Plain:
    """Plain ``/chat/completions`` with the whole history; nothing is recorded."""

    reason: MissReason
    decision: str | None = None


Plan = ReuseSession | CreateSession | UsePrefix | Plain


class RoutingPolicy(Protocol):
    """Chooses a :data:`Plan` per call. ``wants_*`` say which lookups the flow makes."""

    name: str
    wants_session: bool
    wants_prefix: bool
    #: The reasons of the plain calls this policy would rather make the first turn of a
    #: session where starting one costs what a plain call costs (a Responses API chain):
    #: those it gave because a context's creation would not pay, not because the
    #: conversation will not continue.
    free_start_reasons: frozenset[MissReason]

    def evidence_keys(self, digests: Digests) -> Sequence[bytes]:
        """Extra store keys to read (in the same batch as the lookups) before deciding."""
        ...

    def decide(self, view: CallView) -> Plan: ...

    def starts_chain(self, view: CallView, first_prior: float) -> bool:
        """Whether a plain plan whose reason is in :attr:`free_start_reasons` starts a
        session after all (asked only where a session's first turn is free but its storage
        is not, a Responses API chain). ``first_prior``: the chance that a first call is
        continued before any was seen (the router passes 1 for a call offering tools)."""
        ...

    def evidence(
        self, view: CallView, route: RouteInfo, ok: bool, reply: Mapping[str, Any]
    ) -> Sequence[Put]:
        """Extra store entries to write when the call ends (``ok``: it completed with
        ``reply``, the assistant's wire message as the next history will carry it: text,
        and tool calls when it made any)."""
        ...


class SessionPolicy:
    """``mode="session"``: reuse the longest recorded transcript, else seed a new context
    from the history; a call with nothing to seed goes plain."""

    name = "session"
    wants_session = True
    wants_prefix = False
    free_start_reasons: frozenset[MissReason] = frozenset({"no_prefix"})

    def evidence_keys(self, digests: Digests) -> Sequence[bytes]:
        return ()

    def decide(self, view: CallView) -> Plan:
        split = view.digests.split
        if split == 0 or split == len(view.messages):
            return Plain("no_prefix")  # no system prompt and no reply to seed from
        if view.longest_hit is not None:
            return ReuseSession()
        return CreateSession(view.miss or "new")

    def starts_chain(self, view: CallView, first_prior: float) -> bool:
        return True  # a session is what was asked for; its first turn is free

    def evidence(
        self, view: CallView, route: RouteInfo, ok: bool, reply: Mapping[str, Any]
    ) -> Sequence[Put]:
        return ()


class CommonPrefixPolicy:
    """``mode="common_prefix"``: one shared, immutable context per leading prefix."""

    name = "common_prefix"
    wants_session = False
    wants_prefix = True
    free_start_reasons: frozenset[MissReason] = frozenset()

    def evidence_keys(self, digests: Digests) -> Sequence[bytes]:
        return ()

    def decide(self, view: CallView) -> Plan:
        if view.digests.prefix_key is None:
            return Plain("no_prefix")  # no leading system prompt (or nothing after it)
        return UsePrefix()

    def starts_chain(self, view: CallView, first_prior: float) -> bool:
        return False  # never starts a session

    def evidence(
        self, view: CallView, route: RouteInfo, ok: bool, reply: Mapping[str, Any]
    ) -> Sequence[Put]:
        return ()


def policy_for(mode: str) -> RoutingPolicy:
    """The built-in policy of a forced ``mode`` (``session`` or ``common_prefix``; the
    router builds ``auto``'s :class:`~ark_context.routing.auto.AutoPolicy` itself)."""
    return SessionPolicy() if mode == "session" else CommonPrefixPolicy()
