"""The frameworks' own usage callbacks add up to what Ark billed (the emulator's record):
a 10-turn chat plus 5 batched one-off calls, through LangChain's
``get_usage_metadata_callback`` and LlamaIndex's ``TokenCountingHandler`` +
``CachedTokenCounter``. Ark bills completions (full-price and cached input, output) and
every ``/context/create`` (its prompt tokens at the full input price)."""

from __future__ import annotations

from typing import Any

import pytest

from ark_context.costs import BilledUsage, Prices
from ark_context.stores import InMemoryStore

pytestmark = pytest.mark.integration

MODEL = "ep-billed"
KEY = "billed-key"
SYSTEM = "You are a patient tutor. " + "Explain each step, name the rule you used. " * 12
PRICES = Prices(input=0.8, output=2.0, cached_ratio=0.2)


def emulator_bill(emu: Any) -> BilledUsage:
    total = BilledUsage(calls=0)
    for r in emu.records():
        usage = r.get("usage") or {}
        if r.get("path", "").endswith("/context/create"):
            total += BilledUsage(creation=usage.get("prompt_tokens", 0), calls=0)
        elif r.get("reply") is not None:
            cached = usage["prompt_tokens_details"]["cached_tokens"]
            total += BilledUsage(
                usage["prompt_tokens"] - cached, cached, 0, usage["completion_tokens"]
            )
    return total


def assert_within_2pct(got: BilledUsage, want: BilledUsage) -> None:
    for name in ("full_price_input", "cached_input", "creation", "output", "input_tokens"):
        g, w = getattr(got, name), getattr(want, name)
        assert abs(g - w) <= 0.02 * max(w, 1), f"{name}: callbacks {g}, billed {w}"
    assert got.cost_cny(PRICES) == pytest.approx(want.cost_cny(PRICES), rel=0.02)


def test_langchain_usage_callback_adds_up_to_the_bill(emu: Any) -> None:
    from langchain_core.callbacks import get_usage_metadata_callback
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    from langchain_ark_context import ChatArkContext

    llm = ChatArkContext(
        model=MODEL, api_key=KEY, base_url=emu.base_url, store=InMemoryStore(), mode="session"
    )
    with get_usage_metadata_callback() as cb:
        history: list[Any] = [SystemMessage(SYSTEM)]
        for turn in range(10):
            history.append(HumanMessage(f"Question {turn}: why does step {turn} hold?"))
            history.append(AIMessage(llm.invoke(history).content))
        llm.batch([[SystemMessage(SYSTEM), HumanMessage(f"One-off {i}")] for i in range(5)])
    want = emulator_bill(emu)
    assert want.creation > 0 and want.cached_input > 0
    got = BilledUsage.from_mapping(cb.usage_metadata[MODEL])
    assert_within_2pct(got, want)


async def test_llama_index_token_counting_adds_up_to_the_bill(emu: Any) -> None:
    from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
    from llama_index.core.llms import ChatMessage

    from llama_index_ark_context import ArkContextLLM, CachedTokenCounter

    tokens = TokenCountingHandler(tokenizer=list)  # character counts unless usage is read
    llm = ArkContextLLM(
        model=MODEL,
        api_key=KEY,
        base_url=emu.base_url,
        store=InMemoryStore(),
        mode="session",
        callback_manager=CallbackManager([tokens]),
    )
    with CachedTokenCounter() as counter:
        history = [ChatMessage(role="system", content=SYSTEM)]
        for turn in range(10):
            history.append(ChatMessage(role="user", content=f"Question {turn}: and step {turn}?"))
            if turn % 2:  # streams and plain calls alike
                chunks = [c async for c in await llm.astream_chat(history)]
                reply = chunks[-1].message.content
            else:
                reply = (await llm.achat(history)).message.content
            history.append(ChatMessage(role="assistant", content=reply))
        for i in range(5):
            llm.chat([ChatMessage(role="system", content=SYSTEM), ChatMessage(content=f"One {i}")])
    want = emulator_bill(emu)
    assert want.creation > 0 and want.cached_input > 0
    assert tokens.prompt_llm_token_count == pytest.approx(want.input_tokens, rel=0.02)
    assert tokens.completion_llm_token_count == pytest.approx(want.output, rel=0.02)
    assert_within_2pct(counter.billed, want)
    assert counter.cost_cny(PRICES) == pytest.approx(want.cost_cny(PRICES), rel=0.02)
