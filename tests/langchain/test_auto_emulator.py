"""``ChatArkContext`` at its default settings (``mode="auto"``) in the ways LangChain is used,
against the emulator over loopback: how many contexts each pattern makes, and of which kind.

Every transcript the model saw is compared with what LangChain passed to the model (its own
``on_chat_model_start`` callback), as multisets so that concurrent calls need no order.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    trim_messages,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from ark_context.stores import InMemoryStore
from langchain_ark_context import ChatArkContext

pytestmark = pytest.mark.integration

SYSTEM = "You classify support tickets for a parcel carrier. Be exact and brief. " * 8
ROLE = {"system": "system", "human": "user", "ai": "assistant"}


class Capture(BaseCallbackHandler):
    def __init__(self) -> None:
        self.transcripts: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        for batch in messages:
            self.transcripts.append(_key([(ROLE[m.type], m.text) for m in batch]))


def _key(pairs: list[tuple[str, str]]) -> str:
    return json.dumps(pairs)


def model(emu: Any, cap: Capture) -> ChatArkContext:
    return ChatArkContext(
        model="ep-auto-lc",
        api_key="k",
        base_url=emu.base_url,
        store=InMemoryStore(),
        callbacks=[cap],
    )


def assert_exact(emu: Any, cap: Capture) -> None:
    served = Counter(
        _key([(m["role"], m["content"]) for m in r["messages"]])
        for r in emu.records()
        if r.get("reply") is not None
    )
    assert served == Counter(cap.transcripts)


def made(emu: Any) -> list[str]:
    return [r["mode"] for r in emu.records("/context/create") if r.get("status") == 200]


def test_lcel_with_a_fixed_system_prompt_makes_one_shared_context(emu: Any) -> None:
    cap = Capture()
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{q}")])
    chain = prompt | model(emu, cap) | StrOutputParser()
    for i in range(6):
        chain.invoke({"q": f"ticket {i}: my parcel is late"})
    assert made(emu) == ["common_prefix"]
    assert_exact(emu, cap)


def test_batch_and_abatch_behind_one_new_prompt_make_one_context(emu: Any) -> None:
    cap = Capture()
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{q}")])
    chain = prompt | model(emu, cap) | StrOutputParser()
    chain.batch([{"q": f"ticket {i}"} for i in range(8)])
    asyncio.run(chain.abatch([{"q": f"async ticket {i}"} for i in range(8)]))
    assert made(emu) == ["common_prefix"]
    assert_exact(emu, cap)


def test_retrieved_text_in_the_system_message_makes_no_context(emu: Any) -> None:
    cap = Capture()
    llm = model(emu, cap)
    for i in range(6):
        system = SystemMessage(f"{SYSTEM}\nNotes: document {i} says {i * 7} days " * 3)
        out = llm.invoke([system, HumanMessage("how long?")])
        assert out.response_metadata["context_miss_reason"] == "one_off"
        assert out.response_metadata["context_decision"] == "one_off"
    assert made(emu) == []
    assert_exact(emu, cap)


def test_a_chat_that_only_appends_makes_one_session_context(emu: Any) -> None:
    cap = Capture()
    prompt = ChatPromptTemplate.from_messages(
        [("system", SYSTEM), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    store: dict[str, InMemoryChatMessageHistory] = {}
    chat = RunnableWithMessageHistory(
        prompt | model(emu, cap),
        lambda sid: store.setdefault(sid, InMemoryChatMessageHistory()),
        input_messages_key="input",
        history_messages_key="history",
    )
    cfg: Any = {"configurable": {"session_id": "s1"}}
    outcomes = [
        chat.invoke({"input": f"turn {t}"}, cfg).response_metadata["context_outcome"]
        for t in range(8)
    ]
    assert outcomes == ["bypassed", "created"] + ["reused"] * 6
    assert made(emu) == ["session"]
    assert_exact(emu, cap)


def test_trim_messages_never_makes_a_session_context_per_call(emu: Any) -> None:
    cap = Capture()
    trimmer = trim_messages(
        max_tokens=5, strategy="last", token_counter=len, include_system=True, start_on="human"
    )
    chain = trimmer | model(emu, cap)
    history: list[BaseMessage] = [SystemMessage(SYSTEM)]
    for t in range(16):
        history.append(HumanMessage(f"turn {t}"))
        history.append(AIMessage(chain.invoke(history).content))
    kinds = Counter(made(emu))
    assert kinds["session"] <= 2, kinds  # at most before the window starts to slide
    assert kinds["common_prefix"] == 1, kinds  # the system prompt is still cached
    assert_exact(emu, cap)
