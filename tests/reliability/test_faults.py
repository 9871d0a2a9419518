"""Fault matrix through the adapters' public entry points, against the emulator over loopback.

Every (adapter, entry point, fault) runs the same three-call scenario on one conversation:

1. first turn (creates the context),
2. second turn with the fault injected (or the server restarted / its clock jumped),
3. the next turn (after a failure: the same turn again), which must work.

and checks, for every call: the caller got a reply or the documented typed error; every
completion the model ran saw exactly the caller's conversation (``tests/invariant.py``, by
``X-Client-Request-Id`` passed as the adapters' per-call ``request_id``); the final context
holds exactly the conversation plus the last reply (no duplicated or lost turn); the
reply the caller got is the one the server recorded; and the injected ``httpx`` pools hold
no checked-out connection afterwards.

Leak check: the models get an injected ``httpx.Client`` / ``httpx.AsyncClient`` limited to
ONE connection. ``client._transport._pool`` is the real ``httpcore`` connection pool; after
each call every connection in ``pool.connections`` must be idle or closed and the pool's
request list (httpcore 1.x ``_requests``: requests whose response is not closed yet) must be
empty. A leaked response would also make the next request wait for the one connection and
fail with a pool timeout.

No real backoff sleeps: the router's and clients' sleep hooks are replaced by recorders
(``fake_sleeps``), so the tests assert the delay asked for (e.g. ``Retry-After: 1`` -> 1.0)
without waiting. Only the read-timeout rows wait for real (client timeout 0.3 s against an
injected latency of 0.6 s, plus waiting for the emulator to finish the abandoned request).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from langchain_core.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage

from ark_context import (
    ArkConnectionError,
    ArkContextBusyError,
    ArkError,
    ArkRateLimitError,
    ArkServerError,
    ArkTimeoutError,
    InMemoryStore,
)
from ark_context import wire_message as W
from langchain_ark_context import ChatArkContext
from llama_index_ark_context import ArkContextLLM
from tests.invariant import assert_served_exactly, records_for

pytestmark = pytest.mark.integration

KEY = "reliability-key-7f3a9c"
MODEL = "ep-reliability"
TTL = 3600
ADAPTERS = ("langchain", "llama_index")
METHODS = ("sync", "async", "stream", "astream")
ENTRY_POINT = {
    ("langchain", "sync"): "invoke",
    ("langchain", "async"): "ainvoke",
    ("langchain", "stream"): "stream",
    ("langchain", "astream"): "astream",
    ("llama_index", "sync"): "chat",
    ("llama_index", "async"): "achat",
    ("llama_index", "stream"): "stream_chat",
    ("llama_index", "astream"): "astream_chat",
}
_uid = itertools.count()


# -- building models and calling them ------------------------------------------------------


@dataclass
class Kit:
    """One model with injected one-connection pools and recorded (fake) sleeps."""

    adapter: str
    llm: Any
    http: httpx.Client
    ahttp: httpx.AsyncClient
    slept: list[float]

    async def aclose(self) -> None:
        self.http.close()
        await self.ahttp.aclose()


def fake_sleeps(llm: Any) -> list[float]:
    """Replace the backoff sleeps of ``llm``'s router and clients by a recorder."""
    router = llm.ark_router()
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    router._sleep = slept.append
    router._async_sleep = asleep
    router.client._sleep = slept.append
    router.async_client._sleep = asleep
    return slept


def make_kit(
    adapter: str, emu: Any, *, timeout: float = 10.0, key: str = KEY, **settings: Any
) -> Kit:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    http = httpx.Client(timeout=timeout, limits=limits)
    ahttp = httpx.AsyncClient(timeout=timeout, limits=limits)
    cls = ChatArkContext if adapter == "langchain" else ArkContextLLM
    kw: dict[str, Any] = {
        "model": MODEL,
        "api_key": key,
        "base_url": emu.base_url,
        "ttl": TTL,
        "mode": "session",  # the faults hit session contexts (create, reuse, recreate)
        "store": InMemoryStore(),
        "http_client": http,
        "http_async_client": ahttp,
    }
    kw.update(settings)
    llm = cls(**kw)
    assert llm.http_client is http and llm.http_async_client is ahttp
    return Kit(adapter, llm, http, ahttp, fake_sleeps(llm))


def to_langchain(conv: Sequence[Mapping[str, str]]) -> list[BaseMessage]:
    kinds: dict[str, Callable[[str], BaseMessage]] = {
        "system": SystemMessage,
        "user": HumanMessage,
        "assistant": AIMessage,
    }
    return [kinds[m["role"]](m["content"]) for m in conv]


def to_llama_index(conv: Sequence[Mapping[str, str]]) -> list[ChatMessage]:
    return [ChatMessage(role=m["role"], content=m["content"]) for m in conv]


@dataclass
class Result:
    """What the caller saw: the reply (None on error), text streamed before an error, the
    route metadata and the error."""

    text: str | None
    partial: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


async def call(kit: Kit, method: str, conv: Sequence[Mapping[str, str]], rid: str) -> Result:
    """One call through the adapter's public entry point for ``method``."""
    llm = kit.llm
    parts: list[str] = []
    meta: dict[str, Any] = {}
    try:
        if kit.adapter == "langchain":
            msgs = to_langchain(conv)
            if method == "sync":
                m = llm.invoke(msgs, request_id=rid)
                return Result(m.content, m.content, dict(m.response_metadata))
            if method == "async":
                m = await llm.ainvoke(msgs, request_id=rid)
                return Result(m.content, m.content, dict(m.response_metadata))
            if method == "stream":
                for chunk in llm.stream(msgs, request_id=rid):
                    parts.append(chunk.content)
                    meta.update(chunk.response_metadata)
            else:
                async for chunk in llm.astream(msgs, request_id=rid):
                    parts.append(chunk.content)
                    meta.update(chunk.response_metadata)
        else:
            msgs = to_llama_index(conv)
            if method == "sync":
                r = llm.chat(msgs, request_id=rid)
                return Result(r.message.content, r.message.content, dict(r.additional_kwargs))
            if method == "async":
                r = await llm.achat(msgs, request_id=rid)
                return Result(r.message.content, r.message.content, dict(r.additional_kwargs))
            if method == "stream":
                for r in llm.stream_chat(msgs, request_id=rid):
                    parts.append(r.delta or "")
                    meta.update(r.additional_kwargs)
            else:
                async for r in await llm.astream_chat(msgs, request_id=rid):
                    parts.append(r.delta or "")
                    meta.update(r.additional_kwargs)
    except Exception as exc:  # what the caller sees; the test decides whether it is right
        return Result(None, "".join(parts), meta, exc)
    text = "".join(parts)
    return Result(text, text, meta)


# -- checks ------------------------------------------------------------------------------------


def pool_state(client: httpx.Client | httpx.AsyncClient) -> tuple[list[str], int]:
    """(descriptions of connections that are neither idle nor closed, open requests)."""
    pool = client._transport._pool  # type: ignore[union-attr]
    busy = [c.info() for c in pool.connections if not (c.is_idle() or c.is_closed())]
    return busy, len(pool._requests)


def assert_no_leak(kit: Kit) -> None:
    for client in (kit.http, kit.ahttp):
        busy, open_requests = pool_state(client)
        assert busy == [] and open_requests == 0, (
            f"{type(client).__name__} pool still holds a connection: {busy}, "
            f"{open_requests} open request(s)"
        )


def wait_idle(emu: Any, timeout: float = 5.0) -> None:
    """Wait until no context is InProgress: an abandoned request (client timeout) is still
    being served; its record is written before the context is released."""
    deadline = time.monotonic() + timeout
    while any(c["in_progress"] for c in emu.contexts()):
        assert time.monotonic() < deadline, "the emulator never finished an abandoned request"
        time.sleep(0.02)


def served_reply(emu: Any, rid: str) -> str:
    """The reply of the one completion for ``rid`` whose answer reached the caller."""
    ok = [r for r in records_for(emu, rid) if r["status"] == 200 and not r["fault"]]
    replies = {r["reply"] for r in ok}
    assert len(replies) >= 1, f"no successful completion recorded for {rid}"
    return ok[-1]["reply"]


def assert_context_holds(emu: Any, context_id: str, conv: Sequence[Mapping[str, str]]) -> None:
    ctx = emu.context(context_id)
    assert ctx is not None, f"context {context_id} is gone"
    got = [{"role": m["role"], "content": m["content"]} for m in ctx["messages"]]
    want = [dict(m) for m in conv]
    assert got == want, (
        f"context {context_id} holds {len(got)} messages, the conversation has {len(want)}: "
        "a turn was duplicated or lost"
    )


class ContextApi:
    """What a scenario checks on the Context API; ``test_faults_responses.ResponsesApi``
    checks the same on the Responses API (the scenario is shared)."""

    name = "context"
    model = MODEL
    #: The completion path faults are injected on.
    path = "/context/chat/completions"
    #: Whether the call after a failed one continues the last state (on the Context API a
    #: context a failed turn may have reached is never reused).
    reuse_after_failure = False

    def tune(self, kit: Kit, emu: Any) -> None:
        """Adjust a new kit's router for this API (nothing on the Context API)."""

    def served(self, emu: Any, rid: str, conv: Sequence[Mapping[str, str]]) -> list[Any]:
        """The records of every completion the model ran for ``rid``, checked exact."""
        return assert_served_exactly(emu, rid, conv)

    def reply(self, emu: Any, rid: str) -> str:
        return served_reply(emu, rid)

    def settle(self, emu: Any) -> None:
        wait_idle(emu)

    def holds(self, emu: Any, meta: Mapping[str, Any], conv: Sequence[Mapping[str, str]]) -> None:
        """The server's final state after a call whose metadata is ``meta`` is ``conv``."""
        assert_context_holds(emu, meta["context_id"], conv)

    def continues(self, before: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        """A reused call continues the state of the last call that succeeded."""
        assert meta["context_id"] == before["context_id"]


CONTEXT = ContextApi()


def ok_result(
    emu: Any,
    res: Result,
    rid: str,
    conv: Sequence[Mapping[str, str]],
    api: ContextApi = CONTEXT,
) -> dict[str, Any]:
    """A successful call: no error, every record exact, the reply is the recorded one."""
    assert res.error is None, f"unexpected {type(res.error).__name__}: {res.error}"
    ran = api.served(emu, rid, conv)
    assert ran, f"the model never ran for {rid}"
    assert res.text == api.reply(emu, rid)
    assert res.meta.get("context_outcome") in ("created", "reused", "recreated", "bypassed")
    return res.meta


def assert_typed(err: BaseException | None, adapter: str, ark: type, langchain: type | None):
    """The documented error: the ark_context type, and for LangChain its mapped twin."""
    assert err is not None, "the call succeeded, an error was expected"
    assert isinstance(err, ark), f"{type(err).__mro__} is not {ark.__name__}: {err}"
    assert isinstance(err, ArkError)
    assert not isinstance(err, (KeyError, TypeError, AttributeError))
    if adapter == "langchain" and langchain is not None:
        assert isinstance(err, langchain), f"{type(err).__name__} is not a {langchain.__name__}"
        assert isinstance(err.__cause__, ark), "the ark_context error is kept as __cause__"
    assert str(err), "the error has a message"


# -- the matrix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: what to do to the server before call 2 (or call 1)."""

    name: str
    arrange: Callable[[Any], None]
    outcome: str | None = "recreated"  # route outcome of the faulted call; None: it raises
    reason: str | None = "failure"
    sleeps: Callable[[list[float]], bool] = lambda s: s == []
    stream_only: bool = False
    timeout: float = 10.0
    when: int = 2  # the call the fault hits
    error: tuple[type, type | None] | None = None  # (ark type, LangChain twin)


def _one_backoff(slept: list[float]) -> bool:
    """One jittered backoff: the client's first is in [0, 0.5], the router's in [0.5, 1]."""
    return len(slept) == 1 and 0.0 <= slept[0] <= 1.0


def _chat_fault(
    kind: str, *, path: str = "/context/chat/completions", **options: Any
) -> Callable[[Any], None]:
    return lambda emu: emu.inject_fault(path, kind, **options)


FAULTS = [
    Fault("500", _chat_fault("status", status=500), sleeps=_one_backoff),
    Fault("500-applied", _chat_fault("status", status=500, apply=True), sleeps=_one_backoff),
    Fault("502", _chat_fault("status", status=502), sleeps=_one_backoff),
    Fault("502-applied", _chat_fault("status", status=502, apply=True), sleeps=_one_backoff),
    Fault("429-retry-after", _chat_fault("status", status=429), sleeps=lambda s: s == [1.0]),
    Fault(
        "403-invalid-state",
        _chat_fault("status", status=403, code="OperationDenied.InvalidState"),
        reason="busy",
    ),
    Fault(
        "404-context-gone",
        _chat_fault("status", status=404, code="NotFound.Context"),
        reason="gone",
    ),
    Fault("drop-applied", _chat_fault("drop"), sleeps=_one_backoff),
    Fault("drop-unapplied", _chat_fault("drop", apply=False), sleeps=_one_backoff),
    Fault("read-timeout", _chat_fault("latency", seconds=0.6), sleeps=_one_backoff, timeout=0.3),
    Fault(
        "stream-cut-after-2",
        _chat_fault("cut_stream", after_chunks=2),
        outcome=None,
        stream_only=True,
        error=(ArkConnectionError, ModelConnectionError),
    ),
    Fault(
        "stream-cut-before-first",
        _chat_fault("cut_stream", after_chunks=0),
        outcome=None,
        stream_only=True,
        error=(ArkConnectionError, ModelConnectionError),
    ),
    Fault("restart", lambda emu: emu.forget_contexts(), reason="gone"),
    # The server's clock passes the ttl, the router's does not: the server says gone.
    Fault("clock-past-ttl", lambda emu: emu.advance_clock(TTL + 60), reason="gone"),
    # The seeding /context/create fails on the first call: create is idempotent, so the
    # client retries it (a created-but-dropped context is orphaned, never used).
    Fault(
        "create-500",
        lambda emu: emu.inject_fault("/context/create", "status", status=500),
        outcome="created",
        reason="new",
        sleeps=_one_backoff,
        when=1,
    ),
    Fault(
        "create-drop-applied",
        lambda emu: emu.inject_fault("/context/create", "drop"),
        outcome="created",
        reason="new",
        sleeps=_one_backoff,
        when=1,
    ),
]

# The same faults, persistent: the router's one retry fails too, so the caller gets the
# documented typed error; the next call (fault cleared) works.
EXHAUSTED = [
    Fault(
        "500x5",
        _chat_fault("status", status=500, times=5),
        outcome=None,
        error=(ArkServerError, ModelAPIError),
    ),
    Fault(
        "502x5-applied",
        _chat_fault("status", status=502, times=5, apply=True),
        outcome=None,
        error=(ArkServerError, ModelAPIError),
    ),
    Fault(
        "429x5",
        _chat_fault("status", status=429, times=5, retry_after="0"),
        outcome=None,
        error=(ArkRateLimitError, ModelRateLimitError),
    ),
    Fault(
        "403-invalid-state-x5",
        _chat_fault("status", status=403, code="OperationDenied.InvalidState", times=5),
        outcome=None,
        error=(ArkContextBusyError, None),
    ),
    Fault(
        "drop-x5",
        _chat_fault("drop", times=5),
        outcome=None,
        error=(ArkConnectionError, ModelConnectionError),
    ),
    Fault(
        "read-timeout-x2",
        _chat_fault("latency", seconds=0.5, times=2),
        outcome=None,
        timeout=0.3,
        error=(ArkTimeoutError, ModelTimeoutError),
    ),
]


def _cases(faults: list[Fault]) -> list[Any]:
    out = []
    for f in faults:
        for adapter in ADAPTERS:
            for method in METHODS:
                if f.stream_only and method not in ("stream", "astream"):
                    continue
                out.append(
                    pytest.param(adapter, method, f, id=f"{ENTRY_POINT[adapter, method]}-{f.name}")
                )
    return out


async def run_scenario(
    emu: Any, adapter: str, method: str, fault: Fault, api: ContextApi = CONTEXT
) -> None:
    kit = make_kit(adapter, emu, timeout=fault.timeout, model=api.model)
    api.tune(kit, emu)
    n = next(_uid)
    tag = f"{api.name}-{fault.name}-{adapter}-{method}-{n}"
    conv = [W("system", f"You are test {tag}."), W("user", f"first question of {tag}")]
    try:
        # -- call 1 ------------------------------------------------------------------
        if fault.when == 1:
            fault.arrange(emu)
        rid = f"{tag}-1"
        res = await call(kit, method, conv, rid)
        meta = last = ok_result(emu, res, rid, conv, api)
        want = (fault.outcome, fault.reason) if fault.when == 1 else ("created", "new")
        assert (meta["context_outcome"], meta["context_miss_reason"]) == want
        assert_no_leak(kit)
        conv += [W("assistant", res.text), W("user", f"second question of {tag}")]

        # -- call 2: the fault --------------------------------------------------------
        if fault.when == 2:
            kit.slept.clear()
            fault.arrange(emu)
            rid = f"{tag}-2"
            res = await call(kit, method, conv, rid)
            api.settle(emu)
            assert_no_leak(kit)
            if fault.outcome is None:
                ark_type, lc_type = fault.error  # type: ignore[misc]
                assert_typed(res.error, adapter, ark_type, lc_type)
                ran = api.served(emu, rid, conv)
                for r in ran:  # what streamed before the cut is a prefix of the server's reply
                    assert r["reply"].startswith(res.partial)
                emu.clear_faults()
            else:
                meta = last = ok_result(emu, res, rid, conv, api)
                got = (meta["context_outcome"], meta["context_miss_reason"])
                assert got == (fault.outcome, fault.reason)
                conv += [W("assistant", res.text), W("user", f"third question of {tag}")]
        assert fault.sleeps(kit.slept) or fault.outcome is None, kit.slept

        # -- call 3: the next call works and continues exactly ----------------------
        rid = f"{tag}-3"
        res = await call(kit, method, conv, rid)
        meta = ok_result(emu, res, rid, conv, api)
        if fault.outcome is not None or api.reuse_after_failure:
            assert meta["context_outcome"] == "reused"  # the recovered context is kept
        if meta["context_outcome"] == "reused":
            api.continues(last, meta)
        api.holds(emu, meta, [*conv, W("assistant", res.text)])
        assert_no_leak(kit)
        # The calls went through the injected pool (the leak check is not vacuous).
        used = kit.ahttp if method.startswith("a") else kit.http
        assert [c.is_idle() for c in used._transport._pool.connections] == [True]
    finally:
        api.settle(emu)
        await kit.aclose()


@pytest.mark.parametrize(("adapter", "method", "fault"), _cases(FAULTS))
async def test_fault_is_absorbed_or_typed(emu: Any, adapter: str, method: str, fault: Fault):
    await run_scenario(emu, adapter, method, fault)


@pytest.mark.parametrize(("adapter", "method", "fault"), _cases(EXHAUSTED))
async def test_persistent_fault_raises_typed_error(
    emu: Any, adapter: str, method: str, fault: Fault
):
    await run_scenario(emu, adapter, method, fault)


# -- common_prefix: the idempotent path (client-level retries) -------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
async def test_common_prefix_retries_in_the_client(emu: Any, adapter: str, method: str):
    """common_prefix chats are idempotent (nothing is appended): the client itself retries
    500, 429 (honouring Retry-After) and dropped connections on the same shared context."""
    kit = make_kit(adapter, emu, mode="common_prefix")
    tag = f"cp-{adapter}-{method}-{next(_uid)}"
    system = W("system", f"Shared prompt {tag}.")
    try:
        first = await call(kit, method, [system, W("user", "warm up")], f"{tag}-0")
        meta = ok_result(emu, first, f"{tag}-0", [system, W("user", "warm up")])
        shared = meta["context_id"]
        for i, (kind, opts, sleeps) in enumerate(
            [
                ("status", {"status": 500}, _one_backoff),
                ("status", {"status": 429}, lambda s: s == [1.0]),
                ("drop", {}, _one_backoff),
            ]
        ):
            kit.slept.clear()
            emu.inject_fault("/context/chat/completions", kind, **opts)
            conv = [system, W("user", f"question {i} of {tag}")]
            res = await call(kit, method, conv, f"{tag}-{i + 1}")
            meta = ok_result(emu, res, f"{tag}-{i + 1}", conv)
            assert (meta["context_outcome"], meta["context_id"]) == ("reused", shared)
            assert sleeps(kit.slept), (kind, kit.slept)
            assert_no_leak(kit)
        # The shared context was never changed by the retries.
        assert_context_holds(emu, shared, [system])
    finally:
        await kit.aclose()


# -- helpers' own sanity ---------------------------------------------------------------------


async def test_leak_check_sees_an_unclosed_stream(emu: Any) -> None:
    """The pool check is not vacuous: a stream response left open is reported."""
    kit = make_kit("langchain", emu)
    try:
        with kit.http.stream(
            "POST",
            emu.base_url + "/chat/completions",
            json={"model": MODEL, "messages": [W("user", "hi")], "stream": True},
            headers={"Authorization": f"Bearer {KEY}"},
        ) as response:
            chunks = response.iter_bytes()  # keep it referenced: a dropped one closes
            next(chunks)
            busy, open_requests = pool_state(kit.http)
            assert busy and open_requests == 1
        assert pool_state(kit.http) == ([], 0)
    finally:
        await kit.aclose()


def test_every_adapter_entry_point_is_covered() -> None:
    names = {ENTRY_POINT[a, m] for a in ADAPTERS for m in METHODS}
    assert names == {
        "invoke",
        "ainvoke",
        "stream",
        "astream",
        "chat",
        "achat",
        "stream_chat",
        "astream_chat",
    }
    assert asyncio.iscoroutinefunction(call)


# -- a caller that stops reading a stream ------------------------------------------------------


async def _read_one_then_break(kit: Kit, method: str, conv: list[Any], rid: str) -> str:
    """Take the first chunk of a stream, then ``break`` (the iterator is just dropped)."""
    llm = kit.llm
    text = ""
    if kit.adapter == "langchain":
        msgs: list[Any] = to_langchain(conv)
        if method == "stream":
            for chunk in llm.stream(msgs, request_id=rid):
                text = chunk.content
                break
        else:
            async for chunk in llm.astream(msgs, request_id=rid):
                text = chunk.content
                break
        return text
    msgs = to_llama_index(conv)
    if method == "stream":
        for r in llm.stream_chat(msgs, request_id=rid):
            text = r.delta
            break
    else:
        async for r in await llm.astream_chat(msgs, request_id=rid):
            text = r.delta
            break
    return text


async def released(kit: Kit, loops: int = 50) -> int:
    """Loop iterations until both pools are free. A dropped sync generator is closed at
    once; a dropped async generator is closed by the event loop's async-generator
    finalizer a few iterations later (Python semantics, not a timer)."""
    for n in range(loops):
        if all(pool_state(c) == ([], 0) for c in (kit.http, kit.ahttp)):
            return n
        await asyncio.sleep(0)
    return loops


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", ["stream", "astream"])
async def test_abandoned_stream_frees_the_connection_and_is_never_reused(
    emu: Any, adapter: str, method: str
) -> None:
    kit = make_kit(adapter, emu)
    tag = f"abandon-{adapter}-{method}-{next(_uid)}"
    conv = [W("system", f"You are {tag}."), W("user", "first")]
    try:
        res = await call(kit, method, conv, f"{tag}-1")
        ok_result(emu, res, f"{tag}-1", conv)
        conv += [W("assistant", res.text), W("user", "second, read one chunk only")]
        first = await _read_one_then_break(kit, method, conv, f"{tag}-2")
        loops = await released(kit)
        assert loops == 0 if method == "stream" else loops < 50
        wait_idle(emu)
        assert_no_leak(kit)
        (rec,) = assert_served_exactly(emu, f"{tag}-2", conv)  # the server appended the turn
        assert rec["applied"] and rec["reply"].startswith(first)
        # The caller never got that reply: the same history again must not land on the
        # context that holds it.
        res = await call(kit, method, conv, f"{tag}-3")
        meta = ok_result(emu, res, f"{tag}-3", conv)
        assert (meta["context_outcome"], meta["context_miss_reason"]) == ("created", "failure")
        assert meta["context_id"] != rec["context_id"]
        assert_context_holds(emu, meta["context_id"], [*conv, W("assistant", res.text)])
        assert_no_leak(kit)
    finally:
        await kit.aclose()
