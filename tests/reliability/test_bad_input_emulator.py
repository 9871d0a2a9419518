"""Bad input against the emulator, through both adapters' entry points, with the record
checked: a wrong API key (401), a prompt over the model window (400 OutofContextError), and
input errors that must never reach the server at all."""

from __future__ import annotations

import traceback
from typing import Any

import pytest
from langchain_core.exceptions import ContextOverflowError, ModelAuthenticationError
from langchain_core.messages import HumanMessage, ToolMessage

from ark_context import (
    ArkAuthenticationError,
    ArkConfigError,
    ArkContextOverflowError,
    ArkInputError,
)
from ark_context import wire_message as W
from ark_context.emulator import run_emulator
from tests.invariant import records_for
from tests.reliability.test_faults import (
    ADAPTERS,
    METHODS,
    Kit,
    Result,
    assert_context_holds,
    assert_no_leak,
    assert_typed,
    call,
    make_kit,
    ok_result,
)

pytestmark = pytest.mark.integration

GOOD_KEY = "good-key-3b8e10"
BAD_KEY = "bad-key-9c4d27"
WINDOW = 120  # tokens: small, so a long message overflows


@pytest.fixture(scope="module")
def strict_emulator():
    with run_emulator(api_keys=[GOOD_KEY], model_window=WINDOW) as emu:
        yield emu


@pytest.fixture
def strict(strict_emulator):
    strict_emulator.reset()
    yield strict_emulator
    strict_emulator.reset()


def long_text(words: int) -> str:
    return " ".join(f"w{i}" for i in range(words))


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
async def test_wrong_key_is_authentication_error_and_nothing_ran(
    strict: Any, adapter: str, method: str
) -> None:
    bad = make_kit(adapter, strict, key=BAD_KEY)
    conv = [W("system", "s"), W("user", "hello")]
    try:
        res = await call(bad, method, conv, "wrong-key")
        assert_typed(res.error, adapter, ArkAuthenticationError, ModelAuthenticationError)
        assert BAD_KEY not in "".join(traceback.format_exception(res.error))
        assert_no_leak(bad)
    finally:
        await bad.aclose()
    recs = strict.records()
    assert recs and all(r["status"] == 401 and r["error"] == "AuthenticationError" for r in recs)
    assert len(recs) == 1, "a 401 is never retried"
    assert strict.contexts() == [] and not recs[0]["applied"]  # (the seeding create)
    # The right key then works on the same conversation.
    good = make_kit(adapter, strict, key=GOOD_KEY)
    try:
        ok_result(strict, await call(good, method, conv, "right-key"), "right-key", conv)
    finally:
        await good.aclose()


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
async def test_prompt_over_the_window_is_the_overflow_error(
    strict: Any, adapter: str, method: str
) -> None:
    kit = make_kit(adapter, strict, key=GOOD_KEY)
    system = W("system", "Be brief.")
    try:
        # 1. A turn that fits creates the context.
        conv = [system, W("user", "hi")]
        res = await call(kit, method, conv, "fits")
        meta = ok_result(strict, res, "fits", conv)
        context_id = meta["context_id"]
        # 2. The next turn overflows the window on the reused context.
        conv += [W("assistant", res.text), W("user", long_text(WINDOW))]
        res = await call(kit, method, conv, "overflow")
        assert_typed(res.error, adapter, ArkContextOverflowError, ContextOverflowError)
        assert "truncation_strategy" in ArkContextOverflowError.__doc__  # says what to do
        (rec,) = records_for(strict, "overflow")
        assert (rec["status"], rec["error"], rec["applied"]) == (400, "OutofContextError", False)
        assert_no_leak(kit)
        # 3. A shorter follow-up works, on a new context seeded from the caller's history:
        # the refused context is never used again (the emulator's default rolling truncation
        # may already have dropped history from it while refusing the prompt).
        conv[-1] = W("user", "shorter")
        res = await call(kit, method, conv, "shorter")
        meta = ok_result(strict, res, "shorter", conv)
        assert meta["context_id"] != context_id
        assert (meta["context_outcome"], meta["context_miss_reason"]) == ("created", "failure")
        assert_context_holds(strict, meta["context_id"], [*conv, W("assistant", res.text)])
        # 4. A system prompt over the window fails at /context/create, also typed.
        huge = [W("system", long_text(2 * WINDOW)), W("user", "hi")]
        res = await call(kit, method, huge, "huge-prefix")
        assert_typed(res.error, adapter, ArkContextOverflowError, ContextOverflowError)
        created = [r for r in strict.records("/context/create") if r["status"] == 400]
        assert created and created[-1]["error"] == "OutofContextError"
        assert records_for(strict, "huge-prefix") == []  # no completion was attempted
    finally:
        await kit.aclose()


PRE_NETWORK = [
    ("empty", [], ArkInputError),
    ("last-assistant", [W("user", "q"), W("assistant", "a")], ArkInputError),
    ("lone-surrogate", [W("system", "s"), W("user", "x \ud800 y")], ArkInputError),
    ("tool-role", [W("user", "q"), {"role": "tool", "content": "42"}], ArkInputError),
]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
async def test_input_errors_never_reach_the_server(
    strict: Any, adapter: str, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARK_API_KEY", raising=False)
    kit = make_kit(adapter, strict, key=GOOD_KEY)
    try:
        for name, conv, error in PRE_NETWORK:
            if name == "tool-role" and adapter == "langchain":
                conv = [W("user", "q")]  # LangChain has a message class for it
                msgs = [HumanMessage("q"), ToolMessage("42", tool_call_id="t1")]
                res = await call_messages(kit, method, msgs)
            else:
                res = await call(kit, method, conv, f"pre-{name}")
            assert_typed(res.error, adapter, error, None)
        # A bad request id and a missing key are caught before sending too.
        res = await call(kit, method, [W("user", "q")], "bad\nid")
        assert_typed(res.error, adapter, ArkInputError, None)
        cls = type(kit.llm)
        nokey = cls(model="ep-x", base_url=strict.base_url, http_client=kit.http)
        res = await call(
            Kit(adapter, nokey, kit.http, kit.ahttp, []), method, [W("user", "q")], "no-key"
        )
        assert_typed(res.error, adapter, ArkConfigError, None)
        assert "ARK_API_KEY" in str(res.error)
    finally:
        await kit.aclose()
    assert strict.records() == [], "an input error reached the server"


async def call_messages(kit: Kit, method: str, msgs: list[Any]) -> Result:
    """Like ``call`` but with framework messages as they are (LangChain only)."""
    llm = kit.llm
    try:
        if method == "sync":
            llm.invoke(msgs)
        elif method == "async":
            await llm.ainvoke(msgs)
        elif method == "stream":
            list(llm.stream(msgs))
        else:
            [c async for c in llm.astream(msgs)]
    except Exception as exc:
        return Result(None, error=exc)
    return Result("")
