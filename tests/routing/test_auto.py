"""``mode="auto"`` against the emulator over loopback: what it creates, why, and what it costs.

Every call is checked against the emulator's record (the model saw exactly the history).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ark_context import InMemoryStore
from ark_context import wire_message as W
from ark_context.router import ContextRouter
from ark_context.stores import SQLiteStore
from tests.invariant import assert_served_exactly, new_request_id

pytestmark = pytest.mark.integration

KEY = "auto-key-0001"
SYSTEM = "You are a careful assistant for the shipping desk. " * 12


def make_router(emu, store=None, **kw) -> ContextRouter:
    return ContextRouter(
        model="ep-auto",
        api_key=KEY,
        base_url=emu.base_url,
        store=store if store is not None else InMemoryStore(),
        **kw,
    )


def call(router, emu, history):
    rid = new_request_id()
    rc = router.chat(history, request_id=rid)
    assert assert_served_exactly(emu, rid, history), "the model never ran for this call"
    return rc


def creates(emu, mode: str | None = None) -> list[dict]:
    out = [r for r in emu.records("/context/create") if r.get("status") == 200]
    return [r for r in out if mode is None or r["mode"] == mode]


def test_auto_is_the_default_and_a_repeating_prompt_gets_one_shared_context(emu):
    r = make_router(emu)
    assert r.mode == "auto" and r.ttl == 3600
    routes = [call(r, emu, [W("system", SYSTEM), W("user", f"q{i}")]).route for i in range(5)]
    assert [x.decision for x in routes] == ["one_off"] + ["prefix_repeats"] * 4
    assert [x.outcome for x in routes] == ["bypassed", "created", "reused", "reused", "reused"]
    assert routes[0].reason == "one_off" and routes[0].context_id is None
    made = creates(emu)
    assert len(made) == 1 and made[0]["mode"] == "common_prefix"
    assert [c["ttl"] for c in emu.contexts()] == [3600]  # the shortest: storage stops soon
    assert routes[0].as_metadata()["context_decision"] == "one_off"


def test_a_chat_that_only_appends_gets_one_session_context(emu):
    r = make_router(emu)
    h = [W("system", SYSTEM)]
    decisions = []
    for t in range(8):
        h.append(W("user", f"turn {t}: tell me more about parcels"))
        rc = call(r, emu, h)
        decisions.append((rc.route.outcome, rc.route.decision))
        h.append(W("assistant", rc.text))
    assert decisions[0] == ("bypassed", "one_off")
    assert decisions[1] == ("created", "continues")
    assert decisions[2:] == [("reused", "continues")] * 6
    assert len(creates(emu, "session")) == 1 and len(creates(emu)) == 1


def test_fifty_turns_one_context_and_ten_times_fewer_uncached_tokens(emu):
    r = make_router(emu)
    h = [W("system", SYSTEM)]
    uncached, full_resend = 0, 0
    for t in range(50):
        h.append(W("user", f"Question {t:03d}: " + "lorem ipsum dolor sit amet " * 8))
        rc = call(r, emu, h)
        uncached += rc.usage.prompt_tokens - rc.usage.cached_tokens + rc.route.create_tokens
        full_resend += rc.usage.prompt_tokens  # a plain call sends all of it at full price
        h.append(W("assistant", rc.text))
    assert len(creates(emu)) == 1
    assert full_resend >= 10 * uncached, (full_resend, uncached)


def test_a_sliding_window_never_creates_a_session_context_per_call(emu):
    r = make_router(emu)
    full = [W("system", SYSTEM)]
    for t in range(16):
        full.append(W("user", f"turn {t}"))
        window = [full[0], *full[1:][-5:]]  # the system prompt and the last 5 messages
        rc = call(r, emu, window)
        full.append(W("assistant", rc.text))
        if t >= 3:
            assert rc.route.decision in ("prefix_repeats", "window_slides"), rc.route
    assert len(creates(emu, "session")) <= 2  # at most the early turns, before it slid
    assert len(creates(emu, "common_prefix")) == 1  # the system prompt is still cached


def test_an_edit_reports_branch(emu):
    r = make_router(emu)
    h = [W("system", SYSTEM)]
    for t in range(4):
        h.append(W("user", f"turn {t}"))
        h.append(W("assistant", call(r, emu, h).text))
    edited = [*h[:3], W("user", "an edited question")]
    rc = call(r, emu, edited)
    assert (rc.route.outcome, rc.route.reason) == ("created", "branch")


def test_no_system_prompt_first_call_is_plain_no_prefix(emu):
    r = make_router(emu)
    rc = call(r, emu, [W("user", "hello")])
    assert (rc.route.outcome, rc.route.reason, rc.route.decision) == (
        "bypassed",
        "no_prefix",
        "no_prefix",
    )


def test_prompts_that_never_repeat_never_create(emu):
    r = make_router(emu)
    for i in range(8):
        rc = call(r, emu, [W("system", f"{SYSTEM} Notes: document {i} " * 3), W("user", "q")])
        assert rc.route.outcome == "bypassed" and rc.route.reason == "one_off"
    assert creates(emu) == []


def test_evidence_is_shared_across_routers_on_one_sqlite_store(emu, tmp_path):
    path = str(tmp_path / "ark.db")
    a, b = make_router(emu, SQLiteStore(path)), make_router(emu, SQLiteStore(path))
    h = [W("system", SYSTEM), W("user", "hi")]
    first = call(a, emu, h)
    assert first.route.decision == "one_off"
    h += [W("assistant", first.text), W("user", "still there?")]
    second = call(b, emu, h)  # the other worker knows the chat went on
    assert (second.route.outcome, second.route.decision) == ("created", "continues")
    h += [W("assistant", second.text), W("user", "good")]
    third = call(a, emu, h)
    assert (third.route.outcome, third.route.context_id) == ("reused", second.route.context_id)


_WORKER = textwrap.dedent(
    """
    import json, sys
    from ark_context import wire_message as W
    from ark_context.router import ContextRouter
    from ark_context.stores import SQLiteStore

    base_url, path, system = sys.argv[1:4]
    r = ContextRouter(model="ep-auto", api_key="auto-key-0001", base_url=base_url,
                      store=SQLiteStore(path))
    rc = r.chat([W("system", system), W("user", "hi")])
    print(json.dumps({"text": rc.text, "decision": rc.route.decision}))
    """
)


def test_evidence_written_by_another_process_is_used(emu, tmp_path):
    import json

    path = str(tmp_path / "ark.db")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, emu.base_url, path, SYSTEM],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    first = json.loads(out.stdout.strip().splitlines()[-1])
    assert first["decision"] == "one_off"
    r = make_router(emu, SQLiteStore(path))
    h = [W("system", SYSTEM), W("user", "hi"), W("assistant", first["text"]), W("user", "more")]
    rc = call(r, emu, h)
    assert (rc.route.outcome, rc.route.decision) == ("created", "continues")
