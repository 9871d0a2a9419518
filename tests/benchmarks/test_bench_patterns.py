"""The pattern benchmark's yardstick (the hindsight router) and its test data."""

from __future__ import annotations

import itertools
import json

import pytest

from ark_context.emulator._tokens import count_tokens, message_tokens
from benchmarks.bench_patterns import (
    DOCS,
    Call,
    hashing_vector,
    hindsight,
    query,
    responder,
    simulate_auto,
    system_prompt,
)

R = 0.2


def msg(role: str, text: str) -> dict[str, str]:
    return {"role": role, "content": text}


def tok(*msgs: dict[str, str]) -> int:
    return sum(message_tokens(m) for m in msgs)


def call(msgs: list[dict[str, str]], reply: str) -> Call:
    return Call(msgs, reply, tok(*msgs), 0)


SYS = msg("system", system_prompt("unit", 200))


def test_one_offs_behind_one_system_prompt_share_one_prefix_context() -> None:
    users = [msg("user", f"question number {i} about rivers") for i in range(4)]
    calls = [call([SYS, u], "fine answer") for u in users]
    s = tok(SYS)
    plan = hindsight(calls, R)
    # create the prefix once at full price; every call reads it at 20%
    assert plan.cost == pytest.approx(s + sum(tok(u) + R * s for u in users))
    assert plan.contexts == 1


def test_a_single_call_is_plain() -> None:
    only = call([SYS, msg("user", "hi")], "hello")
    plan = hindsight([only], R)
    assert (plan.cost, plan.contexts) == (only.prompt, 0)


def test_a_chat_that_appends_gets_one_session_context_from_the_first_turn() -> None:
    history = [SYS]
    calls = []
    for t in range(5):
        history = [*history, msg("user", f"turn {t} please explain")]
        c = call(history, f"reply {t} with detail")
        calls.append(c)
        history = [*history, msg("assistant", c.reply)]
    plan = hindsight(calls, R)
    assert plan.contexts == 1
    # seeded with the system prompt at turn 1, then each turn reads what came before
    want = calls[0].prompt + R * tok(SYS)
    for prev, cur in itertools.pairwise(calls):
        held = prev.prompt + tok(msg("assistant", prev.reply))
        want += cur.prompt - (1 - R) * held
    assert plan.cost == pytest.approx(want)
    plain = sum(c.prompt for c in calls)
    assert plan.cost < 0.5 * plain


def test_a_sliding_window_gets_no_session_contexts() -> None:
    turns = [msg("user", f"message {i} text") for i in range(12)]
    calls = [call([SYS, *turns[i : i + 3]], "r") for i in range(0, 9)]  # window slides by 1
    plan = hindsight(calls, R)
    assert plan.contexts == 1  # the shared system prompt only
    assert plan.cost == pytest.approx(tok(SYS) + sum(c.prompt - (1 - R) * tok(SYS) for c in calls))


def brute_force(calls: list[Call]) -> float:
    """Every assignment of {plain, shared, create, reuse} to every call, checked directly."""
    n = len(calls)
    held = [c.prompt + tok(msg("assistant", c.reply)) for c in calls]
    parent: list[int | None] = []
    for i, c in enumerate(calls):
        best, best_len = None, 0
        for j in range(i):
            t = [*calls[j].messages, msg("assistant", calls[j].reply)]
            if len(t) < len(c.messages) and c.messages[: len(t)] == t and len(t) >= best_len:
                best, best_len = j, len(t)
        parent.append(best)

    def prefix(c: Call) -> list[dict[str, str]]:
        return [m for m in c.messages if m["role"] == "system"]

    def seed(c: Call) -> int:
        last = max((k for k, m in enumerate(c.messages) if m["role"] == "assistant"), default=-1)
        start = last + 1 if last >= 0 else len(prefix(c))
        return tok(*c.messages[:start])

    best_cost = float("inf")
    for plan in itertools.product(("plain", "shared", "create", "reuse"), repeat=n):
        cost, shared_made, reused = 0.0, set(), set()
        ok = True
        for i, (c, how) in enumerate(zip(calls, plan, strict=True)):
            p = parent[i]
            if how == "plain":
                cost += c.prompt
            elif how == "shared":
                s = tok(*prefix(c))
                key = json.dumps(prefix(c))
                ok = ok and s > 0
                cost += c.prompt - (1 - R) * s + (0 if key in shared_made else s)
                shared_made.add(key)
            elif how == "create":
                ok = ok and seed(c) > 0
                cost += c.prompt + R * seed(c)
            else:
                ok = ok and p is not None and plan[p] in ("create", "reuse") and p not in reused
                if ok and p is not None:
                    reused.add(p)
                    cost += c.prompt - (1 - R) * held[p]
        if ok:
            best_cost = min(best_cost, cost)
    return best_cost


def test_edits_and_regenerates_match_a_brute_force_search() -> None:
    base = [SYS, msg("user", "first question here")]
    first = call(base, "first reply")
    follow = [*base, msg("assistant", "first reply"), msg("user", "second question")]
    a, b = call(follow, "second reply a"), call(follow, "second reply b")  # regenerate
    edited = call([SYS, msg("user", "first question edited")], "other reply")
    deeper = call([*follow, msg("assistant", "second reply b"), msg("user", "third")], "end")
    lone = call([msg("user", "no system prompt at all")], "ok")
    for calls in ([first, a, b], [first, a, b, deeper], [first, edited, a], [lone, first, a]):
        assert hindsight(calls, R).cost == pytest.approx(brute_force(calls))


def test_test_data_is_realistic_and_retrieval_depends_on_the_query() -> None:
    assert 150 <= count_tokens(system_prompt("x", 200)) <= 400
    lengths = [count_tokens(responder([msg("user", query(i))], {})) for i in range(40)]
    assert min(lengths) >= 50 and max(lengths) <= 160
    vecs = [hashing_vector(d) for d in DOCS]

    def best(q: str) -> int:
        v = hashing_vector(q)
        return max(
            range(len(DOCS)), key=lambda i: sum(a * b for a, b in zip(v, vecs[i], strict=True))
        )

    assert len({best(query(i)) for i in range(12)}) >= 4  # not one fixed document
    react_sys = msg("system", "## Tools ... Action Input ...")
    action = responder([react_sys, msg("user", "q")], {})
    assert "Action: lookup" in action
    assert "Answer:" in responder([react_sys, msg("user", "Observation: x")], {})
    structured = responder([msg("user", 'Output JSON with schema {"properties": {}}')], {})
    assert set(json.loads(structured)) == {"title", "rating", "summary"}


def test_the_simulated_auto_rules_never_cost_more_than_plain_on_these_shapes() -> None:
    one_offs = [call([SYS, msg("user", f"one-off question {i}")], "a reply") for i in range(8)]
    plan = simulate_auto(one_offs)
    plain = sum(c.prompt for c in one_offs)
    assert plan.contexts == 1 and plan.cost < 0.6 * plain  # one shared prefix, from call 2
    single = simulate_auto(one_offs[:1])
    assert (single.cost, single.contexts) == (one_offs[0].prompt, 0)  # first sight: plain
    turns = [msg("user", f"message {i} text") for i in range(14)]
    sliding = [call([SYS, *turns[i : i + 5]], "r") for i in range(10)]
    slid = simulate_auto(sliding)
    assert slid.contexts == 1 and slid.cost < sum(c.prompt for c in sliding)  # prefix only
    history, chat = [SYS], []
    for t in range(8):
        history = [*history, msg("user", f"turn {t} please explain more")]
        c = call(history, f"reply {t} with enough detail to matter")
        chat.append(c)
        history = [*history, msg("assistant", c.reply)]
    s = simulate_auto(chat)
    assert s.contexts == 1 and s.cost <= hindsight(chat).cost + 0.15 * sum(x.prompt for x in chat)
