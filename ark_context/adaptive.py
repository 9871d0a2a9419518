"""The ``auto`` decision: which plan a call gets, from evidence and a cost model.

Pure functions over small frozen dataclasses, so a routing policy can call them with
whatever it read from the store, and tests can drive them without a server.

Plans (what the router does for one call):

- ``reuse_session``: a live session context holds a prefix of the history: send the rest.
- ``create_session``: seed a session context with the history before the trailing turn.
- ``use_prefix`` / ``create_prefix``: serve the leading system messages from a shared
  (``common_prefix``) context, reusing it or creating it.
- ``plain``: plain ``/chat/completions``; nothing is created.

The principle: a context is created only when the evidence says it will be reused often
enough to pay for its creation (billed at the full input price) and its storage; what does
not repeat never gets a context. Evidence lives in the store next to the contexts (so it
works across processes and hosts with SQLite or Redis) as :class:`~ark_context.stores.Entry`
records holding digests, timestamps and counters only:

==========================================  ================================================
key                                         value (``Entry``)
==========================================  ================================================
``evidence_key("group", group_digest)``     ``counters = (calls, continued, deep, rewritten,
                                            sessions)``, ``tokens`` = prefix size,
                                            ``last_used`` = last call seen
``evidence_key("answered", transcript)``    ``counters = (depth,)``, ``tokens`` = size of the
                                            transcript incl. the reply; one per answered call
``evidence_key("namespace", namespace)``    ``counters = (calls, repeats, histories,
                                            continued, firsts, first_continued)``: calls
                                            seen in the namespace, those whose prefix was
                                            seen before, those with earlier replies, those
                                            that continued a transcript, first calls (no
                                            earlier replies) and calls that continued one
==========================================  ================================================

``group_digest`` is the digest of the leading system messages (or of the namespace when
there are none); ``transcript`` is the digest chain value of the call's messages plus its
reply, the same value a session entry is recorded under. A later call whose history
extends an answered transcript *continues* a conversation, whatever route the earlier
call took (plain, shared prefix or session).

>>> from ark_context.adaptive import CallFacts, GroupStats, decide
>>> from ark_context.costs import CostModel
>>> facts = CallFacts(prefix_tokens=300, history_tokens=300)
>>> decide(facts, GroupStats(), CostModel()).reason  # first sight of this system prompt
'one_off'
>>> decide(facts, GroupStats(calls=3), CostModel()).plan  # it repeats
'create_prefix'
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace
from typing import Literal

from ._exceptions import ArkConfigError
from .costs import CostModel
from .stores import Entry
from .stores._base import Put

__all__ = [
    "EVIDENCE_KINDS",
    "MODES",
    "CallFacts",
    "Decision",
    "Evidence",
    "GroupStats",
    "NamespaceStats",
    "Plan",
    "Reason",
    "answered_record",
    "check_mode",
    "decide",
    "evidence_key",
    "record_call",
]

Plan = Literal["reuse_session", "create_session", "use_prefix", "create_prefix", "plain"]
#: continues: the history extends a transcript seen answered (a session pays);
#: group_continues: a first call whose prefix's conversations were seen to go on;
#: prefix_repeats: the leading system messages were seen before (a shared prefix pays);
#: one_off: first sight of this prefix; no_repeat: seen, but not often enough to pay;
#: window_slides: earlier turns that extend nothing seen (trimmed or re-serialised
#: history, edits before the first answer): never a session context;
#: no_prefix: nothing repeats that could be cached (no leading system messages).
Reason = Literal[
    "continues",
    "group_continues",
    "prefix_repeats",
    "one_off",
    "no_repeat",
    "window_slides",
    "no_prefix",
]
EVIDENCE_KINDS = ("group", "answered", "namespace")
_EVIDENCE_TAG = b"ark-context evidence v1\x00"
_DECAY_AT = 256  # halve every counter of a group once it has seen this many calls
_P_MAX = 0.95  # never assume a conversation continues forever


MODES = ("auto", "session", "common_prefix")


def check_mode(mode: object, setting: str = "mode") -> str:
    """``mode`` if it is one of :data:`MODES`, else :class:`~ark_context.ArkConfigError`
    naming ``setting``.

    >>> check_mode("auto")
    'auto'
    >>> check_mode("sesion")
    Traceback (most recent call last):
    ...
    ark_context._exceptions.ArkConfigError: mode must be one of 'auto', 'session', 'common_prefix'; got 'sesion'.
    """
    if not isinstance(mode, str) or mode not in MODES:
        allowed = ", ".join(repr(m) for m in MODES)
        raise ArkConfigError(f"{setting} must be one of {allowed}; got {mode!r}.")
    return mode


def evidence_key(kind: str, digest: bytes) -> bytes:
    """The store key of an evidence record: 16 bytes, disjoint from context keys.

    ``digest`` is a chain digest (it already covers the namespace, so tenants and
    settings never share evidence).

    >>> len(evidence_key("group", b"\\x00" * 16))
    16
    """
    if kind not in EVIDENCE_KINDS:
        raise ValueError(f"evidence kind must be one of {EVIDENCE_KINDS}; got {kind!r}.")
    h = hashlib.blake2b(_EVIDENCE_TAG + kind.encode() + b"\x00" + digest, digest_size=16)
    return h.digest()


@dataclass(frozen=True, slots=True)
class GroupStats:
    """What the store remembers about one group of calls (one leading system prefix).

    ``calls``: answered calls seen; ``continued``: calls whose history extended an answered
    transcript; ``deep``: continued calls that extended a transcript which was itself a
    continuation; ``rewritten``: calls with earlier turns that extended nothing seen;
    ``sessions``: session contexts created for the group; ``prefix_tokens``: the prefix's
    size as last measured (0: unknown).

    >>> GroupStats.from_entry(None).calls
    0
    """

    calls: int = 0
    continued: int = 0
    deep: int = 0
    rewritten: int = 0
    sessions: int = 0
    prefix_tokens: int = 0
    last_seen: float = 0.0

    @classmethod
    def from_entry(cls, entry: Entry | None) -> GroupStats:
        if entry is None or entry.state == "evicted":
            return cls()
        calls, continued, deep, rewritten, sessions = (*entry.counters, 0, 0, 0, 0, 0)[:5]
        return cls(calls, continued, deep, rewritten, sessions, entry.tokens, entry.last_used)

    def to_entry(self, ttl: int) -> Entry:
        return Entry(
            "",
            last_used=self.last_seen,
            ttl=ttl,
            tokens=self.prefix_tokens,
            counters=(self.calls, self.continued, self.deep, self.rewritten, self.sessions),
        )

    def p_continue_again(self, prior: float = 0.5) -> float:
        """Estimated chance that a continued conversation continues once more: the group's
        own record, with ``prior`` (e.g. the namespace's continue rate) as two pseudo-calls."""
        return min((self.deep + 2 * prior) / (self.continued + 2), _P_MAX)

    @property
    def p_first_continues(self) -> float:
        """Share of this group's first calls (no history) that were continued, counting
        the call at hand as one more first call (no prior: it takes evidence)."""
        firsts = max(self.calls - self.continued - self.rewritten, 0)
        from_first = max(self.continued - self.deep, 0)
        return min(from_first / (firsts + 1), _P_MAX)


@dataclass(frozen=True, slots=True)
class NamespaceStats:
    """What one namespace (model, key, settings) has seen, across all prefixes: ``calls``
    with leading system messages; ``repeats``, those whose prefix had been seen before;
    ``histories``, calls with earlier replies; ``continued``, those whose history extended
    a transcript seen answered; ``firsts``, calls without earlier replies; and
    ``first_continued``, calls that continued such a first call (chain depth 0).

    It is the prior for a prefix or conversation with little evidence of its own. Where
    prompts rarely repeat (retrieved text inside the system message), a prefix seen once
    before is a weak sign; where histories are rewritten (retrieval in the system message
    of a chat, trimmed windows), one continuation is a weak sign too.

    >>> NamespaceStats(calls=9, repeats=8).repeat_rate
    0.9
    """

    calls: int = 0
    repeats: int = 0
    histories: int = 0
    continued: int = 0
    firsts: int = 0
    first_continued: int = 0

    @classmethod
    def from_entry(cls, entry: Entry | None) -> NamespaceStats:
        if entry is None or entry.state == "evicted":
            return cls()
        return cls(*(*entry.counters, 0, 0, 0, 0, 0, 0)[:6])

    def to_entry(self, ttl: int, now: float) -> Entry:
        return Entry("", last_used=now, ttl=ttl, counters=astuple(self))

    @property
    def repeat_rate(self) -> float:
        """Share of calls whose prefix had been seen before (Laplace-smoothed)."""
        return (self.repeats + 1) / (self.calls + 1)

    @property
    def continue_rate(self) -> float:
        """Share of calls with history that continued a seen transcript (Laplace)."""
        return (self.continued + 1) / (self.histories + 2)

    def first_continue_rate(self, prior: float = 0.0) -> float:
        """Share of first calls that some later call continued; ``prior`` before any
        first call was seen (default 0: it takes evidence).

        >>> NamespaceStats(firsts=4, first_continued=1).first_continue_rate()
        0.25
        """
        return min(self.first_continued / self.firsts, 1.0) if self.firsts else prior

    def record(self, stats: GroupStats, facts: CallFacts) -> NamespaceStats:
        """After a call whose group had ``stats`` before it; halves at 256 calls."""
        prefixed = facts.prefix_tokens > 0
        n = NamespaceStats(
            self.calls + int(prefixed),
            self.repeats + int(prefixed and stats.calls > 0),
            self.histories + int(facts.has_history),
            self.continued + int(facts.continues),
            self.firsts + int(not facts.has_history),
            self.first_continued + int(facts.continues and facts.depth == 0),
        )
        if max(n.calls, n.histories, n.firsts) >= _DECAY_AT:
            n = NamespaceStats(*(c // 2 for c in n.to_entry(0, 0.0).counters))
        return n


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the router knows about one call before choosing a plan.

    ``prefix_tokens``: size of the leading system messages (0: none). ``history_tokens``:
    size of everything before the trailing turn (a session context's seed).
    ``session_hit_tokens``: tokens a live session context holds that the history extends
    (0: none). ``shared_live``: a live shared context for the prefix exists. ``continues``:
    the history extends a transcript seen answered, at chain ``depth`` (0: the extended
    call was itself a first call). ``has_history``: the history holds earlier replies.
    """

    prefix_tokens: int = 0
    history_tokens: int = 0
    session_hit_tokens: int = 0
    shared_live: bool = False
    continues: bool = False
    depth: int = 0
    has_history: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """A plan and why. ``expected_reuses`` is the estimate the plan was judged by."""

    plan: Plan
    reason: Reason
    expected_reuses: float = 0.0


def decide(
    facts: CallFacts,
    stats: GroupStats,
    model: CostModel,
    namespace: NamespaceStats | None = None,
) -> Decision:
    """Choose the cheapest plan the evidence supports (see the module docstring).

    >>> from ark_context.costs import CostModel
    >>> chat = CallFacts(prefix_tokens=200, history_tokens=600, continues=True, has_history=True)
    >>> decide(chat, GroupStats(calls=1), CostModel()).plan
    'create_session'
    >>> slide = CallFacts(prefix_tokens=200, history_tokens=900, has_history=True,
    ...                   shared_live=True)
    >>> decide(slide, GroupStats(calls=5, rewritten=4), CostModel()).reason
    'prefix_repeats'
    """
    if facts.session_hit_tokens > 0:
        return Decision("reuse_session", "continues", 1.0)
    served = facts.prefix_tokens if facts.shared_live else 0
    prior = namespace.continue_rate if namespace is not None else 0.5
    again = stats.p_continue_again(prior)
    if facts.continues:
        expected = again / (1.0 - again)
        if model.creation_pays(facts.history_tokens, expected, served_otherwise=served):
            return Decision("create_session", "continues", expected)
    elif not facts.has_history and not facts.shared_live:
        # A first call, in a group whose first calls were mostly continued: seed a session
        # with the prefix now, as this conversation will likely go on too.
        first = stats.p_first_continues
        expected = first / (1.0 - again)
        if first >= 0.5 and model.creation_pays(facts.history_tokens, expected):
            return Decision("create_session", "group_continues", expected)
    prefix = _prefix_plan(facts, stats, model, namespace)
    if prefix.plan == "plain" and facts.continues:
        return replace(prefix, reason="no_repeat")
    if prefix.plan == "plain" and facts.has_history and prefix.reason != "no_prefix":
        return replace(prefix, reason="window_slides")
    return prefix


def _prefix_plan(
    facts: CallFacts, stats: GroupStats, model: CostModel, namespace: NamespaceStats | None
) -> Decision:
    if facts.prefix_tokens <= 0:
        return Decision("plain", "no_prefix")
    if facts.shared_live:
        return Decision("use_prefix", "prefix_repeats", 1.0)
    if stats.calls <= 0:
        return Decision("plain", "one_off")
    # Seen ``calls`` times in the evidence window: expect about as many more, discounted by
    # how often prefixes repeat in this namespace at all.
    rate = namespace.repeat_rate if namespace is not None else 1.0
    expected = stats.calls * rate
    if model.creation_pays(facts.prefix_tokens, expected):
        return Decision("create_prefix", "prefix_repeats", expected)
    return Decision("plain", "no_repeat", expected)


def record_call(
    stats: GroupStats,
    facts: CallFacts,
    decision: Decision,
    *,
    now: float,
    prefix_tokens: int | None = None,
) -> GroupStats:
    """The group's stats after a call answered (write them back with
    :meth:`GroupStats.to_entry` under ``evidence_key("group", ...)``).

    ``prefix_tokens``: the prefix size as measured by this call's usage, when known.
    Counters halve once ``calls`` reaches 256, so old behaviour fades.

    >>> s = record_call(GroupStats(), CallFacts(prefix_tokens=10), Decision("plain", "one_off"),
    ...                 now=5.0)
    >>> (s.calls, s.last_seen)
    (1, 5.0)
    """
    s = GroupStats(
        calls=stats.calls + 1,
        continued=stats.continued + int(facts.continues),
        deep=stats.deep + int(facts.continues and facts.depth > 0),
        rewritten=stats.rewritten + int(facts.has_history and not facts.continues),
        sessions=stats.sessions + int(decision.plan == "create_session"),
        prefix_tokens=prefix_tokens
        if prefix_tokens
        else (stats.prefix_tokens or facts.prefix_tokens),
        last_seen=now,
    )
    if s.calls >= _DECAY_AT:
        s = replace(
            s,
            calls=s.calls // 2,
            continued=s.continued // 2,
            deep=s.deep // 2,
            rewritten=s.rewritten // 2,
            sessions=s.sessions // 2,
        )
    return s


def answered_record(facts: CallFacts, *, tokens: int, now: float, ttl: int) -> Entry:
    """The marker written under ``evidence_key("answered", transcript incl. reply)`` after
    a call: its chain depth (0 for a first call) and the transcript's size.

    >>> answered_record(CallFacts(continues=True, depth=0), tokens=90, now=1.0, ttl=60).counters
    (1,)
    """
    depth = facts.depth + 1 if facts.continues else 0
    return Entry("", last_used=now, ttl=ttl, tokens=max(tokens, 0), counters=(depth,))


# -- store I/O for a routing policy -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a policy reads from the store before a call, in one ``get_many``.

    Build the keys with :meth:`keys`, read them, then :meth:`parse` the entries (same
    order). ``answered`` digests are the chain values at the history's reply positions,
    longest first (the keys a session lookup uses); the longest one with a marker says
    the conversation continues, and at what depth.

    >>> import time
    >>> from ark_context.stores import InMemoryStore
    >>> store, now = InMemoryStore(), time.time()
    >>> ns, group, t1 = b"n" * 16, b"g" * 16, b"t" * 16
    >>> ev = Evidence.parse(store.get_many(Evidence.keys(ns, group, [t1])))
    >>> ev.continues, ev.group.calls
    (False, 0)
    >>> facts = CallFacts(prefix_tokens=200, history_tokens=200)
    >>> puts = ev.writes(facts, Decision("plain", "one_off"), ns, group, b"u" * 16,
    ...                  answered_tokens=300, now=now, window=3600)
    >>> store.apply(puts=puts)
    >>> later = Evidence.parse(store.get_many(Evidence.keys(ns, group, [b"u" * 16])))
    >>> later.continues, later.answered_tokens, later.group.calls
    (True, 300, 1)
    """

    group: GroupStats
    namespace: NamespaceStats
    continues: bool = False
    depth: int = 0
    #: size of the answered transcript the history extends (from its usage; 0: unknown):
    #: with the trailing turn's estimate, the seed of a session context, in tokens
    answered_tokens: int = 0

    @staticmethod
    def keys(namespace: bytes, group: bytes, answered: Sequence[bytes]) -> list[bytes]:
        """Keys to read: the group record, the namespace record, then one marker per
        ``answered`` digest (longest first)."""
        return [
            evidence_key("group", group),
            evidence_key("namespace", namespace),
            *(evidence_key("answered", d) for d in answered),
        ]

    @classmethod
    def parse(cls, entries: Sequence[Entry | None]) -> Evidence:
        if len(entries) < 2:
            raise ValueError("Evidence.parse needs the entries of Evidence.keys(...), in order.")
        marker = next((e for e in entries[2:] if e is not None and e.state == "live"), None)
        return cls(
            GroupStats.from_entry(entries[0]),
            NamespaceStats.from_entry(entries[1]),
            continues=marker is not None,
            depth=marker.counters[0] if marker is not None and marker.counters else 0,
            answered_tokens=marker.tokens if marker is not None else 0,
        )

    def writes(
        self,
        facts: CallFacts,
        decision: Decision,
        namespace: bytes,
        group: bytes,
        answered_after: bytes,
        *,
        answered_tokens: int,
        now: float,
        window: int,
        prefix_tokens: int | None = None,
    ) -> list[Put]:
        """The puts after a call answered: the group and namespace records, and the marker
        for the transcript incl. the reply (``answered_after``). Every record expires
        ``window`` seconds after this call (e.g. the context ttl)."""
        group_stats = record_call(self.group, facts, decision, now=now, prefix_tokens=prefix_tokens)
        ns_stats = self.namespace.record(self.group, facts)
        expire = now + window
        return [
            (evidence_key("group", group), group_stats.to_entry(window), expire),
            (evidence_key("namespace", namespace), ns_stats.to_entry(window, now), expire),
            (
                evidence_key("answered", answered_after),
                answered_record(facts, tokens=answered_tokens, now=now, ttl=window),
                expire,
            ),
        ]
