"""LlamaIndex translation for tool calls, tool results and thinking (llama_index_ark_context._convert)."""

from __future__ import annotations

import doctest
import random
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    ImageBlock,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.tools import FunctionTool

import llama_index_ark_context
import llama_index_ark_context._convert as convert_module
import llama_index_ark_context.base
from ark_context import ArkInputError, ArkUnsupportedError
from ark_context._messages import digest_chain, namespace_digest
from ark_context.conversation import (
    ArkResponsesInputError,
    ResponsesStreamAccumulator,
    parse_response,
    to_input_items,
    to_response_tools,
    to_tool_choice,
)
from llama_index_ark_context._convert import (
    StreamState,
    force_single_tool_call,
    has_tool_messages,
    prepare_chat_with_tools,
    to_chat_message,
    to_chat_response,
    to_wire_messages,
    tool_selections,
)
from tests.responses_fixtures import response_object, spaced_json, stream_events

NS = namespace_digest(base_url="http://x", model="m", mode="session", truncation=None, api_key="k")


@pytest.mark.parametrize(
    "module", [convert_module, llama_index_ark_context, llama_index_ark_context.base]
)
def test_doctests(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"18°C in {city}"


WEATHER = FunctionTool.from_defaults(get_weather)


# -- messages -> wire ----------------------------------------------------------------------------


def test_history_with_tool_calls_to_wire() -> None:
    history = [
        ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
        ChatMessage(role=MessageRole.USER, content="Weather in Paris?"),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[
                ThinkingBlock(content="the user wants weather"),
                TextBlock(text="Checking."),
                ToolCallBlock(
                    tool_call_id="c1", tool_name="get_weather", tool_kwargs={"city": "Paris"}
                ),
                ToolCallBlock(
                    tool_call_id="c2", tool_name="get_weather", tool_kwargs='{"city": "Rome"}'
                ),
            ],
        ),
        ChatMessage(
            role=MessageRole.TOOL, content="18°C", additional_kwargs={"tool_call_id": "c1"}
        ),
        ChatMessage(
            role=MessageRole.TOOL, content="20°C", additional_kwargs={"tool_call_id": "c2"}
        ),
    ]
    wire = to_wire_messages(history)
    assert wire[2] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
            },
        ],
    }
    assert wire[3:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "18°C"},
        {"role": "tool", "tool_call_id": "c2", "content": "20°C"},
    ]
    assert "the user wants weather" not in str(to_input_items(wire))
    assert has_tool_messages(history) and has_tool_messages(history[:3])
    assert not has_tool_messages(history[:2])


def test_openai_style_additional_kwargs_tool_calls() -> None:
    from openai.types.chat import ChatCompletionMessageToolCall

    sdk_call = ChatCompletionMessageToolCall(
        id="c1", type="function", function={"name": "get_weather", "arguments": '{"city": "X"}'}
    )
    for call in (sdk_call, sdk_call.model_dump()):
        msgs = [
            ChatMessage(role="user", content="?"),
            ChatMessage(role="assistant", content=None, additional_kwargs={"tool_calls": [call]}),
            ChatMessage(role="tool", content="r", additional_kwargs={"tool_call_id": "c1"}),
        ]
        assert to_wire_messages(msgs)[1]["tool_calls"][0]["function"]["arguments"] == '{"city":"X"}'


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        (
            [ChatMessage(role="user", content="x"), ChatMessage(role="tool", content="r")],
            ArkInputError,
            "tool call id",
        ),
        ([ChatMessage(role="function", content="r")], ArkUnsupportedError, "role 'function'"),
        (
            [ChatMessage(role="user", blocks=[ImageBlock(url="https://x/y.png")])],
            ArkUnsupportedError,
            "ImageBlock",
        ),
        (
            [
                ChatMessage(
                    role="user", content="x", additional_kwargs={"tool_calls": [{"id": "a"}]}
                )
            ],
            ArkInputError,
            "only assistant messages",
        ),
        (
            [
                ChatMessage(role="user", content="x"),
                ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_name="f")]),
            ],
            ArkInputError,
            "without tool_call_id",
        ),
        (["hi"], ArkInputError, "ChatMessage"),
    ],
)
def test_bad_histories(messages: list[Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        to_wire_messages(messages)


# -- results -> LlamaIndex, and back -------------------------------------------------------------


def test_result_to_chat_response() -> None:
    resp = response_object(
        text="Looking.", calls=[("c1", "get_weather", '{"city": "Paris"}')], reasoning=["hmm"]
    )
    out = to_chat_response(parse_response(resp), {"context_outcome": "created"})
    blocks = out.message.blocks
    assert [type(b) for b in blocks] == [ThinkingBlock, TextBlock, ToolCallBlock]
    assert blocks[0].content == "hmm" and blocks[0].num_tokens == 211
    assert out.message.content == "Looking."
    assert out.raw["usage"]["input_tokens"] == 116
    assert out.additional_kwargs["cached_tokens"] == 104
    assert out.additional_kwargs["reasoning_tokens"] == 211
    assert out.additional_kwargs["context_outcome"] == "created"
    assert tool_selections(out) == [
        ToolSelection(tool_id="c1", tool_name="get_weather", tool_kwargs={"city": "Paris"})
    ]


def test_tool_selections_edge_cases() -> None:
    none = ChatResponse(message=ChatMessage(role="assistant", content="done"))
    with pytest.raises(ValueError, match="at least one tool call"):
        tool_selections(none)
    assert tool_selections(none, error_on_no_tool_call=False) == []
    bad = to_chat_response(
        parse_response(response_object(calls=[("c", "f", "nope"), ("d", "g", "")]))
    )
    assert [(s.tool_id, s.tool_kwargs) for s in tool_selections(bad)] == [("d", {}), ("c", {})]
    legacy = ChatResponse(
        message=ChatMessage(
            role="assistant",
            additional_kwargs={
                "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": '{"a": 2}'}}]
            },
        )
    )
    assert tool_selections(legacy)[0].tool_kwargs == {"a": 2}


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=20),
    calls=st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{1,8}", fullmatch=True),
            st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
        ),
        max_size=3,
    ),
    broken=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_reply_round_trip_is_digest_stable(
    text: str, calls: list[tuple[str, dict[str, Any]]], broken: bool, seed: int
) -> None:
    rng = random.Random(seed)
    raw_calls = [(f"call_{i}", n, spaced_json(a, rng)) for i, (n, a) in enumerate(calls)]
    if broken:
        raw_calls.append(("call_x", "f", '{"cut": '))
    resp = response_object(text=text, calls=raw_calls, reasoning=["r1", "r2"])
    result = parse_response(resp)
    follow = [
        ChatMessage(role="tool", content="ok", additional_kwargs={"tool_call_id": c[0]})
        for c in raw_calls
    ] or [ChatMessage(role="user", content="next")]
    user = ChatMessage(role="user", content="go")
    assert to_wire_messages([user, to_chat_message(result), *follow])[1] == result.wire_message()

    state, acc, last = StreamState(), ResponsesStreamAccumulator(), None
    deltas = ""
    for event in stream_events(resp, rng):
        d = acc.feed(event)
        r = state.feed(d) if d is not None else None
        if r is not None:
            deltas += r.delta or ""
            last = r
    assert last is not None and deltas == text
    assert to_wire_messages([user, last.message, *follow])[1] == result.wire_message()
    assert (
        digest_chain(NS, to_wire_messages([user, last.message, *follow]))[1]
        == digest_chain(NS, [{"role": "user", "content": "go"}, result.wire_message()])[1]
    )


def test_stream_responses_carry_the_message_so_far() -> None:
    resp = response_object(text="ab", calls=[("c1", "f", '{"x": 1}')], reasoning=["r"])
    state, acc = StreamState(), ResponsesStreamAccumulator()
    out = [r for e in stream_events(resp) if (d := acc.feed(e)) and (r := state.feed(d))]
    partial_calls = [b for r in out[:-1] for b in r.message.blocks if isinstance(b, ToolCallBlock)]
    assert partial_calls and partial_calls[-1].tool_kwargs == '{"x": 1}'
    assert any(r.additional_kwargs.get("thinking_delta") for r in out)
    assert out[-1].additional_kwargs["prompt_tokens"] == 116
    assert [s.tool_kwargs for s in tool_selections(out[-1])] == [{"x": 1}]


# -- FunctionCallingLLM pieces ---------------------------------------------------------------------


def test_prepare_chat_with_tools() -> None:
    history = [ChatMessage(role="system", content="s")]
    kw = prepare_chat_with_tools(
        [WEATHER], "hi", history, allow_parallel_tool_calls=False, verbose=True
    )
    assert [m.content for m in kw["messages"]] == ["s", "hi"] and len(history) == 1
    assert kw["tool_choice"] == "auto" and "parallel_tool_calls" not in kw
    assert to_response_tools(kw["tools"])[0]["name"] == "get_weather"
    assert prepare_chat_with_tools([WEATHER], tool_required=True)["tool_choice"] == "required"
    named = prepare_chat_with_tools([WEATHER], tool_choice="get_weather", strict=True)
    assert to_tool_choice(named["tool_choice"], named["tools"]) == {
        "type": "function",
        "name": "get_weather",
    }
    assert named["tools"][0]["function"]["strict"] is True
    assert prepare_chat_with_tools([], "hi")["tool_choice"] is None
    with pytest.raises(ArkResponsesInputError, match="not bound"):
        prepare_chat_with_tools([WEATHER], tool_choice="other")


def test_force_single_tool_call() -> None:
    out = to_chat_response(
        parse_response(response_object(calls=[("a", "f", "{}"), ("b", "g", "{}")]))
    )
    force_single_tool_call(out)
    assert [s.tool_id for s in tool_selections(out)] == ["a"]
    assert len(out.message.additional_kwargs["tool_calls"]) == 1


# -- FunctionAgent end to end over a scripted Responses "server" -----------------------------------


class ScriptedResponsesLLM(FunctionCallingLLM):
    """Plays the backend: converts what the agent passes to wire and input items, records
    the wire, and streams scripted Responses replies through the converters."""

    replies: list[dict[str, Any]]
    sent: list[list[dict[str, Any]]] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            is_chat_model=True, is_function_calling_model=True, model_name="scripted"
        )

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: Any = None,
        chat_history: Any = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return prepare_chat_with_tools(tools, user_msg, chat_history, **kwargs)

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        return tool_selections(response, error_on_no_tool_call)

    def _events(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> list[dict[str, Any]]:
        wire = to_wire_messages(messages)
        to_input_items(wire)
        if kwargs.get("tools"):
            to_response_tools(kwargs["tools"])
        self.sent.append(wire)
        return stream_events(self.replies.pop(0))

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        acc = ResponsesStreamAccumulator()
        for e in self._events(messages, kwargs):
            acc.feed(e)
        return to_chat_response(acc.finish())

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        events = self._events(messages, kwargs)

        def gen() -> Generator[ChatResponse, None, None]:
            acc, state = ResponsesStreamAccumulator(), StreamState()
            for e in events:
                if (d := acc.feed(e)) is not None and (r := state.feed(d)) is not None:
                    yield r

        return gen()

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self.chat(messages, **kwargs)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        sync = self.stream_chat(messages, **kwargs)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            for r in sync:
                yield r

        return gen()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        raise NotImplementedError

    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError


async def test_function_agent_history_extends_each_recorded_reply() -> None:
    """Every agent step's history starts with the previous step's history plus the reply
    as the backend records it (``ResponsesResult.wire_message``): the digest the backend
    stores after a reply is a prefix of the next call's digests, so the chain continues."""
    replies = [
        response_object(
            rid="r1", calls=[("c1", "get_weather", '{"city": "Paris"}')], reasoning=["need weather"]
        ),
        response_object(
            rid="r2", text="Also Rome.", calls=[("c2", "get_weather", '{ "city" : "Rome" }')]
        ),
        response_object(rid="r3", text="Paris 18°C, Rome 18°C."),
    ]
    llm = ScriptedResponsesLLM(replies=[dict(r) for r in replies], sent=[])
    agent = FunctionAgent(tools=[WEATHER], llm=llm, system_prompt="You report weather.")
    result = await agent.run(user_msg="Weather in Paris and Rome?")
    assert "Paris 18°C" in str(result)
    assert len(llm.sent) == 3
    for step in range(1, 3):
        before, now = llm.sent[step - 1], llm.sent[step]
        recorded = [*before, parse_response(replies[step - 1]).wire_message()]
        assert now[: len(recorded)] == recorded
        assert digest_chain(NS, now)[len(recorded) - 1] == digest_chain(NS, recorded)[-1]
    assert llm.sent[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "18°C in Paris"}
