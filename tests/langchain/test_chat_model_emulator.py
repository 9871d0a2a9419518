"""ChatArkContext in LangChain's usual compositions, against the emulator on 127.0.0.1.

Every test checks the emulator's record of what the "model" saw (the effective prompt of
each completion), not only the values LangChain returns."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAuthenticationError,
    ModelRateLimitError,
)
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from ark_context import (
    ArkAuthenticationError,
    ArkContextOverflowError,
    ArkRateLimitError,
    InMemoryStore,
)
from ark_context.emulator import Emulator, run_emulator
from langchain_ark_context import ChatArkContext

pytestmark = pytest.mark.integration

MODEL = "ep-lc-it"
ROLE = {"system": "system", "human": "user", "ai": "assistant", "AIMessageChunk": "assistant"}


def make(emu: Emulator, **kw: Any) -> ChatArkContext:
    """A model with its own store, so tests never share recorded contexts."""
    params: dict[str, Any] = {
        "model": MODEL,
        "api_key": "it-key",
        "base_url": emu.base_url,
        "mode": "session",  # these tests are about session contexts
        "store": InMemoryStore(),
    }
    params.update(kw)
    return ChatArkContext(**params)


def wire(history: Sequence[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": ROLE[m.type], "content": m.text} for m in history]


def join(chunks: Sequence[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    return full


def usage_totals(emu: Emulator) -> dict[str, int]:
    """What the emulator billed: completions plus context creations (full price)."""
    out = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "cache_read": 0}
    for r in emu.completions():
        u = r["usage"]
        out["input_tokens"] += u["prompt_tokens"]
        out["output_tokens"] += u["completion_tokens"]
        out["total_tokens"] += u["total_tokens"]
        out["cache_read"] += u["prompt_tokens_details"]["cached_tokens"]
    created = sum(r["usage"]["prompt_tokens"] for r in emu.records("/context/create"))
    out["cache_creation"] = created
    out["input_tokens"] += created
    out["total_tokens"] += created
    return out


# -- the invariant through every entry point ---------------------------------------------------


async def test_every_call_sees_exactly_the_conversation(emu: Emulator) -> None:
    llm = make(emu)
    history: list[BaseMessage] = [SystemMessage("You are terse."), HumanMessage("Hi there")]
    calls = ["invoke", "stream", "ainvoke", "astream", "invoke"]
    for i, how in enumerate(calls):
        if how == "invoke":
            reply: Any = llm.invoke(history)
        elif how == "ainvoke":
            reply = await llm.ainvoke(history)
        elif how == "stream":
            reply = join(list(llm.stream(history)))
        else:
            reply = join([c async for c in llm.astream(history)])
        rec = emu.completions()[-1]
        assert rec["messages"] == wire(history), how
        assert reply.content == rec["reply"]
        assert reply.response_metadata["context_id"] == rec["context_id"]
        created = reply.response_metadata["context_create_tokens"]
        assert created == (
            emu.records("/context/create")[-1]["usage"]["prompt_tokens"] if i == 0 else 0
        )
        assert reply.usage_metadata["input_tokens"] == rec["usage"]["prompt_tokens"] + created
        assert reply.usage_metadata["input_token_details"].get("cache_creation", 0) == created
        cached = rec["usage"]["prompt_tokens_details"]["cached_tokens"]
        assert reply.usage_metadata["input_token_details"]["cache_read"] == cached
        if i:
            assert reply.response_metadata["context_outcome"] == "reused", how
            assert rec["sent"] == wire(history[-1:])
        history += [AIMessage(reply.content), HumanMessage(f"Follow-up {i}")]
    assert len(emu.records("/context/create")) == 1


def test_stream_chunks_usage_once_and_usage_off(emu: Emulator) -> None:
    llm = make(emu)
    history = [SystemMessage("Stream please."), HumanMessage("Tell me a long story " * 5)]
    chunks = list(llm.stream(history))
    assert len(chunks) > 3
    assert [c for c in chunks if c.usage_metadata and c.usage_metadata["input_tokens"]] == [
        chunks[-1]
    ]
    assert chunks[-1].chunk_position == "last"
    rec = emu.completions()[-1]
    assert rec["stream"] is True
    assert "".join(str(c.content) for c in chunks) == rec["reply"]
    assert chunks[-1].usage_metadata is not None
    created = chunks[-1].response_metadata["context_create_tokens"]
    assert created == emu.records("/context/create")[-1]["usage"]["prompt_tokens"] > 0
    assert chunks[-1].usage_metadata["total_tokens"] == rec["usage"]["total_tokens"] + created

    quiet = list(make(emu, stream_usage=False).stream([HumanMessage("No usage, please.")]))
    assert all(not c.usage_metadata for c in quiet)
    assert "".join(str(c.content) for c in quiet) == emu.completions()[-1]["reply"]


# -- compositions -------------------------------------------------------------------------------


def test_lcel_chain(emu: Emulator) -> None:
    llm = make(emu, mode="common_prefix")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are {persona}."), ("human", "{question}")]
    )
    chain = prompt | llm | StrOutputParser()
    out = chain.invoke({"persona": "a terse tutor", "question": "What is 2 + 2?"})
    assert isinstance(out, str)
    rec = emu.completions()[-1]
    assert out == rec["reply"]
    assert rec["messages"] == [
        {"role": "system", "content": "You are a terse tutor."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    streamed = "".join(chain.stream({"persona": "a terse tutor", "question": "And 3 + 3?"}))
    rec = emu.completions()[-1]
    assert streamed == rec["reply"]
    assert rec["sent"] == [{"role": "user", "content": "And 3 + 3?"}]
    assert rec["from_context"] == 1
    assert len(emu.records("/context/create")) == 1


def test_message_history_20_turns_one_context_flat_requests(emu: Emulator) -> None:
    llm = make(emu)
    histories: dict[str, InMemoryChatMessageHistory] = {}
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a patient tutor. Keep every answer short."),
            MessagesPlaceholder("history"),
            ("human", "{input}"),
        ]
    )
    chain = RunnableWithMessageHistory(
        prompt | llm,
        lambda sid: histories.setdefault(sid, InMemoryChatMessageHistory()),
        input_messages_key="input",
        history_messages_key="history",
    )
    cfg: Any = {"configurable": {"session_id": "s1"}}
    replies = [chain.invoke({"input": f"Question number {t:02d}?"}, config=cfg) for t in range(20)]

    assert len(emu.records("/context/create")) == 1
    recs = emu.completions()
    assert len(recs) == 20
    system = {"role": "system", "content": "You are a patient tutor. Keep every answer short."}
    stored = histories["s1"].messages
    assert len(stored) == 40
    for t, (rec, reply) in enumerate(zip(recs, replies, strict=True)):
        # The server saw the whole conversation, but only the new turn went over the wire.
        assert rec["messages"] == [system, *wire(stored[: 2 * t + 1])]
        assert rec["sent"] == [{"role": "user", "content": f"Question number {t:02d}?"}]
        assert reply.content == rec["reply"]
        expected = "created" if t == 0 else "reused"
        assert reply.response_metadata["context_outcome"] == expected
    cache_reads = [r.usage_metadata["input_token_details"]["cache_read"] for r in replies]
    assert all(b > a for a, b in itertools.pairwise(cache_reads))
    sizes = [r.response_metadata["request_bytes"] for r in replies]
    assert max(sizes) - min(sizes) <= 8, sizes  # flat: no history resent


def test_batch_and_abatch(emu: Emulator) -> None:
    llm = make(emu)
    convs = [[SystemMessage("Batch."), HumanMessage(f"Item {i}")] for i in range(3)]
    results = llm.batch(convs)
    by_prompt = {str(r["messages"]): r["reply"] for r in emu.completions()}
    assert [m.content for m in results] == [by_prompt[str(wire(c))] for c in convs]

    async def run() -> list[BaseMessage]:
        return await llm.abatch(
            [
                [*c, AIMessage(r.content), HumanMessage("More")]
                for c, r in zip(convs, results, strict=True)
            ]
        )

    again = asyncio.run(run())
    recs = emu.completions()[3:]
    assert len(recs) == 3
    assert sorted(r["reply"] for r in recs) == sorted(m.content for m in again)
    assert all(m.response_metadata["context_outcome"] == "reused" for m in again)
    assert all(len(r["sent"]) == 1 for r in recs)


async def test_astream_events(emu: Emulator) -> None:
    llm = make(emu)
    history = [SystemMessage("Events."), HumanMessage("Say something long " * 4)]
    events = [e async for e in llm.astream_events(history, version="v2")]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "on_chat_model_start" and kinds[-1] == "on_chat_model_end"
    chunks = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    assert len(chunks) > 3
    rec = emu.completions()[-1]
    assert "".join(str(c.content) for c in chunks) == rec["reply"]
    output = events[-1]["data"]["output"]
    created = emu.records("/context/create")[-1]["usage"]["prompt_tokens"]
    assert output.usage_metadata["input_tokens"] == rec["usage"]["prompt_tokens"] + created
    assert output.response_metadata["model_name"] == MODEL
    assert rec["messages"] == wire(history)


def test_langgraph_chat_node(emu: Emulator) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, MessagesState, StateGraph

    llm = make(emu)

    def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("chat", chat)
    graph.add_edge(START, "chat")
    graph.add_edge("chat", END)
    app = graph.compile(checkpointer=InMemorySaver())
    cfg: Any = {"configurable": {"thread_id": "t1"}}

    out = app.invoke({"messages": [SystemMessage("Graph bot."), HumanMessage("Hi")]}, cfg)
    for t in range(3):
        out = app.invoke({"messages": [HumanMessage(f"Turn {t}")]}, cfg)
    recs = emu.completions()
    assert len(recs) == 4
    assert len(emu.records("/context/create")) == 1
    assert recs[-1]["messages"] == wire(out["messages"][:-1])
    assert out["messages"][-1].content == recs[-1]["reply"]
    assert all(len(r["sent"]) == 1 for r in recs[1:])

    # stream_mode="messages" streams the node's tokens through on_llm_new_token.
    tokens = [
        chunk.content
        for chunk, _meta in app.stream(
            {"messages": [HumanMessage("Stream it")]}, cfg, stream_mode="messages"
        )
        if isinstance(chunk, AIMessageChunk)
    ]
    rec = emu.completions()[-1]
    assert rec["stream"] is True
    assert len(tokens) > 2
    assert "".join(tokens) == rec["reply"]
    assert len(rec["sent"]) == 1


def test_usage_callback_matches_the_emulator(emu: Emulator) -> None:
    llm = make(emu)
    history = [SystemMessage("Count."), HumanMessage("One")]
    with get_usage_metadata_callback() as cb:
        first = llm.invoke(history)
        list(llm.stream([*history, AIMessage(first.content), HumanMessage("Two")]))
    totals = usage_totals(emu)
    assert totals["cache_read"] > 0 and totals["cache_creation"] > 0
    assert cb.usage_metadata == {
        MODEL: {
            "input_tokens": totals["input_tokens"],
            "output_tokens": totals["output_tokens"],
            "total_tokens": totals["total_tokens"],
            "input_token_details": {
                "cache_read": totals["cache_read"],
                "cache_creation": totals["cache_creation"],
            },
        }
    }


# -- errors ---------------------------------------------------------------------------------------


def test_errors_surface_as_langchain_types(emu: Emulator) -> None:
    llm = make(emu, max_retries=0)
    history = [SystemMessage("Errors."), HumanMessage("Hi")]
    # max_retries=0: neither the client nor the router retries, so one 429 reaches the caller.
    emu.inject_fault("/context/chat/completions", "status", status=429, retry_after=0)
    with pytest.raises(ModelRateLimitError) as info:
        llm.invoke(history)
    assert isinstance(info.value, ArkRateLimitError)
    assert isinstance(info.value.__cause__, ArkRateLimitError)

    emu.inject_fault("/context/chat/completions", "status", status=400, code="OutofContextError")
    with pytest.raises(ContextOverflowError) as overflow:
        llm.invoke(history)
    assert isinstance(overflow.value, ArkContextOverflowError)

    # After the errors the conversation still works, and the server saw exactly it.
    msg = llm.invoke(history)
    assert emu.completions()[-1]["messages"] == wire(history)
    assert msg.content == emu.completions()[-1]["reply"]


def test_wrong_key_is_an_authentication_error() -> None:
    with run_emulator(api_keys=["right-key"]) as emu:
        llm = make(emu, api_key="wrong-key-123456")
        with pytest.raises(ModelAuthenticationError) as info:
            llm.invoke([HumanMessage("Hi")])
        assert isinstance(info.value, ArkAuthenticationError)
        assert "wrong-key-123456" not in str(info.value)
        assert make(emu, api_key="right-key").invoke([HumanMessage("Hi")]).content


@pytest.mark.parametrize("choice", [None, "auto", "none"])
def test_an_empty_tool_list_is_no_tools(emu: Emulator, choice: str | None) -> None:
    """``bind_tools([])`` (a dynamic tool list that came out empty) offers the model no
    tool, so the chat caches as without tools instead of going plain (reason ``tools``)."""
    llm = make(emu).bind_tools([], tool_choice=choice, parallel_tool_calls=False)
    history: list[BaseMessage] = [SystemMessage("Be brief.")]
    outcomes = []
    for q in ("a", "b", "c"):
        history.append(HumanMessage(q))
        reply = llm.invoke(history)
        history.append(reply)
        outcomes.append(reply.response_metadata["context_outcome"])
    assert outcomes == ["created", "reused", "reused"]
    assert [r["messages"] for r in emu.completions()][-1] == wire(history[:-1])
