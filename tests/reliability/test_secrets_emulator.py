"""Secrets during real calls against the emulator (loopback sockets, real httpx/httpcore):

* DEBUG logs of every logger (httpx, httpcore, ark_context, LangChain, LlamaIndex, asyncio,
  ...) while both adapters' entry points run, including failures where the server echoes
  the key in its error message and client-level retries that log at DEBUG;
* LangChain run traces (a ``BaseTracer`` subclass that keeps every run, and
  ``collect_runs``): serialized model, inputs, outputs, invocation params, errors;
* LlamaIndex instrumentation events (with ``to_payload``) and callback payloads
  (``to_dict``), including a failed call;
* the stores (memory, SQLite files including the WAL, Redis keys and values) hold no
  message text and no key;
* the same conversation under two API keys gets two contexts.

Every call is also checked against the emulator's record.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.context import collect_runs
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler

from ark_context import InMemoryStore
from ark_context import wire_message as W
from ark_context._messages import key_fingerprint
from ark_context.stores import RedisStore, SQLiteStore
from tests.invariant import assert_served_exactly
from tests.reliability.test_faults import (
    ADAPTERS,
    METHODS,
    call,
    make_kit,
    ok_result,
)

pytestmark = pytest.mark.integration

KEY = "sk-SECRET-integ-1c0ffee5a7b9"
OTHER_KEY = "sk-SECRET-other-8d77e2c410f3"


def assert_clean(text: str, where: str) -> None:
    for secret in (KEY, OTHER_KEY):
        i = text.find(secret)
        assert i < 0, f"the API key leaked into {where}: ...{text[max(0, i - 300) : i + 40]}"


# -- logs ---------------------------------------------------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.names: set[str] = set()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s | args=%(args)r"))

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.lines.append(self.format(record))  # includes a formatted exc_info, if any


@pytest.fixture
def debug_logs() -> Iterator[Capture]:
    """Every logger at DEBUG, each with the capturing handler (propagating or not)."""
    cap = Capture()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if not isinstance(logging.root.manager.loggerDict[name], logging.PlaceHolder)
    ]
    for name in ("httpx", "httpcore", "ark_context", "langchain_core", "llama_index"):
        loggers.append(logging.getLogger(name))
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(cap)
    yield cap
    for lg, level in saved:
        lg.setLevel(level)
        lg.removeHandler(cap)


@pytest.mark.parametrize("adapter", ADAPTERS)
async def test_debug_logs_never_hold_the_key(emu: Any, adapter: str, debug_logs: Capture):
    kit = make_kit(adapter, emu, key=KEY)
    echo = f"the key {KEY} is not valid"
    errors: list[BaseException] = []
    try:
        for i, method in enumerate(METHODS):
            conv = [W("system", f"log test {adapter} {i}"), W("user", "hello")]
            # The seeding create fails twice (echoing the key): the client retries it and
            # logs each retry at DEBUG; then the chat works.
            emu.inject_fault("/context/create", "status", status=500, message=echo, times=2)
            res = await call(kit, method, conv, f"log-{adapter}-{method}")
            ok_result(emu, res, f"log-{adapter}-{method}", conv)
            # A 401 whose message echoes the key: raised, formatted, logged by the caller.
            emu.inject_fault("/context/chat/completions", "status", status=401, message=echo)
            conv += [W("assistant", res.text), W("user", "again")]
            res = await call(kit, method, conv, f"log401-{adapter}-{method}")
            assert res.error is not None
            errors.append(res.error)
            logging.getLogger("app").exception("call failed", exc_info=res.error)
    finally:
        await kit.aclose()
    assert {"httpx", "httpcore.http11", "httpcore.connection", "ark_context"} <= debug_logs.names
    assert any("retry" in line and "***" in line for line in debug_logs.lines)
    assert any("send_request_headers" in line for line in debug_logs.lines)
    assert_clean("\n".join(debug_logs.lines), "the DEBUG logs")
    for err in errors:
        assert_clean("".join(traceback.format_exception(err)), "a traceback")


# -- traces and events --------------------------------------------------------------------------


class KeepRuns(BaseTracer):
    """A tracer that keeps every finished run (with its child runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Any] = []

    def _persist_run(self, run: Any) -> None:
        self.runs.append(run)

    def _end_trace(self, run: Any) -> None:
        super()._end_trace(run)
        self.runs.append(run)


def _dump_runs(runs: list[Any]) -> str:
    return json.dumps([r.model_dump() for r in runs], default=repr)


async def test_langchain_traces_never_hold_the_key(emu: Any) -> None:
    kit = make_kit("langchain", emu, key=KEY)
    tracer = KeepRuns()
    conv = [W("system", "trace test"), W("user", "hello")]
    try:
        with collect_runs() as collected:
            for method in METHODS:
                rid = f"trace-{method}"
                kit.llm = kit.llm.with_config(callbacks=[tracer]) if method == "sync" else kit.llm
                res = await call(kit, method, conv, rid)
                ok_result(emu, res, rid, conv)
            emu.inject_fault("/context/create", "status", status=401, message=f"bad {KEY}")
            res = await call(kit, "sync", [W("system", "other"), W("user", "x")], "trace-err")
            assert res.error is not None
    finally:
        await kit.aclose()
    runs = collected.traced_runs + tracer.runs
    assert len(collected.traced_runs) == 5 and any(r.error for r in runs)
    text = _dump_runs(runs)
    assert "ARK_API_KEY" in text  # the serialized model names the secret, not its value
    assert "trace test" in text  # the trace really holds the inputs
    assert_clean(text, "LangChain run traces")


class KeepEvents(BaseEventHandler):
    events: list[Any] = []

    @classmethod
    def class_name(cls) -> str:
        return "KeepEvents"

    def handle(self, event: Any, **kwargs: Any) -> None:
        self.events.append(event)


async def test_llama_index_events_and_payloads_never_hold_the_key(emu: Any) -> None:
    kit = make_kit("llama_index", emu, key=KEY)
    debug = LlamaDebugHandler()
    kit.llm.callback_manager = CallbackManager([debug])
    handler = KeepEvents(events=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    conv = [W("system", "event test"), W("user", "hello")]
    try:
        for method in METHODS:
            rid = f"event-{method}"
            ok_result(emu, await call(kit, method, conv, rid), rid, conv)
        emu.inject_fault("/context/create", "status", status=401, message=f"bad {KEY}")
        res = await call(kit, "sync", [W("system", "other"), W("user", "x")], "event-err")
        assert res.error is not None
    finally:
        dispatcher.event_handlers.remove(handler)
        await kit.aclose()
    events = json.dumps([e.model_dump() for e in handler.events], default=repr)
    payloads = json.dumps(
        [(p.payload) for pair in debug.get_event_pairs() for p in pair], default=repr
    )
    assert "ArkContextLLM" in events and "event test" in events
    assert debug.get_event_pairs() and "ArkContextLLM" in payloads
    assert_clean(events, "LlamaIndex instrumentation events")
    assert_clean(payloads, "LlamaIndex callback payloads")
    for text in (kit.llm.to_json(), json.dumps(kit.llm.to_dict()), repr(kit.llm.to_payload())):
        assert_clean(text, "LlamaIndex serialisation")


# -- stores -------------------------------------------------------------------------------------


def _conversation_through(emu: Any, store: Any, adapter: str) -> tuple[list[str], str]:
    """Three turns through ``adapter``; returns (message texts, last context id)."""
    import asyncio

    tag = uuid.uuid4().hex[:8]
    kit = make_kit(adapter, emu, key=KEY, store=store)
    conv = [W("system", f"Confidential system prompt {tag} about project Nightingale.")]
    context_id = ""

    async def run() -> None:
        nonlocal context_id
        try:
            for turn in range(3):
                conv.append(W("user", f"private question {turn} {tag}: my salary is 98765"))
                rid = f"store-{tag}-{turn}"
                res = await call(kit, "async", conv, rid)
                meta = ok_result(emu, res, rid, conv)
                context_id = meta["context_id"]
                conv.append(W("assistant", res.text))
        finally:
            await kit.aclose()

    asyncio.run(run())
    return [m["content"] for m in conv], context_id


def _assert_no_text(blob: bytes, texts: list[str], context_id: str, where: str) -> None:
    assert context_id.encode() in blob, f"{where}: the store is empty (vacuous check)"
    fragments = {"Nightingale", "98765", "private question", "Confidential"}
    for text in texts:
        fragments.update(p for p in text.split() if len(p) >= 8)
    for frag in fragments:
        assert frag.encode() not in blob, f"{where} holds message text: {frag!r}"
    for secret in (KEY, key_fingerprint(KEY).hex()):
        assert secret.encode() not in blob, f"{where} holds the key or its fingerprint"
    assert key_fingerprint(KEY) not in blob


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_memory_store_holds_no_text(emu: Any, adapter: str) -> None:
    store = InMemoryStore()
    texts, context_id = _conversation_through(emu, store, adapter)
    blob = b"".join(k + v for k, v in store._data.items())
    blob += b"".join(k + v for k, v in store._evicted.items())
    _assert_no_text(blob, texts, context_id, "InMemoryStore")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sqlite_store_holds_no_text(emu: Any, adapter: str, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "contexts.db")
    texts, context_id = _conversation_through(emu, store, adapter)
    files = sorted(tmp_path.iterdir())
    assert any(f.name.endswith("-wal") for f in files)  # the WAL is scanned too
    blob = b"".join(f.read_bytes() for f in files)
    store.close()
    _assert_no_text(blob, texts, context_id, "SQLiteStore files")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_redis_store_holds_no_text(emu: Any, adapter: str, redis_server: Any) -> None:
    import redis

    prefix = f"sec-{uuid.uuid4().hex[:6]}:"
    store = RedisStore(redis_server.url, prefix=prefix)
    texts, context_id = _conversation_through(emu, store, adapter)
    client = redis.Redis.from_url(redis_server.url)
    keys = list(client.scan_iter(match=prefix + "*"))
    assert keys
    blob = b"".join(k + (client.get(k) or b"") for k in keys)
    client.close()
    store.close()
    _assert_no_text(blob, texts, context_id, "RedisStore keys and values")


# -- tenants ------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
async def test_two_api_keys_never_share_a_context(emu: Any, adapter: str) -> None:
    store = InMemoryStore()  # one store for both tenants: only the key separates them
    a = make_kit(adapter, emu, key=KEY, store=store)
    b = make_kit(adapter, emu, key=OTHER_KEY, store=store)
    conv = [W("system", "Shared words."), W("user", "The same question.")]
    try:
        ra = await call(a, "sync", conv, "tenant-a")
        rb = await call(b, "sync", conv, "tenant-b")
        ma, mb = ok_result(emu, ra, "tenant-a", conv), ok_result(emu, rb, "tenant-b", conv)
        assert ma["context_outcome"] == mb["context_outcome"] == "created"
        assert ma["context_id"] != mb["context_id"]
        # Each tenant continues on its own context.
        for kit, res, rid, meta in ((a, ra, "tenant-a2", ma), (b, rb, "tenant-b2", mb)):
            nxt = [*conv, W("assistant", res.text), W("user", "next")]
            m2 = ok_result(emu, await call(kit, "sync", nxt, rid), rid, nxt)
            assert (m2["context_outcome"], m2["context_id"]) == ("reused", meta["context_id"])
            assert_served_exactly(emu, rid, nxt)
    finally:
        await a.aclose()
        await b.aclose()
    assert len([r for r in emu.records("/context/create") if r["status"] == 200]) == 2
