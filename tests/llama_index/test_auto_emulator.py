"""``ArkContextLLM`` at its default settings (``mode="auto"``) with LlamaIndex components,
against the emulator over loopback: which contexts each pattern makes."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import ChatMemoryBuffer

from ark_context.stores import InMemoryStore
from llama_index_ark_context import ArkContextLLM

pytestmark = pytest.mark.integration

SYSTEM = "You help gardeners plan their beds, watering and harvests. Answer briefly. " * 8


def llm(emu: Any) -> ArkContextLLM:
    return ArkContextLLM(
        model="ep-auto-li", api_key="k", base_url=emu.base_url, store=InMemoryStore()
    )


def made(emu: Any) -> list[str]:
    return [r["mode"] for r in emu.records("/context/create") if r.get("status") == 200]


def test_simple_chat_engine_makes_one_session_context(emu: Any) -> None:
    engine = SimpleChatEngine.from_defaults(llm=llm(emu), system_prompt=SYSTEM)
    for t in range(6):
        engine.chat(f"turn {t}: what should I plant next?")
    assert made(emu) == ["session"]
    served = [r for r in emu.records() if r.get("reply") is not None]
    on_context = [r["path"].endswith("/context/chat/completions") for r in served]
    assert on_context == [False] + [True] * 5  # turn 1 plain, then the session


def test_one_shot_calls_behind_one_system_prompt_share_one_context(emu: Any) -> None:
    model = llm(emu)
    decisions = []
    for i in range(5):
        out = model.chat(
            [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=f"q{i}")]
        )
        decisions.append(out.additional_kwargs["context_decision"])
    assert decisions == ["one_off"] + ["prefix_repeats"] * 4
    assert made(emu) == ["common_prefix"]


def test_a_token_limited_memory_never_makes_a_session_context_per_turn(emu: Any) -> None:
    model = llm(emu)
    engine = SimpleChatEngine.from_defaults(
        llm=model,
        system_prompt=SYSTEM,
        memory=ChatMemoryBuffer.from_defaults(token_limit=300, llm=model),
    )
    for t in range(14):
        engine.chat(f"turn {t}: and after that, which vegetables and when? " * 3)
    kinds = made(emu)
    assert kinds.count("session") <= 3, kinds  # only while the buffer still grew
    assert kinds.count("common_prefix") == 1, kinds
