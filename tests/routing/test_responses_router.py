"""The Responses API router against the emulator over loopback: chains, edits, settings,
expiry, deletion, serialisation, cut streams, and the cost targets of issue 15."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

import pytest

from ark_context import ArkContextParams
from ark_context.conversation import to_input_items
from ark_context.emulator import FunctionCall
from ark_context.routing.responses_router import ResponsesRouter
from ark_context.stores import InMemoryStore

pytestmark = pytest.mark.integration

MODEL = "doubao-seed-1-6-251015"
KEY = "test-key"
SYSTEM = {"role": "system", "content": "You are a careful assistant. Answer briefly."}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def _own_emulator() -> Any:
    # A module-private server: the shared one's clock may have been moved far ahead by
    # other tests, and a chain's expire_at is set from this process's clock (as against
    # Ark, whose clock is the real one).
    from ark_context.emulator import run_emulator

    with run_emulator() as e:
        yield e


@pytest.fixture
def emu(_own_emulator: Any) -> Any:
    _own_emulator.reset()
    yield _own_emulator
    _own_emulator.reset()


@pytest.fixture(autouse=True)
def _restore_responder(emu: Any) -> Any:
    saved = emu.responder
    yield
    emu.responder = saved


def router(emu: Any, **kw: Any) -> ResponsesRouter:
    kw.setdefault("store", InMemoryStore())
    return ResponsesRouter(model=MODEL, api_key=KEY, base_url=emu.base_url, max_retries=0, **kw)


def seen(item: dict[str, Any]) -> dict[str, Any]:
    """An input item as the emulator's transcript shows it (ids dropped)."""
    out = {k: v for k, v in item.items() if k not in ("id", "status", "type")}
    if item.get("type") not in (None, "message"):
        out["type"] = item["type"]
    content = out.get("content")
    if isinstance(content, list):
        out["content"] = "".join(p.get("text", "") for p in content)
    return out


def assert_exact(emu: Any, response_id: str, history: list[dict[str, Any]]) -> None:
    """What the model of ``response_id`` saw is exactly the caller's history."""
    snap = emu.response(response_id)
    assert snap is not None
    got = [seen(i) for i in snap["messages"]]
    want = [seen(i) for i in to_input_items(history)]
    assert got == want


def usage_sum(rcs: list[Any]) -> tuple[int, int, int]:
    total = sum(rc.usage.prompt_tokens for rc in rcs)
    cached = sum(rc.usage.cached_tokens for rc in rcs)
    return total, cached, total - cached


def test_fifty_turn_chat_is_exact_and_mostly_cached(emu: Any) -> None:
    r = router(emu)
    history: list[dict[str, Any]] = [SYSTEM]
    rcs = []
    for i in range(50):
        history.append({"role": "user", "content": f"Question {i}: tell me about item {i}."})
        rc = r.chat(history)
        assert_exact(emu, rc.route.response_id, history)
        rcs.append(rc)
        history.append(rc.result.wire_message())
    assert [rc.route.outcome for rc in rcs[1:]] == ["reused"] * 49
    assert rcs[0].route.outcome == "created" and rcs[0].route.api == "responses"
    total, _, uncached = usage_sum(rcs)
    assert total >= 10 * uncached, (total, uncached)
    # chained from the previous turn's id every time
    for prev, rc in itertools.pairwise(rcs):
        assert rc.route.context_id == prev.route.response_id
        assert rc.route.expire_at == rcs[0].route.expire_at  # one deadline per chain


def test_edit_and_branch_reuse_the_longest_stored_prefix(emu: Any) -> None:
    r = router(emu)
    history: list[dict[str, Any]] = [SYSTEM]
    ids = []
    for i in range(10):
        history.append({"role": "user", "content": f"Turn {i} says something."})
        rc = r.chat(history)
        ids.append(rc.route.response_id)
        history.append(rc.result.wire_message())
    # edit user message of turn 6 (index 13): the longest stored prefix ends at turn 5's reply
    edited = [*history[:13], {"role": "user", "content": "An edited turn 6."}]
    rc = r.chat(edited)
    assert rc.route.outcome == "reused" and rc.route.context_id == ids[5]
    assert_exact(emu, rc.route.response_id, edited)
    reseed = sum(rc2["usage"]["input_tokens"] for rc2 in [emu.response(rc.route.response_id)])
    assert rc.usage.prompt_tokens - rc.usage.cached_tokens < reseed / 4
    # a second branch from the same point also reuses it (immutable state)
    other = [*history[:13], {"role": "user", "content": "Another branch."}]
    rc2 = r.chat(other)
    assert rc2.route.context_id == ids[5]
    assert_exact(emu, rc2.route.response_id, other)
    # the original line continues from its own head
    history.append({"role": "user", "content": "Back on the main line."})
    rc3 = r.chat(history)
    assert rc3.route.context_id == ids[-1]


def _tool_responder(messages: Any, params: Any) -> Any:
    outputs = sum(1 for m in messages if m.get("type") == "function_call_output")
    if params.get("tools") and outputs < 10:
        return FunctionCall("lookup", {"q": f"word {outputs}"})
    return "All done."


def test_ten_step_tool_loop_is_exact_and_cheap(emu: Any) -> None:
    emu.responder = _tool_responder
    r = router(emu)
    long_system = {"role": "system", "content": "Use the lookup tool. " + "Rules apply. " * 120}
    history: list[dict[str, Any]] = [long_system, {"role": "user", "content": "Define ten words."}]
    rcs = []
    for _ in range(11):
        rc = r.chat(history, {"tools": TOOLS})
        assert_exact(emu, rc.route.response_id, history)
        rcs.append(rc)
        history.append(rc.result.wire_message())
        if not rc.result.tool_calls:
            break
        for call in rc.result.tool_calls:
            history.append({"role": "tool", "tool_call_id": call["id"], "content": "a meaning"})
    assert len(rcs) == 11 and rcs[-1].result.text == "All done."
    total, cached, uncached = usage_sum(rcs)
    cost = uncached + 0.2 * cached
    assert cost <= 0.4 * total, (cost, total)
    # tools were declared in the first turn only
    sent = [rec for rec in emu.records() if rec["path"].endswith("/responses")]
    assert sent[0]["response_id"] == rcs[0].route.response_id


def test_changed_settings_start_a_new_chain(emu: Any) -> None:
    emu.responder = lambda messages, params: "ok"
    r = router(emu)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(history, {"tools": TOOLS})
    history += [first.result.wire_message(), {"role": "user", "content": "next"}]
    same = r.chat(history, {"tools": TOOLS})
    assert same.route.outcome == "reused"
    for params in (
        {"tools": TOOLS[:0] or None},
        {"tools": TOOLS, "thinking": {"type": "disabled"}},
    ):
        rc = r.chat(history, params)
        assert (rc.route.outcome, rc.route.reason) == ("created", "new_chain"), params
        assert rc.route.context_id is None
        # compared with the chain recorded last for this conversation (the previous loop's)
        assert rc.route.new_chain == ("tools" if "thinking" not in params else "thinking,tools")
        assert rc.metadata()["new_chain"] == rc.route.new_chain
        assert_exact(emu, rc.route.response_id, history)


def test_expiry_deadline_and_deleted_parent_rebuild(emu: Any) -> None:
    clock = Clock()
    r = router(emu, clock=clock, ttl=3600)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    rc = r.chat(history)
    assert rc.route.expire_at is not None and rc.route.expire_at <= time.time() + 3600 + 1
    history += [rc.result.wire_message(), {"role": "user", "content": "again"}]
    clock.offset = 3600 - 10  # inside the margin before the deadline: rebuild, never chain
    rc2 = r.chat(history)
    assert (rc2.route.outcome, rc2.route.reason) == ("created", "expired")
    assert_exact(emu, rc2.route.response_id, history)
    clock.offset = 0
    history += [rc2.result.wire_message(), {"role": "user", "content": "third"}]
    assert r.delete(rc2.route.response_id)
    rc3 = r.chat(history)  # 404 on previous_response_id: rebuilt once from the history
    assert (rc3.route.outcome, rc3.route.reason) == ("recreated", "gone")
    assert_exact(emu, rc3.route.response_id, history)


def test_requests_from_one_parent_are_serialised(emu: Any) -> None:
    active = {"now": 0, "max": 0}
    guard = threading.Lock()

    def slow(messages: Any, params: Any) -> str:
        with guard:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.05)
        with guard:
            active["now"] -= 1
        return "fine"

    r = router(emu)
    base: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(base)
    base.append(first.result.wire_message())
    emu.responder = slow
    results: list[Any] = []

    def branch(i: int) -> None:
        results.append(r.chat([*base, {"role": "user", "content": f"branch {i}"}]))

    threads = [threading.Thread(target=branch, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and active["max"] == 1
    assert {rc.route.context_id for rc in results} == {first.route.response_id}


async def test_async_chain_gap_waits_without_blocking_others(emu: Any) -> None:
    r = router(emu, chain_gap=0.3)
    a: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "a"}]
    b: list[dict[str, Any]] = [
        {"role": "system", "content": "Other."},
        {"role": "user", "content": "b"},
    ]
    ra = await r.achat(a)
    a += [ra.result.wire_message(), {"role": "user", "content": "a2"}]
    t0 = time.monotonic()
    rb_task = asyncio.create_task(r.achat(b))  # another conversation: no wait
    ra2 = await r.achat(a)  # chains from ra: waits out the gap
    rb = await rb_task
    assert ra2.route.context_id == ra.route.response_id and rb.route.outcome == "created"
    assert time.monotonic() - t0 >= 0.25


def test_cut_stream_is_never_recorded_nor_double_sent(emu: Any) -> None:
    r = router(emu)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(history)
    history += [first.result.wire_message(), {"role": "user", "content": "stream please"}]
    emu.inject_fault("/responses", kind="cut_stream", after_chunks=3)
    with pytest.raises(Exception), r.stream(history) as s:  # noqa: B017
        for _ in s.deltas():
            pass
    assert s.response_id is not None  # from response.created: the caller can clean it up
    with r.stream(history) as s2:
        text = "".join(d.text for d in s2.deltas())
    assert s2.route is not None and s2.route.context_id == first.route.response_id
    assert s2.result is not None and s2.result.text == text
    assert_exact(emu, s2.result.id, history)
    history += [s2.result.wire_message(), {"role": "user", "content": "after"}]
    rc = r.chat(history)
    assert rc.route.context_id == s2.result.id
    assert_exact(emu, rc.route.response_id, history)


def test_json_schema_goes_uncached_and_json_object_stays_cached(emu: Any) -> None:
    emu.responder = lambda messages, params: json.dumps({"a": 1})
    r = router(emu)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(history)
    history += [first.result.wire_message(), {"role": "user", "content": "json"}]
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    rc = r.chat(history, {"response_format": fmt})
    assert (rc.route.outcome, rc.route.reason) == ("bypassed", "json_schema")
    rc2 = r.chat(history, {"response_format": {"type": "json_object"}})
    assert rc2.route.outcome == "reused"


def test_settings_choose_the_api(emu: Any) -> None:
    p = ArkContextParams(model=MODEL, api_key=KEY, base_url=emu.base_url)
    assert p.ark_router().api == "responses"
    assert ArkContextParams(model="ep-1", api_key=KEY).ark_router().api == "context"
    forced = ArkContextParams(model="ep-1", api_key=KEY, caching_api="responses")
    assert forced.ark_router().api == "responses"


def test_common_prefix_uses_a_prefix_cache_when_long_enough(emu: Any) -> None:
    long_system = {"role": "system", "content": "Policy text. " * 600}
    r = router(emu, mode="common_prefix")
    rcs = [r.chat([long_system, {"role": "user", "content": f"q{i}"}]) for i in range(3)]
    assert [rc.route.outcome for rc in rcs] == ["created", "reused", "reused"]
    assert rcs[0].route.create_tokens > 1000
    assert rcs[1].usage.cached_tokens > 1000
    short = r.chat([SYSTEM, {"role": "user", "content": "q"}])
    assert (short.route.outcome, short.route.reason) == ("bypassed", "no_prefix")


def test_usage_reports_cached_reasoning_and_cost(emu: Any) -> None:
    r = router(emu)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(history)
    history += [first.result.wire_message(), {"role": "user", "content": "more"}]
    second = r.chat(history)
    assert second.result.usage is not None
    assert second.usage.cached_tokens == second.result.usage.cached_tokens > 0
    billed = second.billed()
    assert billed.cached_input == second.usage.cached_tokens
    assert billed.full_price_input == second.usage.prompt_tokens - second.usage.cached_tokens
    cost = second.cost_cny()
    assert cost is not None and 0 < cost < first.cost_cny() * 10  # type: ignore[operator]
    meta = second.metadata()
    assert meta["caching_api"] == "responses" and meta["reasoning_tokens"] == 0
    assert meta["previous_response_id"] == first.route.response_id


def test_delete_retired_deletes_the_branch_left_and_keeps_the_live_line(emu: Any) -> None:
    r = router(emu, delete_retired=True)
    history: list[dict[str, Any]] = [SYSTEM]
    ids = []
    for i in range(4):
        history.append({"role": "user", "content": f"Turn {i}."})
        rc = r.chat(history)
        ids.append(rc.route.response_id)
        history.append(rc.result.wire_message())
    assert all(emu.response(i) is not None for i in ids)  # continuing retires nothing
    edited = [*history[:5], {"role": "user", "content": "Edited turn 2."}]
    rc = r.chat(edited)  # an edit: the old head (turn 3) is retired, its ancestors kept
    assert rc.route.context_id == ids[1]
    assert emu.response(ids[3]) is None
    assert all(emu.response(i) is not None for i in ids[:3])
    edited += [rc.result.wire_message(), {"role": "user", "content": "On the new line."}]
    rc2 = r.chat(edited)
    assert rc2.route.context_id == rc.route.response_id
    assert emu.response(rc.route.response_id) is not None
    assert_exact(emu, rc2.route.response_id, edited)


async def test_chat_chunk_view_of_a_responses_stream(emu: Any) -> None:
    r = router(emu)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    with r.stream(history) as s:
        chunks = list(s)
    assert "".join(c.text for c in chunks) == s.result.text  # type: ignore[union-attr]
    assert chunks[-1].usage is not None and chunks[-1].choices[0].finish_reason == "stop"
    history += [s.result.wire_message(), {"role": "user", "content": "again"}]  # type: ignore[union-attr]
    async with r.astream(history) as a:
        texts = [c.text async for c in a]
    assert a.route is not None and a.route.context_id == s.result.id  # type: ignore[union-attr]
    assert "".join(texts) == a.result.text  # type: ignore[union-attr]


def test_auto_chains_a_conversation_and_keeps_a_sliding_window_plain(emu: Any) -> None:
    """mode="auto" on the Responses API: a chain's first turn costs what a plain call
    costs plus storage until its expire_at, so a chain starts where a continuation was
    seen: at the second turn of the first conversation, at the first turn of the next
    ones, and the turns after read the cache; a history whose earlier turns extend
    nothing seen (a sliding window) stays plain."""
    r = router(emu, mode="auto")
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(history)
    assert (first.route.outcome, first.route.decision) == ("bypassed", "one_off")
    history += [first.result.wire_message(), {"role": "user", "content": "and then?"}]
    second = r.chat(history)
    assert second.route.outcome == "created"
    history += [second.result.wire_message(), {"role": "user", "content": "more?"}]
    third = r.chat(history)
    assert third.route.outcome == "reused"
    assert third.usage.cached_tokens > 0
    other = [{"role": "system", "content": "You plan gardens."}, {"role": "user", "content": "x"}]
    assert r.chat(other).route.outcome == "created"  # first calls are seen to go on
    window = [
        SYSTEM,
        {"role": "user", "content": "an old question"},
        {"role": "assistant", "content": "an answer this router never gave"},
        {"role": "user", "content": "next"},
    ]
    slid = router(emu, mode="auto").chat(window)  # a router that saw nothing of it
    assert slid.route.outcome == "bypassed"
    assert slid.route.decision == "window_slides"


def test_auto_one_shot_calls_start_no_chain_and_pay_no_storage(emu: Any) -> None:
    """One-shot calls (retrieved text in the system message, a condense prompt): no chain
    is ever continued, so none is started; every call is plain and the emulator bills no
    storage (each started chain would hold its cache until expire_at)."""
    r = router(emu, mode="auto")
    for i in range(4):
        notes = {"role": "system", "content": f"Answer from note {i}: " + "fact " * (40 + i)}
        rc = r.chat([notes, {"role": "user", "content": f"question {i}"}])
        assert rc.route.outcome == "bypassed", (i, rc.route)
        rc = r.chat([{"role": "user", "content": f"Condense: question {i}"}])
        assert rc.route.outcome == "bypassed", (i, rc.route)
    assert emu.storage()["token_hours"] == 0


def test_auto_structured_output_through_one_forced_tool_starts_no_chain(emu: Any) -> None:
    """Structured output through one forced tool (``with_structured_output``,
    ``structured_predict``): its tool call is the answer and nothing continues it, so auto
    starts no chain and pays no storage. Several tools with a forced choice look like an
    agent's step: the first such call starts a chain, and once no first call was seen
    continued the others go plain (one response's storage, for one hour)."""
    r = router(emu, mode="auto")
    for choice in ("required", "lookup"):
        for i in range(3):
            messages = [SYSTEM, {"role": "user", "content": f"extract {choice} {i}"}]
            rc = r.chat(messages, {"tools": TOOLS, "tool_choice": choice})
            assert rc.route.outcome == "bypassed", (choice, i, rc.route)
    assert emu.storage()["token_hours"] == 0
    two = [*TOOLS, {**TOOLS[0], "function": {**TOOLS[0]["function"], "name": "define"}}]
    outcomes = []
    for i in range(4):
        messages = [SYSTEM, {"role": "user", "content": f"pick {i}"}]
        rc = r.chat(messages, {"tools": two, "tool_choice": "required"})
        outcomes.append(rc.route.outcome)
    assert outcomes == ["created", "bypassed", "bypassed", "bypassed"]
    (first,) = [x for x in emu.responses() if x["wrote_cache"]]
    assert emu.storage()["token_hours"] == first["cache_tokens"]  # one started hour


def test_auto_starts_an_agents_chain_at_its_first_step(emu: Any) -> None:
    """An agent's first step (tools offered, none forced) is likely answered by a tool
    result in a next call: auto starts the chain at once, with no evidence yet."""
    emu.responder = lambda msgs, params: (
        "done" if msgs[-1].get("type") == "function_call_output" else FunctionCall("lookup", {})
    )
    r = router(emu, mode="auto")
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "look it up"}]
    first = r.chat(history, {"tools": TOOLS})
    assert first.route.outcome == "created"
    call = first.result.wire_message()
    tool_id = call["tool_calls"][0]["id"]
    history += [call, {"role": "tool", "tool_call_id": tool_id, "content": "found"}]
    assert r.chat(history, {"tools": TOOLS}).route.outcome == "reused"


def test_auto_keeps_a_repeating_short_prompt_with_a_sliding_window_plain(emu: Any) -> None:
    """A trimmed history (``trim_messages``) behind one short system prompt: auto sees the
    prompt repeat but no transcript continue, and picks the shared prefix, too short for a
    prefix cache. A chain started instead would never be continued and would only pay
    storage until its ``expire_at``: the call stays plain."""
    r = router(emu, mode="auto")
    history: list[dict[str, Any]] = []
    routes = []
    for turn in range(8):
        history.append({"role": "user", "content": f"Question {turn}?"})
        window = [SYSTEM, *history[-3:]]  # the system prompt and the last three messages
        rc = r.chat(window)
        routes.append((rc.route.outcome, rc.route.decision))
        history.append(rc.result.wire_message())
    slid = [route for route in routes[2:] if route[1] != "continues"]
    assert slid, routes  # the window slid at some turns
    assert all(outcome == "bypassed" for outcome, _ in slid), routes
