"""The policy seam: a policy reads extra evidence keys, decides, and writes evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ark_context import wire_message as W
from ark_context.routing.policies import (
    CallView,
    Digests,
    Plain,
    Plan,
    ReuseSession,
    SessionPolicy,
    UsePrefix,
)
from ark_context.stores import Entry

from .fakes import TTL, Rig


@dataclass
class CountingPolicy:
    """Plain until the prefix was seen twice, then the shared prefix context."""

    name: str = "counting"
    wants_session: bool = False
    wants_prefix: bool = True
    free_start_reasons: frozenset[str] = frozenset()
    views: list[CallView] = field(default_factory=list)

    def _key(self, prefix_key: bytes) -> bytes:
        return b"seen:" + prefix_key[:11]

    def evidence_keys(self, digests: Digests) -> Sequence[bytes]:
        return [self._key(digests.prefix_key)] if digests.prefix_key else []

    def decide(self, view: CallView) -> Plan:
        self.views.append(view)
        key = view.digests.prefix_key
        seen = view.evidence.get(self._key(key)) if key else None
        if key is None or seen is None or seen.tokens < 2:
            return Plain("new")
        return UsePrefix()

    def starts_chain(self, view: CallView, first_prior: float) -> bool:
        return False

    def evidence(self, view, route, ok, reply):
        key = view.digests.prefix_key
        if not ok or key is None:
            return []
        seen = view.evidence.get(self._key(key))
        count = (seen.tokens if seen else 0) + 1
        return [(self._key(key), Entry("", "live", view.now, TTL, None, count), view.now + TTL)]


def test_policy_reads_and_writes_evidence_without_touching_flows():
    policy = CountingPolicy()
    rig = Rig(mode="common_prefix", policy=policy)
    sys = W("system", "a prompt that repeats")
    outcomes = [rig.chat([sys, W("user", f"q{i}")])[1].outcome for i in range(4)]
    assert outcomes == ["bypassed", "bypassed", "created", "reused"]
    seen = [v.evidence for v in policy.views]
    assert [next(iter(e.values())) is None for e in seen] == [True, False, False, False]
    assert [next(iter(e.values())).tokens for e in seen[1:]] == [1, 2, 3]


def test_session_policy_decisions():
    rig = Rig()
    h = [W("system", "s"), W("user", "u"), W("assistant", "a"), W("user", "v")]
    from ark_context.routing.flows import digests_for
    from ark_context.routing.policies import Recorded

    d = digests_for(rig.cfg, h)
    assert (d.positions, d.split, d.prefix_key) == ((2,), 3, None)
    live = Recorded(2, d.session_keys[0], Entry("c", "live", 0.0, TTL), True)
    gone = Recorded(2, d.session_keys[0], Entry("", "superseded", 0.0, TTL), False)
    p = SessionPolicy()
    assert p.decide(CallView(d, 0.0, (live,), None)) == ReuseSession()
    plan = p.decide(CallView(d, 0.0, (gone,), None))
    assert getattr(plan, "reason", None) == "branch"
    assert getattr(p.decide(CallView(d, 0.0, (), None)), "reason", None) == "new"


def test_an_immutable_state_backend_plugs_into_the_same_flows():
    """A Responses-like backend (a new immutable id per turn) through the same flows:
    no claims, no tombstones; two branches from one point both reuse it, exactly."""
    from .fakes import FakeBackend

    rig = Rig(backend=FakeBackend(mutable_state=False))
    h = [W("system", "s"), W("user", "u0")]
    a0, r0 = rig.chat(h)
    assert r0.outcome == "created"
    for edit in ("u1", "u1, another branch"):
        history = [*h, W("assistant", a0), W("user", edit)]
        text, r = rig.chat(history)
        assert (r.outcome, r.sent_messages) == ("reused", 1)
        parent, sent = rig.backend.sends[-1]
        assert rig.backend.contexts[parent] + sent == history  # served exactly
    text, r = rig.chat([*history, W("assistant", text), W("user", "u2")])
    assert r.outcome == "reused" and len(rig.backend.creates) == 1
