"""The fault matrix of ``test_faults.py`` on the Responses API (a current model).

Same adapters, entry points, scenario and checks (``run_scenario``, one-connection pools,
recorded sleeps), with the checks of this API: every response the model produced for a
call saw exactly the caller's conversation (its full transcript, parent chain included,
as the emulator recorded it); the call after the fault chains from the last response the
caller got (``previous_response_id``); the final response's transcript is the
conversation and its output the reply.

The router's clock is the emulator's (``emu.now``), so a clock jump moves both, as time
passing does; the chain gap is 0 (the emulator releases a response before its client can
see the end, so no real waits are needed).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelTimeoutError,
)

from ark_context import (
    ArkConnectionError,
    ArkContextBusyError,
    ArkRateLimitError,
    ArkServerError,
    ArkTimeoutError,
)
from ark_context import wire_message as W
from ark_context.conversation import to_input_items
from ark_context.stores import RedisStore, SQLiteStore
from tests.invariant import _short
from tests.reliability.test_faults import (
    ADAPTERS,
    METHODS,
    TTL,
    ContextApi,
    Fault,
    Kit,
    _cases,
    _chat_fault,
    _one_backoff,
    _read_one_then_break,
    _uid,
    assert_no_leak,
    assert_typed,
    call,
    make_kit,
    ok_result,
    released,
    run_scenario,
    to_langchain,
    to_llama_index,
)

pytestmark = pytest.mark.integration

MODEL = "doubao-seed-1-6-251015"
PATH = "/responses"


class _Rewound:
    """The emulator's base clock: the real one, set back by ``rewind`` seconds."""

    rewind = 0.0

    def __call__(self) -> float:
        return time.time() - self.rewind


_CLOCK = _Rewound()


@pytest.fixture(scope="module")
def _own_emulator() -> Any:
    # A module-private server: the rows jump its clock (and the routers' clock with it).
    from ark_context.emulator import run_emulator

    with run_emulator(clock=_CLOCK) as e:
        yield e


@pytest.fixture
def emu(_own_emulator: Any) -> Any:
    # Each test starts on the real time: the wire client checks expire_at against it.
    _CLOCK.rewind += _own_emulator.now() - time.time()
    _own_emulator.reset()
    yield _own_emulator
    _own_emulator.reset()
    RESPONSES.skew = 0.0


def seen(item: Mapping[str, Any]) -> dict[str, Any]:
    """An input item as the emulator's transcript shows it (ids and text parts folded)."""
    out = {k: v for k, v in item.items() if k not in ("id", "status", "type")}
    if item.get("type") not in (None, "message"):
        out["type"] = item["type"]
    content = out.get("content")
    if isinstance(content, list):
        out["content"] = "".join(p.get("text", "") for p in content)
    return out


def transcript(conv: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [seen(i) for i in to_input_items([dict(m) for m in conv])]


def response_records(emu: Any, rid: str) -> list[dict[str, Any]]:
    return [r for r in emu.records(PATH) if r.get("request_id") == rid]


class ResponsesApi(ContextApi):
    name = "responses"
    model = MODEL
    path = PATH
    # A failed turn changed no response: the next call chains from the last one.
    reuse_after_failure = True
    #: Seconds the emulator's clock is ahead of the routers' (a row sets it).
    skew = 0.0

    def tune(self, kit: Kit, emu: Any) -> None:
        router = kit.llm.ark_router()
        assert router.api == "responses"

        def clock() -> float:
            return float(emu.now()) - self.skew

        router.clock = clock
        router._cfg = replace(router._cfg, clock=clock)
        router.backend._clock = clock
        router.backend.chain_gap = 0.0

    def served(self, emu: Any, rid: str, conv: Sequence[Mapping[str, str]]) -> list[Any]:
        want = transcript(conv)
        ran = [
            r
            for r in response_records(emu, rid)
            if r["mode"] != "prefix"  # a prefix cache the call created: no completion
            and (r.get("reply") is not None or r["applied"])
        ]
        for r in ran:
            got = [seen(i) for i in r["messages"]]
            assert got == want, (
                f"response {r['response_id']} for {rid} saw {len(got)} items, "
                f"the caller had {len(want)}: a turn was duplicated or lost\n"
                f"  saw:    {_short(got)}\n  caller: {_short(want)}"
            )
        # No idempotency key: a request that may have run is never sent again.
        assert len(ran) <= 1, f"{len(ran)} responses ran for {rid}: a turn was sent twice"
        return ran

    def reply(self, emu: Any, rid: str) -> str:
        ok = [
            r
            for r in response_records(emu, rid)
            if r["status"] == 200 and not r.get("fault") and r.get("reply") is not None
        ]
        assert ok, f"no successful response recorded for {rid}"
        return str(ok[-1]["reply"])

    def settle(self, emu: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while any(r["in_progress"] for r in emu.responses()):
            assert time.monotonic() < deadline, "the emulator never finished a response"
            time.sleep(0.02)

    def holds(self, emu: Any, meta: Mapping[str, Any], conv: Sequence[Mapping[str, str]]) -> None:
        snap = emu.response(meta["response_id"])
        assert snap is not None, f"response {meta['response_id']} is gone"
        assert [seen(i) for i in snap["messages"]] == transcript(conv[:-1])
        texts = [o for o in snap["output"] if o["type"] == "message"]
        assert texts[0]["content"][0]["text"] == conv[-1]["content"]

    def continues(self, before: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        assert meta["previous_response_id"] == before["response_id"]


RESPONSES = ResponsesApi()


def _fault(kind: str, **options: Any) -> Any:
    return _chat_fault(kind, path=PATH, **options)


def _raises(name: str, arrange: Any, error: tuple[type, type | None], **kw: Any) -> Fault:
    return Fault(name, arrange, outcome=None, error=error, **kw)


SERVER = (ArkServerError, ModelAPIError)
CONNECTION = (ArkConnectionError, ModelConnectionError)

# A POST /responses has no idempotency key: after a 5xx, a dropped connection or a read
# timeout a response may have been created (and billed) unseen, so the caller gets the
# typed error (ark-responses-api.md section 7, rule 12); the next call chains from the
# last response the caller got. 429 and 403 InvalidState were refused: retried.
FAULTS = [
    _raises("500", _fault("status", status=500), SERVER),
    _raises("500-applied", _fault("status", status=500, apply=True), SERVER),
    _raises("502-applied", _fault("status", status=502, apply=True), SERVER),
    Fault(
        "429-retry-after",
        _fault("status", status=429),
        outcome="reused",
        reason=None,
        sleeps=lambda s: s == [1.0],
    ),
    Fault(
        "403-invalid-state",
        _fault("status", status=403, code="OperationDenied.InvalidState"),
        outcome="reused",
        reason=None,
        sleeps=_one_backoff,
    ),
    # The client's retries run out: the router rebuilds the chain from the history.
    Fault(
        "403-invalid-state-x3",
        _fault("status", status=403, code="OperationDenied.InvalidState", times=3),
        reason="busy",
        sleeps=lambda s: len(s) == 2,  # the client's two backoffs; the rebuild is at once
    ),
    Fault(
        "404-response-gone",
        _fault("status", status=404, code="NotFound.Response"),
        reason="gone",
    ),
    # A chain's first turn refused: retried (it was not processed).
    Fault(
        "first-turn-429",
        _fault("status", status=429),
        outcome="created",
        reason="new",
        sleeps=lambda s: s == [1.0],
        when=1,
    ),
    # The other documented shape of a gone parent: a 400 saying so.
    Fault(
        "400-previous-expired",
        _fault(
            "status",
            status=400,
            code="InvalidParameter.PreviousResponseId",
            message="The previous response is not found or has expired.",
        ),
        reason="gone",
    ),
    _raises("drop-applied", _fault("drop"), CONNECTION),
    _raises("drop-unapplied", _fault("drop", apply=False), CONNECTION),
    _raises(
        "read-timeout",
        _fault("latency", seconds=0.6),
        (ArkTimeoutError, ModelTimeoutError),
        timeout=0.3,
    ),
    _raises(
        "stream-cut-after-3", _fault("cut_stream", after_chunks=3), CONNECTION, stream_only=True
    ),
    _raises(
        "stream-cut-before-first",
        _fault("cut_stream", after_chunks=0),
        CONNECTION,
        stream_only=True,
    ),
    _raises(
        "stream-error-event",
        _fault("stream_error", status=500, after_chunks=4),
        SERVER,
        stream_only=True,
    ),
    Fault("restart", lambda emu: emu.forget_responses(), reason="gone"),
    # Time passes for the server and the router alike, past the chain's expire_at.
    Fault(
        "clock-past-expire",
        lambda emu: emu.advance_clock(TTL + 60),
        outcome="created",
        reason="expired",
    ),
]


def _server_clock_ahead(emu: Any) -> None:
    """The server's clock passes the chain's expire_at while the router's, 360 s behind,
    is still outside the expiry margin (300 s): the server says gone."""
    emu.advance_clock(TTL + 10)
    RESPONSES.skew = 360.0


FAULTS.append(Fault("server-clock-past-expire", _server_clock_ahead, reason="gone"))

# Refusals that persist: the retries run out and the caller gets the typed error.
EXHAUSTED = [
    _raises(
        "429x5",
        _fault("status", status=429, times=5, retry_after="0"),
        (ArkRateLimitError, ModelRateLimitError),
    ),
    _raises(
        "403-invalid-state-x6",
        _fault("status", status=403, code="OperationDenied.InvalidState", times=6),
        (ArkContextBusyError, None),
    ),
]


@pytest.mark.parametrize(("adapter", "method", "fault"), _cases(FAULTS))
async def test_fault_is_absorbed_or_typed(emu: Any, adapter: str, method: str, fault: Fault):
    await run_scenario(emu, adapter, method, fault, RESPONSES)


@pytest.mark.parametrize(("adapter", "method", "fault"), _cases(EXHAUSTED))
async def test_persistent_fault_raises_typed_error(
    emu: Any, adapter: str, method: str, fault: Fault
):
    await run_scenario(emu, adapter, method, fault, RESPONSES)


# -- persistent stores across a router (process) restart and an emulator restart ------------


@pytest.fixture(params=["sqlite", "redis"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """New handles on one persistent store: what a restarted process opens again."""
    made: list[Any] = []
    if request.param == "sqlite":

        def make() -> Any:
            made.append(SQLiteStore(tmp_path / "chains.db"))
            return made[-1]

    else:
        server = request.getfixturevalue("redis_server")
        prefix = f"rf{uuid.uuid4().hex[:8]}:"

        def make() -> Any:
            made.append(RedisStore(server.url, prefix=prefix))
            return made[-1]

    yield make
    for s in made:
        s.close()


def new_kit(adapter: str, emu: Any, **settings: Any) -> Kit:
    kit = make_kit(adapter, emu, model=MODEL, **settings)
    RESPONSES.tune(kit, emu)
    return kit


async def turn(
    kit: Kit, emu: Any, method: str, conv: list[Any], rid: str, want: tuple[str, str | None]
) -> dict[str, Any]:
    """One successful call: exact, the expected route, no leaked connection."""
    res = await call(kit, method, conv, rid)
    meta = ok_result(emu, res, rid, conv, RESPONSES)
    assert (meta["context_outcome"], meta["context_miss_reason"]) == want, meta
    assert_no_leak(kit)
    conv += [W("assistant", res.text)]
    RESPONSES.holds(emu, meta, conv)
    return meta


def sent_items(emu: Any, rid: str) -> list[Any]:
    """What the one POST /responses of ``rid`` that ran sent as ``input``."""
    (rec,) = [r for r in response_records(emu, rid) if r["status"] == 200]
    return list(rec["sent"])


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
async def test_persistent_store_survives_restarts(
    emu: Any, store_factory: Any, adapter: str, method: str
) -> None:
    tag = f"restart-{adapter}-{method}-{next(_uid)}"
    conv: list[Any] = [W("system", f"You are {tag}."), W("user", "first")]
    kit = new_kit(adapter, emu, store=store_factory())
    try:
        first = await turn(kit, emu, method, conv, f"{tag}-1", ("created", "new"))
        conv.append(W("user", "second"))
        second = await turn(kit, emu, method, conv, f"{tag}-2", ("reused", None))
        RESPONSES.continues(first, second)
    finally:
        await kit.aclose()

    # The process restarts: a new model, router, pools and store handle on the same store.
    kit = new_kit(adapter, emu, store=store_factory())
    try:
        conv.append(W("user", "third, after the process restarted"))
        third = await turn(kit, emu, method, conv, f"{tag}-3", ("reused", None))
        RESPONSES.continues(second, third)
        assert [seen(i) for i in sent_items(emu, f"{tag}-3")] == transcript(conv[-2:-1])

        # The emulator restarts: every response is gone. Rebuilt once from the history.
        assert emu.forget_responses() >= 3
        conv.append(W("user", "fourth, after the server restarted"))
        fourth = await turn(kit, emu, method, conv, f"{tag}-4", ("recreated", "gone"))
        recs = response_records(emu, f"{tag}-4")
        assert [(r["status"], r["previous_response_id"]) for r in recs] == [
            (404, third["response_id"]),
            (200, None),
        ]
        conv.append(W("user", "fifth"))
        fifth = await turn(kit, emu, method, conv, f"{tag}-5", ("reused", None))
        RESPONSES.continues(fourth, fifth)
    finally:
        await kit.aclose()


# -- a caller that stops reading a stream, or cancels it -------------------------------------


async def _cancel_after_first(kit: Kit, emu: Any, conv: list[Any], rid: str, inside: bool) -> str:
    """Run an async stream in a task and cancel the task once the first chunk arrived:
    while the task waits in its own code (``inside=False``), or while it waits in the
    library for the next event of a slow stream (``inside=True``)."""
    first: list[str] = []
    got = asyncio.Event()
    release = asyncio.Event()  # never set: the task waits after its first chunk

    async def consume() -> None:
        if kit.adapter == "langchain":
            async for chunk in kit.llm.astream(to_langchain(conv), request_id=rid):
                first.append(chunk.content)
                got.set()
                if not inside:
                    await release.wait()
        else:
            gen = await kit.llm.astream_chat(to_llama_index(conv), request_id=rid)
            async for r in gen:
                first.append(r.delta or "")
                got.set()
                if not inside:
                    await release.wait()

    emu.chunk_delay = 0.3 if inside else 0.0
    try:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(got.wait(), 5)
        await asyncio.sleep(0.05 if inside else 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        emu.chunk_delay = 0.0
    return first[0]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    "how", ["stream-break", "astream-break", "astream-cancel", "astream-cancel-mid-read"]
)
async def test_abandoned_stream_records_nothing_and_the_next_call_chains_from_the_parent(
    emu: Any, adapter: str, how: str
) -> None:
    method = how.split("-")[0]
    kit = new_kit(adapter, emu)
    tag = f"abandon-{adapter}-{how}-{next(_uid)}"
    conv: list[Any] = [W("system", f"You are {tag}."), W("user", "first")]
    try:
        first = await turn(kit, emu, method, conv, f"{tag}-1", ("created", "new"))
        conv.append(W("user", "second, read one chunk only"))
        rid = f"{tag}-2"
        if how.startswith("astream-cancel"):
            text = await _cancel_after_first(kit, emu, conv, rid, how.endswith("mid-read"))
        else:
            text = await _read_one_then_break(kit, method, conv, rid)
        loops = await released(kit)
        assert loops == 0 if method == "stream" else loops < 50
        RESPONSES.settle(emu)
        assert_no_leak(kit)
        # The server produced the response (it saw exactly the conversation) ...
        (cut,) = RESPONSES.served(emu, rid, conv)
        assert text and cut["reply"].startswith(text)
        # ... but the caller never got it: the same history again chains from the parent.
        again = await turn(kit, emu, method, conv, f"{tag}-3", ("reused", None))
        RESPONSES.continues(first, again)
        assert again["response_id"] != cut["response_id"]
        conv.append(W("user", "third"))
        third = await turn(kit, emu, method, conv, f"{tag}-4", ("reused", None))
        RESPONSES.continues(again, third)
    finally:
        await kit.aclose()


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", ["stream", "astream"])
async def test_stream_stalled_mid_reply_times_out_typed_and_records_nothing(
    emu: Any, adapter: str, method: str
) -> None:
    """The server stops sending after the first events (longer than the read timeout): the
    caller gets ``ArkTimeoutError`` (LangChain: ``ModelTimeoutError``), the connection is
    released, and the next call chains from the last response the caller got."""
    kit = new_kit(adapter, emu, timeout=0.3)
    tag = f"stall-{adapter}-{method}-{next(_uid)}"
    conv: list[Any] = [W("system", f"You are {tag}."), W("user", "first")]
    try:
        first = await turn(kit, emu, method, conv, f"{tag}-1", ("created", "new"))
        conv.append(W("user", "second, stalls"))
        emu.chunk_delay = 0.5
        try:
            res = await call(kit, method, conv, f"{tag}-2")
        finally:
            emu.chunk_delay = 0.0
        RESPONSES.settle(emu)
        assert_typed(res.error, adapter, ArkTimeoutError, ModelTimeoutError)
        assert_no_leak(kit)
        (stalled,) = RESPONSES.served(emu, f"{tag}-2", conv)
        assert stalled["reply"].startswith(res.partial)
        again = await turn(kit, emu, method, conv, f"{tag}-3", ("reused", None))
        RESPONSES.continues(first, again)
    finally:
        await kit.aclose()


@pytest.mark.parametrize("adapter", ADAPTERS)
async def test_prefix_cache_is_rebuilt_at_its_expire_at_even_after_uses(
    emu: Any, adapter: str
) -> None:
    """common_prefix: a prefix cache has a fixed ``expire_at``; using it (which refreshes
    the shared entry's last use) never makes the router believe it lives longer. After a
    clock jump past its deadline the router rebuilds it without a failed call first."""
    kit = new_kit(adapter, emu, mode="common_prefix")
    tag = f"prefix-clock-{adapter}-{next(_uid)}"
    system = W("system", f"Policy of {tag}. " + "Rules apply here. " * 400)

    async def use(i: int) -> tuple[dict[str, Any], list[int]]:
        conv = [system, W("user", f"q{i}")]
        res = await call(kit, "sync", conv, f"{tag}-{i}")
        meta = ok_result(emu, res, f"{tag}-{i}", conv, RESPONSES)
        assert_no_leak(kit)
        return meta, [r["status"] for r in response_records(emu, f"{tag}-{i}")]

    # The router's clock (the emulator's) runs days ahead of time.time(): the lifetime of
    # a new prefix cache is measured on the clock that set its expire_at.
    emu.advance_clock(30 * TTL)
    try:
        first, _ = await use(0)
        assert first["context_outcome"] == "created"
        emu.advance_clock(TTL - 400)  # inside the lifetime: a use, which touches the entry
        used, _ = await use(1)
        assert used["context_outcome"] == "reused"
        assert used["previous_response_id"] == first["previous_response_id"]
        emu.advance_clock(410)  # past the prefix cache's expire_at
        rebuilt, statuses = await use(2)
        assert statuses == [200, 200], "the router sent to an expired prefix cache first"
        assert rebuilt["context_outcome"] == "created"
        assert rebuilt["previous_response_id"] != first["previous_response_id"]
        emu.advance_clock(TTL + 10)  # past the new one's expire_at, with no use between
        again, statuses = await use(3)
        assert statuses == [200, 200], "the router sent to an expired prefix cache first"
        assert again["previous_response_id"] != rebuilt["previous_response_id"]
    finally:
        await kit.aclose()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
async def test_server_process_down_then_restarted_on_the_same_port(adapter: str, method: str):
    """The server goes away (connection refused: provably not sent, retried, then the
    typed error) and comes back as a new process on the same address with no responses
    (the pool's old connections are dead): the next call rebuilds once, exactly."""
    from ark_context.emulator import run_emulator

    port = _free_port()
    tag = f"down-{adapter}-{method}-{next(_uid)}"
    conv: list[Any] = [W("system", f"You are {tag}."), W("user", "first")]
    with run_emulator(port=port) as first_server:
        kit = new_kit(adapter, first_server)
        await turn(kit, first_server, method, conv, f"{tag}-1", ("created", "new"))
    try:
        conv.append(W("user", "second"))
        kit.slept.clear()
        res = await call(kit, method, conv, f"{tag}-2")
        assert_typed(res.error, adapter, ArkConnectionError, ModelConnectionError)
        assert res.error.sent is False  # type: ignore[union-attr]
        assert len(kit.slept) == 2  # the client's retries of a request never sent
        assert_no_leak(kit)
        with run_emulator(port=port) as server:
            RESPONSES.tune(kit, server)
            await turn(kit, server, method, conv, f"{tag}-3", ("recreated", "gone"))
            statuses = [r["status"] for r in response_records(server, f"{tag}-3")]
            assert statuses == [404, 200]
    finally:
        await kit.aclose()
