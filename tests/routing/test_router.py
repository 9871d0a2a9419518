"""The router against the emulator over real HTTP: every call checked against the record."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from ark_context import (
    ArkContextClient,
    ArkServerError,
    AsyncArkContextClient,
    InMemoryStore,
)
from ark_context import wire_message as W
from ark_context.router import ContextRouter
from tests.invariant import assert_served_exactly, new_request_id

pytestmark = pytest.mark.integration

KEY = "test-key-0001"


class Clock:
    """The router's clock; starts at real time so store expiry (real time) agrees."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def make_router(emu, *, store=None, key=KEY, clock=None, **kw) -> ContextRouter:
    kw.setdefault("mode", "session")  # these tests are about session contexts

    async def no_async_sleep(_s: float) -> None:
        return None

    slept: list[float] = []
    client = ArkContextClient(api_key=key, base_url=emu.base_url, sleep=slept.append)
    aclient = AsyncArkContextClient(api_key=key, base_url=emu.base_url, sleep=no_async_sleep)
    return ContextRouter(
        model="ep-test",
        api_key=key,
        base_url=emu.base_url,
        store=store if store is not None else InMemoryStore(),
        client=client,
        async_client=aclient,
        clock=clock or Clock(),
        sleep=slept.append,
        async_sleep=no_async_sleep,
        **kw,
    )


def call(router, emu, history, *, stream=False, **params):
    """One routed call, checked against the emulator's record; returns (reply, route, usage)."""
    rid = new_request_id()
    if stream:
        with router.stream(history, params, request_id=rid) as s:
            text = "".join(c.text for c in s)
        route, usage = s.route, s.usage
    else:
        rc = router.chat(history, params, request_id=rid)
        text, route, usage = rc.text, rc.route, rc.usage
    ran = assert_served_exactly(emu, rid, history)
    assert ran, "the model never ran for this call"
    return text, route, usage


def creates(emu) -> int:
    return len([r for r in emu.records("/context/create") if r.get("status") == 200])


def test_first_turn_creates_from_system_prompt_then_reuses(emu):
    r = make_router(emu)
    h = [W("system", "You are terse."), W("user", "hello")]
    reply, route, usage = call(r, emu, h)
    assert (route.outcome, route.reason, route.sent_messages) == ("created", "new", 1)
    assert route.create_tokens == emu.records("/context/create")[0]["usage"]["prompt_tokens"] > 0
    seed = emu.records("/context/create")[0]
    assert [m["role"] for m in seed["messages"]] == ["system"]
    h += [W("assistant", reply), W("user", "again")]
    reply, route2, usage2 = call(r, emu, h)
    assert (route2.outcome, route2.context_id) == ("reused", route.context_id)
    assert usage2.cached_tokens > usage.cached_tokens > 0
    assert creates(emu) == 1


def test_fifty_turns_equal_messages_flat_requests_one_context(emu):
    r = make_router(emu)
    h = [W("system", "You are a patient tutor. " * 10)]
    bodies, uncached = [], []
    for turn in range(1, 51):
        h.append(W("user", f"Question {turn:03d}: " + "lorem ipsum dolor sit amet " * 8))
        reply, route, usage = call(r, emu, h)
        bodies.append(route.request_bytes)
        uncached.append(usage.prompt_tokens - usage.cached_tokens)
        h.append(W("assistant", reply))
    assert creates(emu) == 1
    assert bodies[49] <= 1.1 * bodies[1], bodies
    assert max(uncached[1:]) == min(uncached[1:]), uncached  # flat after the first turn
    assert len(emu.contexts()) == 1


def test_no_system_prompt_bypasses_then_seeds(emu):
    r = make_router(emu)
    h = [W("user", "hi")]
    reply, route, _ = call(r, emu, h)
    assert (route.outcome, route.context_id) == ("bypassed", None)
    assert emu.records()[-1]["path"] == "/chat/completions"
    h += [W("assistant", reply), W("user", "next")]
    _, route, usage = call(r, emu, h)
    assert route.outcome == "created" and usage.cached_tokens > 0


def test_branches_edits_foreign_replies_and_front_truncation(emu):
    r = make_router(emu)
    base = [W("system", "sys"), W("user", "u1")]
    a1, _, _ = call(r, emu, base)
    h = [*base, W("assistant", a1), W("user", "u2")]
    a2, route, _ = call(r, emu, h)
    assert route.outcome == "reused"
    # Branch: continue the same prefix differently -> the old state was superseded.
    branch = [*base, W("assistant", a1), W("user", "u2-other")]
    _, route, _ = call(r, emu, branch)
    assert (route.outcome, route.reason) == ("created", "branch")
    # The main line still continues on its own context.
    h += [W("assistant", a2), W("user", "u3")]
    a3, route, _ = call(r, emu, h)
    assert route.outcome == "reused"
    # An AI reply that differs from what the server produced.
    forged = [*h, W("assistant", "I said something else"), W("user", "u4")]
    _, route, _ = call(r, emu, forged)
    assert route.outcome == "created"
    # An edit of an early message.
    edited = [
        W("system", "sys"),
        W("user", "u1 EDITED"),
        *h[2:],
        W("assistant", a3),
        W("user", "u4"),
    ]
    call(r, emu, edited)
    # A memory that truncated the front of the history.
    h += [W("assistant", a3), W("user", "u4")]
    a4, _, _ = call(r, emu, h)
    trimmed = [h[0], *h[5:], W("assistant", a4), W("user", "u5")]
    call(r, emu, trimmed)


def test_abandoned_stream_is_never_reused(emu):
    r = make_router(emu)
    h = [W("system", "sys"), W("user", "tell me a long story " * 5)]
    a1, _, _ = call(r, emu, h)
    h += [W("assistant", a1), W("user", "and another " * 10)]
    rid = new_request_id()
    with r.stream(h, request_id=rid) as s:
        next(iter(s))  # read one chunk, then walk away
    assert_served_exactly(emu, rid, h)
    # The server appended that turn; the router must not reuse that context for h.
    _, route, _ = call(r, emu, h)
    assert route.outcome == "created" and route.reason == "failure"


@pytest.mark.parametrize("apply", [True, False])
def test_unknown_outcome_retries_on_a_fresh_context(emu, apply):
    r = make_router(emu)
    h = [W("system", "sys"), W("user", "u1")]
    a1, first, _ = call(r, emu, h)
    h += [W("assistant", a1), W("user", "u2")]
    emu.inject_fault("/context/chat/completions", "status", status=500, apply=apply)
    _, route, _ = call(r, emu, h)
    assert (route.outcome, route.reason, route.attempts) == ("recreated", "failure", 2)
    assert route.context_id != first.context_id


def test_dropped_connection_then_unretryable(emu):
    r = make_router(emu, fresh_context_retries=0)
    h = [W("system", "sys"), W("user", "u1")]
    a1, _, _ = call(r, emu, h)
    h += [W("assistant", a1), W("user", "u2")]
    emu.inject_fault("/context/chat/completions", "drop")
    rid = new_request_id()
    with pytest.raises(Exception) as info:
        r.chat(h, request_id=rid)
    assert type(info.value).__name__ in {"ArkConnectionError", "ArkTimeoutError"}
    assert_served_exactly(emu, rid, h)  # it was applied server-side ...
    _, route, _ = call(r, emu, h)  # ... so the next call must not reuse that context
    assert (route.outcome, route.reason) == ("created", "failure")


def test_server_error_without_retries_is_typed(emu):
    r = make_router(emu, fresh_context_retries=0)
    h = [W("system", "sys"), W("user", "u1")]
    a1, _, _ = call(r, emu, h)
    h += [W("assistant", a1), W("user", "u2")]
    emu.inject_fault("/context/chat/completions", "status", status=502)
    with pytest.raises(ArkServerError):
        r.chat(h)
    call(r, emu, h)


def test_expiry_server_side_and_local(emu):
    clock = Clock()
    r = make_router(emu, clock=clock)
    h = [W("system", "sys"), W("user", "u1")]
    a1, _first, _ = call(r, emu, h)
    h += [W("assistant", a1), W("user", "u2")]
    emu.advance_clock(86400 + 10)  # the server forgot; the router does not know
    a2, route, _ = call(r, emu, h)
    assert (route.outcome, route.reason) == ("recreated", "gone")
    h += [W("assistant", a2), W("user", "u3")]
    clock.t += 86400  # the router knows it is past ttl and does not even try
    n = len(emu.records())
    _, route, _ = call(r, emu, h)
    assert (route.outcome, route.reason) == ("created", "expired")
    assert [x["path"] for x in emu.records()[n:]] == [
        "/context/create",
        "/context/chat/completions",
    ]


def test_server_restart_recreates(emu):
    r = make_router(emu)
    h = [W("system", "sys"), W("user", "u1")]
    a1, _, _ = call(r, emu, h)
    emu.forget_contexts()
    h += [W("assistant", a1), W("user", "u2")]
    _, route, _ = call(r, emu, h)
    assert route.outcome == "recreated"


def test_concurrent_calls_never_hit_in_progress(emu):
    r = make_router(emu)
    h = [W("system", "sys"), W("user", "u1")]
    a1, _, _ = call(r, emu, h)
    h += [W("assistant", a1)]
    emu.inject_fault("/context/chat/completions", "latency", seconds=0.3)
    errors: list[BaseException] = []
    routes = []

    def worker(i: int) -> None:
        try:
            routes.append(call(r, emu, [*h, W("user", f"parallel {i}")])[1])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(rt.outcome == "reused" for rt in routes) == 1
    assert {rt.reason for rt in routes if rt.outcome != "reused"} <= {"busy", "branch"}
    assert not [x for x in emu.records() if x.get("error") == "OperationDenied.InvalidState"]


async def test_async_concurrency_and_streams(emu):
    r = make_router(emu)
    h = [W("system", "sys"), W("user", "u1")]
    rc = await r.achat(h)
    h += [W("assistant", rc.text)]

    async def one(i: int):
        rid = new_request_id()
        conv = [*h, W("user", f"async {i}")]
        if i % 2:
            async with r.astream(conv, request_id=rid) as s:
                text = "".join([c.text async for c in s])
            route = s.route
        else:
            out = await r.achat(conv, request_id=rid)
            text, route = out.text, out.route
        assert_served_exactly(emu, rid, conv)
        return text, route

    results = await asyncio.gather(*(one(i) for i in range(8)))
    assert sum(rt.outcome == "reused" for _, rt in results) == 1
    assert not [x for x in emu.records() if x.get("error") == "OperationDenied.InvalidState"]


def test_common_prefix_shares_one_context_and_sends_everything_after_it(emu):
    r = make_router(emu, mode="common_prefix")
    sys = W("system", "You answer questions about the provided document. " * 20)
    routes = []
    for q in ("q1", "q2", "q3"):
        h = [sys, W("user", q)]
        _, route, usage = call(r, emu, h)
        routes.append(route)
    assert [rt.outcome for rt in routes] == ["created", "reused", "reused"]
    assert len({rt.context_id for rt in routes}) == 1 and creates(emu) == 1
    h = [sys, W("user", "a"), W("assistant", "b"), W("user", "c")]
    _, route, usage = call(r, emu, h)
    assert route.sent_messages == 3 and usage.cached_tokens > 0


def test_common_prefix_concurrent_first_calls_make_one_context(emu):
    r = make_router(emu, mode="common_prefix")
    sys = W("system", "shared prefix")
    emu.inject_fault("/context/create", "latency", seconds=0.2)
    threads = [
        threading.Thread(target=call, args=(r, emu, [sys, W("user", f"t{i}")])) for i in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert creates(emu) == 1


async def test_common_prefix_async_dedupe_and_busy_retry(emu):
    r = make_router(emu, mode="common_prefix")
    sys = W("system", "another shared prefix")
    emu.inject_fault("/context/create", "latency", seconds=0.2)
    await asyncio.gather(*(r.achat([sys, W("user", f"a{i}")]) for i in range(5)))
    assert creates(emu) == 1
    emu.inject_fault(
        "/context/chat/completions", "status", status=403, code="OperationDenied.InvalidState"
    )
    rc = await r.achat([sys, W("user", "after busy")])
    assert rc.route.outcome == "reused"


def test_common_prefix_gone_is_recreated_once(emu):
    r = make_router(emu, mode="common_prefix")
    sys = W("system", "prefix that will vanish")
    call(r, emu, [sys, W("user", "x")])
    emu.forget_contexts()
    _, route, _ = call(r, emu, [sys, W("user", "y")])
    assert (route.outcome, route.reason) == ("recreated", "gone")
    assert creates(emu) == 2


def test_two_api_keys_never_share_a_context(emu):
    store = InMemoryStore()
    h = [W("system", "sys"), W("user", "same words")]
    _, r1, _ = call(make_router(emu, store=store, key="key-one-1111"), emu, h)
    _, r2, _ = call(make_router(emu, store=store, key="key-two-2222"), emu, h)
    assert r1.context_id != r2.context_id and creates(emu) == 2


def test_store_keeps_no_message_text(emu):
    store = InMemoryStore()
    r = make_router(emu, store=store)
    secret_text = "the-user-said-PINEAPPLE-42"
    h = [W("system", "sys"), W("user", secret_text)]
    a1, _, _ = call(r, emu, h)
    h += [W("assistant", a1), W("user", "more")]
    call(r, emu, h)
    dumped = json.dumps([repr(v) for v in store._data.items()])
    assert "PINEAPPLE" not in dumped and a1[:20] not in dumped


def test_stream_without_usage_and_bypass_stream(emu):
    r = make_router(emu)
    h = [W("user", "no system here")]
    rid = new_request_id()
    with r.stream(h, include_usage=False, request_id=rid) as s:
        text = "".join(c.text for c in s)
    assert s.usage is None and text and s.route.outcome == "bypassed"
    assert_served_exactly(emu, rid, h)


def test_common_prefix_gone_twice_is_a_typed_error(emu):
    from ark_context import ArkContextGoneError

    r = make_router(emu, mode="common_prefix")
    sys = W("system", "prefix gone twice")
    call(r, emu, [sys, W("user", "x")])
    emu.inject_fault("/context/chat/completions", "status", status=404, times=3)
    with pytest.raises(ArkContextGoneError):
        r.chat([sys, W("user", "y")])
    emu.clear_faults()
    _, route, _ = call(r, emu, [sys, W("user", "z")])
    assert route.outcome == "reused"  # the context recreated during the failed call


async def test_cancelled_creator_does_not_cancel_waiters(emu):
    r = make_router(emu, mode="common_prefix")
    sys = W("system", "slow shared prefix")
    emu.inject_fault("/context/create", "latency", seconds=0.5)
    a = asyncio.create_task(r.achat([sys, W("user", "a")]))
    await asyncio.sleep(0.1)
    b = asyncio.create_task(r.achat([sys, W("user", "b")]))
    await asyncio.sleep(0.1)
    a.cancel()
    rc = await b
    assert not b.cancelled() and rc.route.context_id
    assert creates(emu) == 1


async def test_cancelled_session_call_marks_its_context_failed(emu):
    r = make_router(emu)
    h = [W("system", "sys"), W("user", "u1")]
    rc = await r.achat(h)
    h += [W("assistant", rc.text), W("user", "u2")]
    emu.inject_fault("/context/chat/completions", "latency", seconds=0.5)
    task = asyncio.create_task(r.achat(h))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # let the server finish the abandoned request
    rid = new_request_id()
    out = await r.achat(h, request_id=rid)
    assert (out.route.outcome, out.route.reason) == ("created", "failure")
    assert_served_exactly(emu, rid, h)


async def test_abandoned_async_stream_marks_its_context_failed(emu):
    import gc

    r = make_router(emu)
    h = [W("system", "sys"), W("user", "u1")]
    rc = await r.achat(h)
    h += [W("assistant", rc.text), W("user", "tell me more " * 8)]
    s = r.astream(h)
    await s.__anext__()  # one chunk, then walk away without aclose()
    del s
    gc.collect()
    await asyncio.sleep(0.2)
    out = await r.achat(h)
    assert (out.route.outcome, out.route.reason) == ("created", "failure")


@pytest.mark.parametrize("configured", [False, True])
def test_server_side_truncation_is_detected(configured):
    """Ark picks a truncation strategy when none is configured. When the server serves less
    history than the context held, the route says so; without a configured strategy that
    context is never reused, so the next call sees the whole conversation or a typed error."""
    from ark_context import ArkContextOverflowError
    from ark_context.emulator import run_emulator

    trunc = {"type": "last_history_tokens", "last_history_tokens": 120} if configured else None
    with run_emulator(model_window=300) as small:
        r = make_router(small, truncation_strategy=trunc)
        h = [W("system", "You are terse.")]
        flagged = None
        for turn in range(12):
            h.append(W("user", f"turn {turn} " + "word " * 6))
            try:
                rc = r.chat(h)
            except ArkContextOverflowError:
                assert not configured and flagged is not None
                break
            dropped = small.completions()[-1]["dropped"]
            if rc.route.truncated and flagged is None:
                flagged = turn
            if configured:
                assert rc.route.outcome in ("created", "reused")
            elif flagged is not None and turn > flagged:
                pytest.fail("a truncated context was reused without a configured strategy")
            if not configured and not rc.route.truncated:
                assert dropped == 0  # everything served so far was the whole conversation
            h.append(W("assistant", rc.text))
        assert flagged is not None


def test_cut_session_call_then_dead_server_reports_the_cut():
    """Item 9: a reuse request is cut after it was sent (it may have arrived), then the
    server dies, so the fresh-context retry cannot connect. The caller must get the
    first failure (``sent=True``), with the retry's connection failure chained."""
    import contextlib

    from ark_context import ArkConnectionError
    from ark_context.emulator import run_emulator

    with contextlib.ExitStack() as stack:
        emu = stack.enter_context(run_emulator())
        r = make_router(emu)
        r._sleep = lambda _s: stack.close()  # the backoff before the retry: the server dies
        h = [W("system", "sys"), W("user", "u1")]
        a1, _, _ = call(r, emu, h)
        h += [W("assistant", a1), W("user", "u2")]
        emu.inject_fault("/context/chat/completions", "drop")  # applied, then cut
        with pytest.raises(ArkConnectionError) as info:
            r.chat(h)
    err = info.value
    assert err.sent is True, err
    retry_error = err.__cause__
    assert isinstance(retry_error, ArkConnectionError) and retry_error.sent is False


def test_editing_an_earlier_message_is_a_branch(emu):
    r = make_router(emu)
    h = [W("system", "sys"), W("user", "u0")]
    for i in range(4):
        a, _, _ = call(r, emu, h)
        h += [W("assistant", a), W("user", f"u{i + 1}")]
    assert len(h) == 10
    edited = [*h[:3], W("user", "u1, edited"), *h[4:]]
    _, route, _ = call(r, emu, edited)  # served exactly, from a context seeded afresh
    assert (route.outcome, route.reason) == ("created", "branch")
