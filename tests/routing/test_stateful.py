"""Stateful property test: random conversations, branches, edits, faults, expiry, restarts
and concurrency against the emulator over real HTTP. After every call, every completion the
model ran must have seen exactly the caller's conversation (the emulator's record)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ark_context import (
    ArkConnectionError,
    ArkContextClient,
    ArkError,
    ArkStreamError,
    AsyncArkContextClient,
    InMemoryStore,
)
from ark_context import wire_message as W
from ark_context.emulator import run_emulator
from ark_context.router import ContextRouter
from tests.invariant import assert_served_exactly, new_request_id

pytestmark = pytest.mark.integration

TTL = 3600
EXAMPLES = int(os.environ.get("ARK_STATEFUL_EXAMPLES", "200"))
_EMU: list = []

words = st.text(alphabet="abcdefghij klmn你好。,!?", min_size=1, max_size=30)
call_kinds = st.sampled_from(["chat", "achat", "stream", "astream"])
faults = st.sampled_from(
    [
        ("status", {"status": 500, "apply": False}),
        ("status", {"status": 500, "apply": True}),
        ("status", {"status": 502, "apply": True}),
        ("status", {"status": 429, "retry_after": 1}),
        ("status", {"status": 404, "code": "NotFound.Context"}),
        ("status", {"status": 403, "code": "OperationDenied.InvalidState"}),
        ("drop", {"apply": True}),
        ("drop", {"apply": False}),
    ]
)


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.emu = _EMU[0]
        self.emu.reset()
        self.clock = Clock()
        self.loop = asyncio.new_event_loop()
        self.convs: list[list[dict[str, str]]] = []
        self.calls = 0

    @initialize(mode=st.sampled_from(["session", "session", "common_prefix"]), system=st.booleans())
    def setup(self, mode: str, system: bool) -> None:
        async def no_sleep(_s: float) -> None:
            return None

        base = self.emu.base_url
        self.router = ContextRouter(
            model="ep-prop",
            api_key="prop-key-1234",
            base_url=base,
            mode=mode,
            ttl=TTL,
            store=InMemoryStore(clock=self.clock),
            client=ArkContextClient(api_key="prop-key-1234", base_url=base, sleep=lambda s: None),
            async_client=AsyncArkContextClient(
                api_key="prop-key-1234", base_url=base, sleep=no_sleep
            ),
            clock=self.clock,
            sleep=lambda s: None,
            async_sleep=no_sleep,
        )
        self.convs = [[W("system", "You are a test model.")] if system else []]

    def teardown(self) -> None:
        self.loop.close()

    # -- one call, checked ---------------------------------------------------------------

    def _call(self, conv: list[dict[str, str]], kind: str, abandon: bool = False) -> str | None:
        """Run one routed call of ``conv``; check the record; return the reply or None."""
        rid = new_request_id("prop")
        self.calls += 1
        try:
            if kind == "chat":
                text = self.router.chat(conv, request_id=rid).text
            elif kind == "achat":
                text = self.loop.run_until_complete(self.router.achat(conv, request_id=rid)).text
            elif kind == "stream":
                with self.router.stream(conv, request_id=rid) as s:
                    parts = []
                    for chunk in s:
                        parts.append(chunk.text)
                        if abandon:
                            break
                text = "".join(parts)
            else:

                async def go() -> str:
                    async with self.router.astream(conv, request_id=rid) as s:
                        parts = []
                        async for chunk in s:
                            parts.append(chunk.text)
                            if abandon:
                                break
                    return "".join(parts)

                text = self.loop.run_until_complete(go())
        except ArkError:
            assert_served_exactly(self.emu, rid, conv)
            return None
        assert_served_exactly(self.emu, rid, conv)
        return None if abandon else text

    def _pick(self, data: st.DataObject) -> int:
        return data.draw(st.integers(0, len(self.convs) - 1))

    # -- rules ---------------------------------------------------------------------------

    @rule(data=st.data(), text=words, kind=call_kinds)
    def append_turn(self, data: st.DataObject, text: str, kind: str) -> None:
        i = self._pick(data)
        conv = [*self.convs[i], W("user", text)]
        reply = self._call(conv, kind)
        assert reply is not None, "a call without an injected fault must succeed"
        self.convs[i] = [*conv, W("assistant", reply)]

    @precondition(lambda self: len(self.convs) < 5)
    @rule(data=st.data())
    def branch(self, data: st.DataObject) -> None:
        conv = self.convs[self._pick(data)]
        cut = data.draw(st.integers(0, len(conv)))
        self.convs.append(list(conv[:cut]))

    @rule(data=st.data())
    def edit_history(self, data: st.DataObject) -> None:
        i = self._pick(data)
        conv = self.convs[i]
        if conv:
            j = data.draw(st.integers(0, len(conv) - 1))
            m = dict(conv[j])
            m["content"] += " (edited)"
            self.convs[i] = [*conv[:j], m, *conv[j + 1 :]]

    @rule(data=st.data(), forge=st.booleans())
    def drop_or_forge_reply(self, data: st.DataObject, forge: bool) -> None:
        i = self._pick(data)
        conv = self.convs[i]
        if conv and conv[-1]["role"] == "assistant":
            self.convs[i] = [*conv[:-1], W("assistant", "forged reply")] if forge else conv[:-1]

    @rule(data=st.data(), kinds=st.tuples(call_kinds, call_kinds))
    def concurrent_calls(self, data: st.DataObject, kinds: tuple[str, str]) -> None:
        i = self._pick(data)
        convs = [[*self.convs[i], W("user", f"concurrent {k}")] for k in range(2)]
        replies: list[str | None] = [None, None]
        errors: list[BaseException] = []
        self.emu.inject_fault("/context/chat/completions", "latency", seconds=0.05)

        def run(k: int) -> None:
            loop = asyncio.new_event_loop()
            try:
                kind = kinds[k]
                if kind in ("achat", "astream"):  # each thread drives its own loop
                    rid = new_request_id("conc")
                    replies[k] = loop.run_until_complete(
                        self.router.achat(convs[k], request_id=rid)
                    ).text
                    assert_served_exactly(self.emu, rid, convs[k])
                else:
                    replies[k] = self._call(convs[k], kind)
            except BaseException as e:
                errors.append(e)
            finally:
                loop.close()

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert None not in replies
        self.convs[i] = [*convs[0], W("assistant", replies[0] or "")]
        if len(self.convs) < 6:
            self.convs.append([*convs[1], W("assistant", replies[1] or "")])

    @rule(server_only=st.booleans())
    def advance_clock_past_ttl(self, server_only: bool) -> None:
        self.emu.advance_clock(TTL + 5)
        if not server_only:
            self.clock.t += TTL + 5

    @rule()
    def restart_emulator(self) -> None:
        self.emu.forget_contexts()

    @rule(data=st.data(), fault=faults, text=words, kind=call_kinds)
    def injected_fault(self, data: st.DataObject, fault, text: str, kind: str) -> None:
        i = self._pick(data)
        kind_name, options = fault
        path = data.draw(st.sampled_from(["/context/chat/completions", "/context/create"]))
        self.emu.inject_fault(path, kind_name, **options)
        conv = [*self.convs[i], W("user", text)]
        reply = self._call(conv, kind)
        self.emu.clear_faults()
        if reply is not None:
            self.convs[i] = [*conv, W("assistant", reply)]

    @rule(
        data=st.data(), k=st.integers(0, 3), text=words, kind=st.sampled_from(["stream", "astream"])
    )
    def cut_stream(self, data: st.DataObject, k: int, text: str, kind: str) -> None:
        i = self._pick(data)
        self.emu.inject_fault("*", "cut_stream", after_chunks=k)
        conv = [*self.convs[i], W("user", text + " " + "word " * 12)]
        reply = self._call(conv, kind)
        self.emu.clear_faults()
        if reply is not None:  # the cut landed on a non-streaming request (none here) or bypass
            self.convs[i] = [*conv, W("assistant", reply)]

    @rule(data=st.data(), text=words, kind=st.sampled_from(["stream", "astream"]))
    def abandon_stream(self, data: st.DataObject, text: str, kind: str) -> None:
        i = self._pick(data)
        conv = [*self.convs[i], W("user", text + " " + "word " * 12)]
        self._call(conv, kind, abandon=True)

    @invariant()
    def no_in_progress_seen(self) -> None:
        busy = [
            r
            for r in self.emu.records()
            if r.get("error") == "OperationDenied.InvalidState" and r.get("fault") is None
        ]
        assert not busy, "a caller's request ran into InProgress"


@pytest.fixture(scope="module", autouse=True)
def _emulator():
    with run_emulator() as emu:
        _EMU.append(emu)
        yield
        _EMU.clear()


RouterMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRouterInvariant = RouterMachine.TestCase

# The error classes a faulted call may end in are all documented ArkError subclasses.
_ = (ArkConnectionError, ArkStreamError)
