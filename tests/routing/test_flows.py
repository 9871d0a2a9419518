"""Every routing decision, driven without sockets: outcomes, miss reasons, retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ark_context import wire_message as W
from ark_context._exceptions import (
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkInputError,
    ArkServerError,
)
from ark_context.routing.backend import CallSpec, Created
from ark_context.routing.flows import Sent, route
from ark_context.routing.ops import Apply, Claim, Create, Get, Send, Sleep
from ark_context.stores import Entry

from .fakes import TTL, Rig, completion, conversation


def script(flow: Any, answers: list[Any], ops: list[Any] | None = None) -> tuple[list[Any], Any]:
    """Drive ``flow`` by hand: each op gets the next answer (an exception is thrown in).
    Returns the ops seen and the flow's return value (or raises what it raised)."""
    ops = [] if ops is None else ops
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return ops, stop.value
        ops.append(op)
        answer = answers.pop(0)
        value, error = (None, answer) if isinstance(answer, BaseException) else (answer, None)


# -- scripted: the exact operations of each path --------------------------------------


def test_first_turn_seeds_from_the_system_prompt_then_sends_the_turn():
    rig = Rig()
    h = [W("system", "s"), W("user", "hi")]
    ops, sent = script(
        route(rig.cfg, h, CallSpec({})), [Created("ctx-1", TTL, 7), completion("hello")]
    )
    assert [type(o) for o in ops] == [Create, Send]  # nothing recorded yet: no store read
    assert ops[0].messages == h[:1] and (ops[1].state, ops[1].messages) == ("ctx-1", h[1:])
    assert ops[1].idempotent is False
    r = sent.pending.route
    assert (r.outcome, r.reason, r.context_id, r.create_tokens) == ("created", "new", "ctx-1", 7)


@pytest.mark.parametrize("mode", ["session", "common_prefix"])
def test_no_system_prompt_goes_plain_with_reason_no_prefix(mode):
    rig = Rig(mode=mode)
    h = [W("user", "just a question")]
    ops, sent = script(route(rig.cfg, h, CallSpec({})), [completion("a")])
    assert [(type(o), o.state, o.idempotent) for o in ops] == [(Send, None, True)]
    assert (sent.pending.route.outcome, sent.pending.route.reason) == ("bypassed", "no_prefix")


def test_reuse_hit_claims_the_longest_record_and_sends_only_the_tail():
    rig = Rig()
    h = [W("system", "s"), W("user", "u1"), W("assistant", "a1"), W("user", "u2")]
    live = Entry("ctx-9", "live", rig.clock.t, TTL, None, 20)
    ops, sent = script(route(rig.cfg, h, CallSpec({})), [[live], live, completion("a2")])
    assert [type(o) for o in ops] == [Get, Claim, Send]
    assert (ops[2].state, ops[2].messages) == ("ctx-9", h[3:])
    assert (sent.pending.route.outcome, sent.pending.route.reason) == ("reused", None)


@pytest.mark.parametrize(
    ("state", "last_used_ago", "reason"),
    [
        ("superseded", 0, "branch"),
        ("failed", 0, "failure"),
        ("evicted", 0, "evicted"),
        ("claimed", 0, "busy"),
        ("live", TTL, "expired"),  # past ttl by the router's own clock: not even tried
    ],
)
def test_unusable_record_misses_with_its_reason(state, last_used_ago, reason):
    rig = Rig()
    h = [W("system", "s"), W("user", "u1"), W("assistant", "a1"), W("user", "u2")]
    e = Entry("ctx-old", state, rig.clock.t - last_used_ago, TTL)
    ops, sent = script(
        route(rig.cfg, h, CallSpec({})), [[e], Created("ctx-2", TTL, 30), completion("a2")]
    )
    assert [type(o) for o in ops] == [Get, Create, Send]
    assert ops[1].messages == h[:3]  # seeded with everything before the trailing turn
    assert (sent.pending.route.outcome, sent.pending.route.reason) == ("created", reason)


def test_lost_claim_is_busy_and_a_shorter_record_is_tried():
    rig = Rig()
    h = [W("system", "s"), W("user", "u1"), W("assistant", "a1"), W("user", "u2")]
    h += [W("assistant", "a2"), W("user", "u3")]
    long, short = Entry("ctx-L", "live", rig.clock.t, TTL), Entry("ctx-S", "live", rig.clock.t, TTL)
    ops, sent = script(
        route(rig.cfg, h, CallSpec({})), [[long, short], None, short, completion("x")]
    )
    assert [type(o) for o in ops] == [Get, Claim, Claim, Send]
    assert (ops[3].state, ops[3].messages) == ("ctx-S", h[3:])
    assert sent.pending.route.outcome == "reused"


@pytest.mark.parametrize(
    ("error", "reason", "recorded"),
    [
        (ArkContextGoneError("gone", status_code=404), "gone", "deleted"),
        (ArkContextBusyError("busy", status_code=403), "busy", "failed"),
        (ArkServerError("boom", status_code=500), "failure", "failed"),
        (ArkConnectionError("cut", sent=True), "failure", "failed"),
    ],
)
def test_failed_reuse_drops_the_context_and_recreates(error, reason, recorded):
    rig = Rig()
    h = [W("system", "s"), W("user", "u1"), W("assistant", "a1"), W("user", "u2")]
    live = Entry("ctx-9", "live", rig.clock.t, TTL)
    answers = [[live], live, error, None]  # Get, Claim, Send fails, Apply
    if reason == "failure":
        answers.append(None)  # Sleep (backoff)
    answers += [Created("ctx-10", TTL, 30), completion("a2")]
    call = CallSpec({})
    ops, sent = script(route(rig.cfg, h, call), answers)
    apply = ops[3]
    assert isinstance(apply, Apply)
    if recorded == "deleted":
        assert apply.deletes and not apply.puts
    else:
        assert [e.state for _, e, _ in apply.puts] == ["failed"]
    assert isinstance(ops[4], Sleep) == (reason == "failure")
    assert isinstance(ops[-2], Create) and ops[-2].messages == h[:3]
    r = sent.pending.route
    assert (r.outcome, r.reason, r.context_id) == ("recreated", reason, "ctx-10")
    assert call.attempts == (2 if reason == "failure" else 1)


def test_no_fresh_context_retry_when_disabled():
    rig = Rig(retries=0)
    h = [W("system", "s"), W("user", "u1"), W("assistant", "a1"), W("user", "u2")]
    live = Entry("ctx-9", "live", rig.clock.t, TTL)
    boom = ArkServerError("boom", status_code=500)
    with pytest.raises(ArkServerError) as info:
        script(route(rig.cfg, h, CallSpec({})), [[live], live, boom, None])
    assert info.value is boom


def test_cut_reuse_then_dead_server_reports_the_first_failure():
    """Item 9: the reuse request may have arrived (sent=True); the fresh-context retry
    cannot even connect. The caller must see the first failure, the retry's chained."""
    rig = Rig()
    h = [W("system", "s"), W("user", "u1"), W("assistant", "a1"), W("user", "u2")]
    live = Entry("ctx-9", "live", rig.clock.t, TTL)
    cut = ArkConnectionError("connection dropped mid-response", sent=True)
    refused = ArkConnectionError("Could not connect", sent=False)
    with pytest.raises(ArkConnectionError) as info:
        script(route(rig.cfg, h, CallSpec({})), [[live], live, cut, None, None, refused])
    assert info.value is cut and info.value.sent is True
    assert info.value.__cause__ is refused


def test_failed_retry_send_also_reports_the_first_failure():
    rig = Rig()
    h = [W("system", "s"), W("user", "u1")]
    first = ArkConnectionError("cut", sent=True)
    second = ArkServerError("boom", status_code=500)
    answers = [Created("c1", TTL, 1), first, None, Created("c2", TTL, 1), second]
    with pytest.raises(ArkConnectionError) as info:
        script(route(rig.cfg, h, CallSpec({})), answers)
    assert info.value is first and info.value.__cause__ is second


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), asyncio.CancelledError()])
def test_interrupted_reuse_marks_the_context_failed_and_reraises(interrupt):
    rig = Rig()
    h = [W("system", "s"), W("user", "u1"), W("assistant", "a1"), W("user", "u2")]
    live = Entry("ctx-9", "live", rig.clock.t, TTL)
    seen: list[Any] = []
    with pytest.raises(type(interrupt)):
        script(route(rig.cfg, h, CallSpec({})), [[live], live, interrupt, None], seen)
    assert [type(o) for o in seen] == [Get, Claim, Send, Apply]
    assert [(k, e.state) for k, e, _ in seen[-1].puts] == [(seen[1].key, "failed")]


def test_bad_params_are_refused_before_any_operation():
    from ark_context.routing.rules import check_params

    for name in ("tools", "function_call", "response_format", "thinking", "context_id"):
        with pytest.raises(ArkInputError, match=name):
            check_params({name: 1})


# -- with a store: the recorded transcripts and the invariant --------------------------


def test_each_turn_reuses_and_the_server_sees_the_whole_conversation():
    rig = Rig()
    h = [W("system", "s"), W("user", "u0")]
    for i in range(5):
        text, r = rig.chat(h)
        # The invariant: what the server's context holds after the turn is exactly the
        # caller's history plus the reply.
        assert rig.backend.contexts[r.context_id] == [*h, W("assistant", text)]
        assert (r.outcome, r.sent_messages) == (("created", 1) if i == 0 else ("reused", 1))
        h += [W("assistant", text), W("user", f"u{i + 1}")]
    assert len(rig.backend.creates) == 1


def test_editing_an_earlier_message_is_a_branch_not_new():
    rig = Rig()
    h = conversation(4, rig)  # 10 messages: s, u0, a, u1, a, u2, a, u3, a, u4
    assert len(h) == 10
    edited = [*h[:3], W("user", "u1 (edited)"), *h[4:]]
    _, r = rig.chat(edited)
    assert (r.outcome, r.reason) == ("created", "branch")
    other = [W("system", "sys"), W("user", "a different first question"), *h[2:]]
    _, r = rig.chat(other)
    assert (r.outcome, r.reason) == ("created", "new")


def test_branch_after_a_seeded_conversation_is_still_a_branch():
    rig = Rig()
    h = [W("system", "s"), W("user", "u0"), W("assistant", "x0"), W("user", "u1")]
    h += [W("assistant", "x1"), W("user", "u2")]
    text, r = rig.chat(h)  # nothing recorded: seeded from the whole history
    assert r.outcome == "created"
    h2 = [*h, W("assistant", text), W("user", "u3")]
    assert rig.chat(h2)[1].outcome == "reused"
    _, r = rig.chat([*h[:3], W("user", "u1 edited"), *h[4:]])
    assert r.reason == "branch"


def test_gone_vs_expired():
    rig = Rig()
    h = conversation(1, rig)
    rig.backend.contexts.clear()  # the server forgot (restart, or its clock ran out)
    text, r = rig.chat(h)
    assert (r.outcome, r.reason) == ("recreated", "gone")
    h += [W("assistant", text), W("user", "next")]
    rig.clock.t += TTL - 30  # past ttl minus the margin by our clock: never even tried
    n = len(rig.backend.sends)
    _, r = rig.chat(h)
    assert (r.outcome, r.reason) == ("created", "expired")
    assert rig.backend.sends[n][0] == r.context_id  # the only send went to the new context


def test_common_prefix_shares_one_context_and_recreates_when_gone():
    rig = Rig(mode="common_prefix")
    sys = W("system", "shared prompt")
    routes = [rig.chat([sys, W("user", f"q{i}")])[1] for i in range(3)]
    assert [(r.outcome, r.reason) for r in routes] == [("created", "new"), *[("reused", None)] * 2]
    assert len(rig.backend.creates) == 1 and all(s[0] == "ctx-1" for s in rig.backend.sends)
    rig.backend.contexts.clear()
    _, r = rig.chat([sys, W("user", "after restart")])
    assert (r.outcome, r.reason, r.context_id) == ("recreated", "gone", "ctx-2")
    rig.clock.t += TTL - 30
    _, r = rig.chat([sys, W("user", "much later")])
    assert (r.outcome, r.reason) == ("created", "expired")


def test_common_prefix_gone_twice_raises():
    rig = Rig(mode="common_prefix")
    sys = W("system", "p")
    rig.chat([sys, W("user", "a")])
    gone = ArkContextGoneError("gone", status_code=404)
    rig.backend.send_faults = [gone, ArkContextGoneError("again", status_code=404)]
    with pytest.raises(ArkContextGoneError):
        rig.chat([sys, W("user", "b")])
    assert len(rig.backend.creates) == 2


def test_sent_is_the_flow_outcome_type():
    rig = Rig()
    call = CallSpec({})
    from ark_context.routing.drivers import drive

    sent = drive(route(rig.cfg, [W("system", "s"), W("user", "u")], call), rig.runner(call))
    assert isinstance(sent, Sent) and sent.pending.chain is not None


def _three_turns() -> list[Any]:
    h = [W("system", "s"), W("user", "u1")]
    for i in (1, 2, 3):
        h += [W("assistant", f"a{i}"), W("user", f"u{i + 1}")]
    return h  # assistant replies at 2, 4, 6


def test_a_hit_reads_only_the_longest_record_and_the_root():
    rig = Rig()
    h = _three_turns()
    live = Entry("ctx-9", "live", rig.clock.t, TTL)
    ops, sent = script(route(rig.cfg, h, CallSpec({})), [[live, None], live, completion("x")])
    assert [type(o) for o in ops] == [Get, Claim, Send]
    assert len(ops[0].keys) == 2 and ops[1].key == ops[0].keys[0]
    assert sent.pending.mark_root  # the root was absent: it is marked after this turn
    assert ops[2].messages == h[7:]


def test_a_lost_longest_claim_reads_the_shorter_records_then():
    rig = Rig()
    h = _three_turns()
    longest, middle = (Entry(c, "live", rig.clock.t, TTL) for c in ("ctx-L", "ctx-M"))
    answers = [[longest, None], None, [middle], middle, completion("x")]
    ops, _ = script(route(rig.cfg, h, CallSpec({})), answers)
    assert [type(o) for o in ops] == [Get, Claim, Get, Claim, Send]
    assert len(ops[2].keys) == 1 and ops[3].key == ops[2].keys[0]
    assert (ops[4].state, ops[4].messages) == ("ctx-M", h[5:])


def test_an_unusable_longest_record_reads_all_before_deciding():
    rig = Rig()
    h = _three_turns()
    spent = Entry("", "superseded", rig.clock.t, TTL)
    answers = [[spent, None], [None], Created("ctx-2", TTL, 1), completion("x")]
    ops, sent = script(route(rig.cfg, h, CallSpec({})), answers)
    assert [type(o) for o in ops] == [Get, Get, Create, Send]
    assert (sent.pending.route.outcome, sent.pending.route.reason) == ("created", "branch")
