"""ArkContextLLM inside real LlamaIndex engines, against the emulator over loopback.

Every test checks the emulator's record of what the server saw: which context each
completion used, the exact effective prompt, and the token counts the LLM reported.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from llama_index.core import Document, MockEmbedding, Settings, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)
from llama_index.core.llms import ChatMessage

from ark_context.emulator import run_emulator
from ark_context.stores import InMemoryStore
from llama_index_ark_context import ArkContextLLM, CachedTokenCounter
from llama_index_ark_context.base import to_wire_messages

pytestmark = pytest.mark.integration

MODEL = "ep-llama-it"
KEY = "it-secret-key-5f2a"

DOCS = [
    "Paris is the capital of France. The Eiffel Tower was finished in 1889.",
    "Mount Everest is the tallest mountain above sea level, at 8,849 metres.",
    "The Nile and the Amazon are the two longest rivers in the world.",
]


def make_llm(emu: Any, **kw: Any) -> ArkContextLLM:
    kw.setdefault("store", InMemoryStore())
    return ArkContextLLM(model=MODEL, api_key=KEY, base_url=emu.base_url, **kw)


@pytest.fixture
def settings() -> Iterator[type[Settings]]:
    saved = (Settings._llm, Settings._embed_model, Settings._callback_manager)
    Settings.embed_model = MockEmbedding(embed_dim=8)
    yield Settings
    Settings._llm, Settings._embed_model, Settings._callback_manager = saved


class LLMEvents(BaseEventHandler):
    """Counts LLM start/end events and keeps the messages each chat was called with."""

    counts: dict[str, int] = {}
    chat_inputs: list[list[ChatMessage]] = []

    @classmethod
    def class_name(cls) -> str:
        return "LLMEvents"

    def handle(self, event: Any, **kwargs: Any) -> None:
        kinds = (LLMChatStartEvent, LLMChatEndEvent, LLMCompletionStartEvent, LLMCompletionEndEvent)
        if isinstance(event, kinds):
            name = type(event).__name__
            self.counts[name] = self.counts.get(name, 0) + 1
        if isinstance(event, LLMChatStartEvent):
            self.chat_inputs.append(list(event.messages))


@pytest.fixture
def events() -> Iterator[LLMEvents]:
    handler = LLMEvents(counts={}, chat_inputs=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers = [h for h in root.event_handlers if h is not handler]


def same_transcripts(
    chat_inputs: Sequence[Sequence[ChatMessage]], records: Sequence[Mapping[str, Any]]
) -> None:
    """The invariant: the server's effective prompt is exactly the conversation passed."""
    assert len(chat_inputs) == len(records)
    for msgs, rec in zip(chat_inputs, records, strict=True):
        assert rec["messages"] == to_wire_messages(msgs)


def build_index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])


# -- query engines: common_prefix ---------------------------------------------------------


def test_query_engine_twice_uses_one_context_and_hits_cache(
    emu: Any, settings: Any, events: LLMEvents
) -> None:
    settings.llm = make_llm(emu, mode="common_prefix")
    engine = build_index().as_query_engine()
    with CachedTokenCounter() as counter:
        first = engine.query("What is the capital of France?")
        second = engine.query("How tall is Mount Everest?")
    assert "echo:" in str(first) and "Mount Everest" in str(second)

    completions = emu.completions()
    assert len(completions) == 2
    assert len(emu.records("/context/create")) == 1
    ctx_ids = {r["context_id"] for r in completions}
    assert len(ctx_ids) == 1 and None not in ctx_ids
    assert all(r["mode"] == "common_prefix" for r in completions)
    assert completions[1]["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    assert [len(r["sent"]) for r in completions] == [1, 1]  # only the user turn is sent
    same_transcripts(events.chat_inputs, completions)
    assert counter.cached_tokens == sum(
        r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in completions
    )


def test_streaming_query_engine_shares_the_context(
    emu: Any, settings: Any, events: LLMEvents
) -> None:
    settings.llm = make_llm(emu, mode="common_prefix")
    engine = build_index().as_query_engine(streaming=True)
    texts = []
    for q in ("What is the capital of France?", "Which rivers are the longest?"):
        response = engine.query(q)
        texts.append("".join(response.response_gen))
    completions = emu.completions()
    assert [r["stream"] for r in completions] == [True, True]
    assert texts == [r["reply"] for r in completions]
    assert len({r["context_id"] for r in completions}) == 1
    assert completions[1]["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    same_transcripts(events.chat_inputs, completions)
    assert events.counts == {"LLMChatStartEvent": 2, "LLMChatEndEvent": 2}


async def test_async_query_engine_shares_the_context(
    emu: Any, settings: Any, events: LLMEvents
) -> None:
    settings.llm = make_llm(emu, mode="common_prefix")
    engine = build_index().as_query_engine()
    answers = [str(await engine.aquery(q)) for q in ("Capital of France?", "Tallest mountain?")]
    completions = emu.completions()
    assert answers == [r["reply"] for r in completions]
    assert len({r["context_id"] for r in completions}) == 1
    assert len(emu.records("/context/create")) == 1
    assert completions[1]["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    same_transcripts(events.chat_inputs, completions)


# -- chat engine: session -----------------------------------------------------------------


def test_simple_chat_engine_ten_turns_in_one_growing_context(emu: Any, events: LLMEvents) -> None:
    llm = make_llm(emu, mode="session")
    engine = SimpleChatEngine.from_defaults(llm=llm, system_prompt="You are a terse travel guide.")
    outcomes = []

    class Outcomes(BaseEventHandler):
        @classmethod
        def class_name(cls) -> str:
            return "Outcomes"

        def handle(self, event: Any, **kwargs: Any) -> None:
            if isinstance(event, LLMChatEndEvent) and event.response is not None:
                outcomes.append(event.response.additional_kwargs)

    root = get_dispatcher()
    watcher = Outcomes()
    root.add_event_handler(watcher)
    try:
        for turn in range(10):
            reply = engine.chat(f"Turn {turn}: tell me one thing about Kyoto.")
            assert str(reply).endswith(f"Turn {turn}: tell me one thing about Kyoto.")
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not watcher]

    completions = emu.completions()
    assert len(completions) == 10
    assert len({r["context_id"] for r in completions}) == 1
    assert len(emu.records("/context/create")) == 1
    # Flat requests: every turn sends only the new user message...
    assert [len(r["sent"]) for r in completions] == [1] * 10
    sizes = [o["request_bytes"] for o in outcomes]
    assert max(sizes) <= min(sizes) + 16  # turn numbers only
    # ...while the prompt the server saw grows, and the cached part with it.
    cached = [r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in completions]
    assert all(b > a for a, b in itertools.pairwise(cached))
    assert completions[-1]["usage"]["prompt_tokens"] > 5 * completions[0]["usage"]["prompt_tokens"]
    assert [o["context_outcome"] for o in outcomes] == ["created"] + ["reused"] * 9
    assert [o["cached_tokens"] for o in outcomes] == cached
    same_transcripts(events.chat_inputs, completions)


# -- token accounting and events for the 8 public methods ---------------------------------

SYSTEM = "You are a precise assistant for geography questions."


def _messages(q: str) -> list[ChatMessage]:
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=q)]


async def _call(llm: ArkContextLLM, method: str, i: int) -> Any:
    arg: Any = (
        f"Question {i}: name a river." if "complete" in method else _messages(f"Question {i}?")
    )
    result = getattr(llm, method)(arg)
    if hasattr(result, "__await__"):
        result = await result
    if hasattr(result, "__aiter__"):
        return [x async for x in result][-1]
    if hasattr(result, "__next__"):
        return list(result)[-1]
    return result


def billed(emu: Any) -> list[dict[str, int]]:
    """Per completion, what Ark billed: its usage plus the contexts created for it (the
    creations recorded since the previous completion)."""
    out: list[dict[str, int]] = []
    created = 0
    for r in emu.records():
        if r.get("path", "").endswith("/context/create"):
            created += (r.get("usage") or {}).get("prompt_tokens", 0)
        elif r in emu.completions():
            u = r["usage"]
            out.append(
                {
                    "prompt": u["prompt_tokens"] + created,
                    "completion": u["completion_tokens"],
                    "cached": u["prompt_tokens_details"]["cached_tokens"],
                    "creation": created,
                }
            )
            created = 0
    return out


METHODS = [
    "chat",
    "stream_chat",
    "achat",
    "astream_chat",
    "complete",
    "stream_complete",
    "acomplete",
    "astream_complete",
]


@pytest.mark.parametrize("method", METHODS)
async def test_each_method_one_event_pair_and_exact_usage(
    emu: Any, events: LLMEvents, method: str
) -> None:
    tokens = TokenCountingHandler(tokenizer=list)  # character counts: never Ark's numbers
    llm = make_llm(emu, mode="common_prefix", callback_manager=CallbackManager([tokens]))
    with CachedTokenCounter() as counter:
        last = [await _call(llm, method, i) for i in range(2)]
    kind = "Completion" if "complete" in method else "Chat"
    assert events.counts == {f"LLM{kind}StartEvent": 2, f"LLM{kind}EndEvent": 2}
    completions = emu.completions()
    assert len(completions) == 2
    bills = billed(emu)
    # chat has a system prompt: the first call created the shared context
    assert (bills[0]["creation"] > 0) == (kind == "Chat")
    assert [e.prompt_token_count for e in tokens.llm_token_counts] == [b["prompt"] for b in bills]
    assert counter.creation_tokens == sum(b["creation"] for b in bills)
    assert counter.prompt_tokens == tokens.prompt_llm_token_count
    assert [e.completion_token_count for e in tokens.llm_token_counts] == [
        r["usage"]["completion_tokens"] for r in completions
    ]
    emu_cached = [r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in completions]
    assert counter.cached_tokens == sum(emu_cached)
    assert counter.by_model[MODEL].calls == 2
    for resp, rec in zip(last, completions, strict=True):
        assert resp.raw["ark_usage"] == rec["usage"]  # Ark's usage, unchanged
        assert (
            resp.raw["usage"]["prompt_tokens"]
            == rec["usage"]["prompt_tokens"] + (resp.additional_kwargs["context_create_tokens"])
        )
        assert (
            resp.additional_kwargs["cached_tokens"]
            == rec["usage"]["prompt_tokens_details"]["cached_tokens"]
        )
        assert resp.additional_kwargs["context_id"] == rec["context_id"]
    if kind == "Chat":  # the system prompt is a shared prefix: the second call hits
        assert emu_cached[1] > 0
        assert len({r["context_id"] for r in completions}) == 1


async def test_token_counts_match_emulator_across_a_mixed_sequence(emu: Any) -> None:
    tokens = TokenCountingHandler(tokenizer=list)
    llm = make_llm(emu, mode="common_prefix", callback_manager=CallbackManager([tokens]))
    with CachedTokenCounter() as counter:
        for i, method in enumerate(METHODS):
            await _call(llm, method, i)
    completions = emu.completions()
    assert len(tokens.llm_token_counts) == len(completions) == 8
    bills = billed(emu)
    assert tokens.prompt_llm_token_count == sum(b["prompt"] for b in bills)
    assert counter.creation_tokens == sum(b["creation"] for b in bills) > 0
    assert counter.billed.full_price_input == sum(
        b["prompt"] - b["cached"] - b["creation"] for b in bills
    )
    assert tokens.completion_llm_token_count == sum(
        r["usage"]["completion_tokens"] for r in completions
    )
    total_cached = sum(r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in completions)
    assert total_cached > 0
    assert counter.cached_tokens == total_cached
    assert counter.prompt_tokens == tokens.prompt_llm_token_count


def test_stream_without_usage_still_ends_with_route(emu: Any) -> None:
    llm = make_llm(emu, mode="common_prefix", stream_usage=False)
    chunks = list(llm.stream_chat(_messages("Where is Paris?")))
    rec = emu.completions()[0]
    assert "".join(c.delta for c in chunks) == rec["reply"] == chunks[-1].message.content
    assert "prompt_tokens" not in chunks[-1].additional_kwargs
    assert chunks[-1].additional_kwargs["context_id"] == rec["context_id"]


async def test_every_reply_says_why_it_ended(emu: Any) -> None:
    """``additional_kwargs["finish_reason"]`` (chat-completions words, as on the Responses
    API): a reply cut by ``max_tokens`` says ``length``, streamed or not (a stream's raw
    has no choices to tell it), a whole one ``stop``."""
    cut = make_llm(emu, mode="session", max_tokens=3)
    whole = make_llm(emu, mode="session")
    replies = {
        "length": [
            cut.chat(_messages("Where is Paris?")),
            list(cut.stream_chat(_messages("Where is Paris?")))[-1],
            [r async for r in await cut.astream_chat(_messages("Where is Rome?"))][-1],
            list(cut.stream_complete("Where is Oslo?"))[-1],
        ],
        "stop": [
            await whole.achat(_messages("Where is Paris?")),
            list(whole.stream_chat(_messages("Where is Bonn?")))[-1],
        ],
    }
    for reason, responses in replies.items():
        assert [r.additional_kwargs["finish_reason"] for r in responses] == [reason] * len(
            responses
        )
    assert [c["finish_reason"] for c in emu.completions()] == ["length"] * 4 + ["stop"] * 2


# -- ReAct agent ----------------------------------------------------------------------------


def _react_responder(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    last = messages[-1]["content"]
    if isinstance(last, str) and last.startswith("Observation:"):
        return (
            "Thought: I can answer without using any more tools.\nAnswer: The sum is "
            + last.split(":", 1)[1].strip()
        )
    return (
        "Thought: The current language of the user is: English. I need to use a tool to help me "
        'answer the question.\nAction: add\nAction Input: {"a": 20, "b": 22}'
    )


async def test_react_agent_run_with_scripted_emulator(events: LLMEvents) -> None:
    from llama_index.core.agent.workflow import ReActAgent

    calls: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append((a, b))
        return a + b

    with run_emulator(responder=_react_responder) as emu:
        llm = make_llm(emu, mode="common_prefix")
        agent = ReActAgent(tools=[add], llm=llm)
        result = await agent.run(user_msg="What is 20 + 22?")
        completions = emu.completions()
        creates = emu.records("/context/create")

    assert calls == [(20, 22)]
    assert "The sum is 42" in str(result)
    assert len(completions) == 2
    assert len(creates) == 1
    # The ReAct system header (tool descriptions included) is the shared prefix.
    assert creates[0]["messages"][0]["role"] == "system"
    assert "add" in creates[0]["messages"][0]["content"]
    assert len({r["context_id"] for r in completions}) == 1
    assert completions[1]["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    assert completions[1]["sent"][-1]["content"].startswith("Observation: 42")
    same_transcripts(events.chat_inputs, completions)
    assert events.counts == {"LLMChatStartEvent": 2, "LLMChatEndEvent": 2}


def test_secret_never_reaches_records_or_payloads(emu: Any, events: LLMEvents) -> None:
    llm = make_llm(emu, mode="common_prefix")
    llm.chat(_messages("Hi"))
    assert KEY not in json.dumps(emu.records(), default=str)
    assert KEY not in llm.to_json() and KEY not in repr(llm)


# -- retrieval chat engines: the documented limitation ------------------------------------

_WORDS = ("paris", "everest", "nile")


def _keyword_embedding() -> Any:
    """A deterministic embedding that makes retrieval depend on the question (MockEmbedding
    gives every text the same vector, so it would always retrieve the same node)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding

    class KeywordEmbedding(BaseEmbedding):
        def _vec(self, text: str) -> list[float]:
            low = text.lower()
            return [float(low.count(w)) + 0.01 for w in _WORDS]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._vec(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._vec(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._vec(text)

    return KeywordEmbedding(model_name="keywords")


def _condensing_responder(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    last = str(messages[-1]["content"])
    if "Standalone question:" in last:  # the condense step: return the follow-up itself
        return last.split("Follow Up Input:", 1)[1].split("Standalone question:", 1)[0].strip()
    return "Noted."


@pytest.mark.parametrize("mode", ["common_prefix", "session"])
@pytest.mark.parametrize("engine_name", ["ContextChatEngine", "CondensePlusContextChatEngine"])
def test_retrieval_chat_engines_get_no_cache_hits(
    settings: Any, mode: str, engine_name: str
) -> None:
    """docs/llama_index_modes.md: these engines put the retrieved text in the system message,
    so when retrieval changes, every turn needs a new context: no reuse in either mode."""
    from llama_index.core import chat_engine

    settings.embed_model = _keyword_embedding()
    index = build_index()
    with run_emulator(responder=_condensing_responder) as emu:
        llm = make_llm(emu, mode=mode)
        engine = getattr(chat_engine, engine_name).from_defaults(
            retriever=index.as_retriever(similarity_top_k=1), llm=llm
        )
        for q in ("Tell me about Paris.", "What about Everest?", "And the Nile?"):
            engine.chat(q)
        answers = [r for r in emu.completions() if r["context_id"] is not None]
        creates = emu.records("/context/create")
    assert len(answers) == 3
    assert len(creates) == 3  # one new context per turn
    assert len({r["context_id"] for r in answers}) == 3  # none reused
    systems = [r["messages"][0]["content"] for r in answers]
    assert len(set(systems)) == 3  # because the system message changed every turn


# -- failure paths ------------------------------------------------------------------------


def test_abandoned_session_stream_keeps_the_transcript_exact(emu: Any, events: LLMEvents) -> None:
    llm = make_llm(emu, mode="session")
    history = _messages("Tell me about the Nile.")
    first = llm.chat(history)
    history += [first.message, ChatMessage(role="user", content="And the Amazon?")]
    stream = llm.stream_chat(history)
    next(stream)
    stream.close()  # the caller stops reading: the context may hold a half turn
    history_after = [*history[:-1], ChatMessage(role="user", content="Only the Amazon, please.")]
    llm.chat(history_after)
    completions = emu.completions()
    assert len(completions) == 3
    same_transcripts(events.chat_inputs, completions)
    assert completions[2]["context_id"] != completions[0]["context_id"]  # started over


def test_wrong_key_raises_typed_error_without_the_key() -> None:
    from ark_context import ArkAuthenticationError

    with run_emulator(api_keys=["the-right-key"]) as emu:
        llm = make_llm(emu, mode="common_prefix", max_retries=0)
        with pytest.raises(ArkAuthenticationError) as info:
            llm.chat(_messages("Hi"))
    assert KEY not in str(info.value)
    assert info.value.status_code == 401
