"""LangChain translation for tools, reasoning and structured output (langchain_ark_context._convert)."""

from __future__ import annotations

import doctest
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from pydantic import BaseModel, Field

import langchain_ark_context._convert as convert_module
from ark_context import ArkInputError, ArkUnsupportedError
from ark_context._messages import digest_chain, namespace_digest
from ark_context.conversation import (
    ArkResponsesInputError,
    ResponsesStreamAccumulator,
    parse_response,
    to_input_items,
    to_response_tools,
    to_text_format,
    to_tool_choice,
)
from langchain_ark_context._convert import (
    ChunkBuilder,
    bind_tools_kwargs,
    check_tool_fields,
    convert_tools,
    has_tool_messages,
    normalize_tool_choice,
    structured_output,
    to_ai_message,
    to_wire_messages,
    without_names,
)
from tests.responses_fixtures import response_object, spaced_json, stream_events

NS = namespace_digest(base_url="http://x", model="m", mode="session", truncation=None, api_key="k")


def test_doctests() -> None:
    result = doctest.testmod(convert_module)
    assert result.attempted > 0 and result.failed == 0


@tool
def get_weather(city: str, unit: str = "C") -> str:
    """Weather of a city."""
    return f"18°{unit} in {city}"


class Person(BaseModel):
    """A person."""

    name: str = Field(description="The name")
    age: int


# -- messages -> wire --------------------------------------------------------------------------


def test_agent_history_to_wire() -> None:
    history: list[BaseMessage] = [
        SystemMessage("Be brief."),
        HumanMessage("Weather in Paris?"),
        AIMessage(
            content=[
                {"type": "reasoning", "reasoning": "think"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "function_call",
                    "call_id": "call_1",
                    "name": "get_weather",
                    "arguments": "{}",
                },
            ],
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
            additional_kwargs={"reasoning_content": "secret thoughts"},
            name="weather_agent",
        ),
        ToolMessage("18°C", tool_call_id="call_1", name="get_weather"),
    ]
    assert to_wire_messages(history) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "name": "weather_agent",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
    ]
    assert has_tool_messages(history) and not has_tool_messages(history[:2])
    # the Responses API has no names: a call there leaves them out
    assert "name" not in without_names(to_wire_messages(history))[2]


def test_invalid_tool_calls_are_resent_verbatim_after_valid_ones() -> None:
    msg = AIMessage(
        "",
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c2"}],
        invalid_tool_calls=[
            {"name": "g", "args": "{oops", "id": "c1", "error": "bad", "type": "invalid_tool_call"}
        ],
    )
    wire = to_wire_messages(
        [
            HumanMessage("x"),
            msg,
            ToolMessage("r1", tool_call_id="c1"),
            ToolMessage("r2", tool_call_id="c2"),
        ]
    )
    assert [c["function"]["arguments"] for c in wire[1]["tool_calls"]] == ['{"a":1}', "{oops"]


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        (
            [HumanMessage("x"), FunctionMessage("r", name="f")],
            ArkUnsupportedError,
            "FunctionMessage",
        ),
        (
            [HumanMessage("x"), ToolMessage("r", tool_call_id="nope")],
            ArkInputError,
            "no earlier assistant",
        ),
        (
            [HumanMessage("x"), AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": None}])],
            ArkInputError,
            "without an id",
        ),
        ([HumanMessage("x"), AIMessage("done")], ArkInputError, "ends with an assistant"),
    ],
)
def test_bad_histories(messages: list[BaseMessage], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        to_wire_messages(messages)


# -- results -> AIMessage, and back ----------------------------------------------------------------


def test_result_to_ai_message() -> None:
    resp = response_object(
        text="Let me look.",
        calls=[("call_1", "get_weather", '{"city": "Paris"}'), ("call_2", "get_weather", "{bad")],
        reasoning=["The user wants weather."],
    )
    msg = to_ai_message(parse_response(resp), model="ep-1", metadata={"context_outcome": "created"})
    assert msg.content == "Let me look."
    assert msg.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
    assert [c["args"] for c in msg.invalid_tool_calls] == ["{bad"]
    assert msg.additional_kwargs == {"reasoning_content": "The user wants weather."}
    assert {"type": "reasoning", "reasoning": "The user wants weather."} in [
        {k: b.get(k) for k in ("type", "reasoning")}
        for b in msg.content_blocks
        if b["type"] == "reasoning"
    ]
    assert msg.usage_metadata == {
        "input_tokens": 116,
        "output_tokens": 232,
        "total_tokens": 348,
        "input_token_details": {"cache_read": 104},
        "output_token_details": {"reasoning": 211},
    }
    meta = msg.response_metadata
    assert (meta["model_name"], meta["id"], meta["finish_reason"], meta["context_outcome"]) == (
        "doubao-seed-1-6-251015",
        "resp_1",
        "tool_calls",
        "created",
    )
    assert msg.id == "resp_1"


_args = st.dictionaries(
    st.text(max_size=5),
    st.none() | st.integers() | st.text(max_size=6) | st.lists(st.integers(), max_size=3),
    max_size=3,
)


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=20),
    calls=st.lists(st.tuples(st.from_regex(r"[a-z]{1,8}", fullmatch=True), _args), max_size=3),
    broken=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_reply_round_trip_is_digest_stable(
    text: str, calls: list[tuple[str, dict[str, Any]]], broken: bool, seed: int
) -> None:
    """What the backend records for a reply == what the adapter sends for the AIMessage
    the framework hands back, invoked or streamed."""
    rng = random.Random(seed)
    raw_calls = [
        (f"call_{i}", name, spaced_json(args, rng)) for i, (name, args) in enumerate(calls)
    ]
    if broken:
        raw_calls.append(("call_x", "f", "not json"))
    resp = response_object(text=text, calls=raw_calls, reasoning=["why"])
    result = parse_response(resp)
    history: list[BaseMessage] = [HumanMessage("go")]
    tool_results = [ToolMessage("ok", tool_call_id=c[0]) for c in raw_calls]
    follow = tool_results or [HumanMessage("next")]
    expected = digest_chain(NS, [{"role": "user", "content": "go"}, result.wire_message()])

    invoked = to_ai_message(result, model="m")
    wire = to_wire_messages([*history, invoked, *follow])
    assert wire[1] == result.wire_message()
    assert digest_chain(NS, wire[:2]) == expected

    builder, acc = ChunkBuilder("m"), ResponsesStreamAccumulator()
    merged: AIMessageChunk | None = None
    for event in stream_events(resp, rng):
        delta = acc.feed(event)
        chunk = builder.chunk(delta) if delta is not None else None
        if chunk is not None:
            merged = chunk if merged is None else merged + chunk
    assert merged is not None
    streamed = to_wire_messages([*history, merged, *follow])
    assert streamed[1] == result.wire_message()
    assert merged.additional_kwargs.get("reasoning_content") == "why"
    assert merged.usage_metadata == invoked.usage_metadata
    assert merged.tool_calls == invoked.tool_calls


def test_truncated_arguments_in_a_stream_are_repaired_by_langchain() -> None:
    """Known limit: LangChain's partial-JSON parser turns a streamed ``{"cut": `` into a
    valid call with ``{}``; invoked, it stays invalid. The streamed message is resent as
    the caller holds it (exact), but its digest differs from the recorded reply, so the
    next call rebuilds its chain instead of chaining on."""
    resp = response_object(calls=[("c1", "f", '{"cut": ')], status="incomplete")
    result = parse_response(resp)
    builder, acc = ChunkBuilder("m"), ResponsesStreamAccumulator()
    chunks = [c for e in stream_events(resp) if (d := acc.feed(e)) and (c := builder.chunk(d))]
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert to_ai_message(result).invalid_tool_calls and not merged.invalid_tool_calls
    wire = to_wire_messages([HumanMessage("go"), merged, ToolMessage("r", tool_call_id="c1")])
    assert wire[1]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert wire[1] != result.wire_message()


def test_stream_chunks() -> None:
    resp = response_object(text="ab", calls=[("c1", "f", '{"x": 1}')], reasoning=["r"])
    builder, acc = ChunkBuilder("m"), ResponsesStreamAccumulator()
    chunks = [c for e in stream_events(resp) if (d := acc.feed(e)) and (c := builder.chunk(d))]
    tool_chunks = [tc for c in chunks for tc in c.tool_call_chunks]
    assert tool_chunks[0] == {
        "name": "f",
        "args": "",
        "id": "c1",
        "index": 2,  # the third content block: after the reasoning (0) and the text (1)
        "type": "tool_call_chunk",
    }
    assert {tc["index"] for tc in tool_chunks} == {2}
    assert "".join(tc["args"] or "" for tc in tool_chunks) == '{"x": 1}'
    last = chunks[-1]
    assert last.chunk_position == "last" and last.usage_metadata is not None
    assert sum(1 for c in chunks if c.usage_metadata) == 1
    assert all(c.id == "resp_1" for c in chunks)


# -- tools ----------------------------------------------------------------------------------------


def test_convert_tools_from_every_kind() -> None:
    def lookup(q: str) -> str:
        """Look something up."""
        return q

    out = convert_tools(
        [get_weather, Person, lookup, {"type": "function", "function": {"name": "raw"}}]
    )
    assert [t["function"]["name"] for t in out] == ["get_weather", "Person", "lookup", "raw"]
    flat = to_response_tools(out)
    assert flat[0]["parameters"]["required"] == ["city"]
    assert all(t["type"] == "function" and "function" not in t for t in flat)
    assert convert_tools([Person], strict=True)[0]["function"]["strict"] is True


def test_bad_tools_fail_at_bind_time() -> None:
    with pytest.raises(ArkResponsesInputError, match="only function tools"):
        convert_tools([{"type": "web_search"}])
    assert len(convert_tools([get_weather, get_weather])) == 1  # the same tool once
    other = {"type": "function", "function": {"name": "get_weather", "description": "other"}}
    both = convert_tools([get_weather, other])
    with pytest.raises(ArkResponsesInputError, match="repeats"):
        check_tool_fields({"tools": both})


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        (False, None),
        ("auto", "auto"),
        ("none", "none"),
        ("any", "required"),
        ("required", "required"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
        (True, {"type": "function", "function": {"name": "get_weather"}}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: Any) -> None:
    tools = convert_tools([get_weather])
    assert normalize_tool_choice(choice, tools) == expected
    if choice is not True and choice is not False:  # the core takes every chat-shape value
        assert to_tool_choice(expected, tools) == to_tool_choice(choice, tools)


def test_tool_choice_errors() -> None:
    tools = convert_tools([get_weather, Person])
    with pytest.raises(ArkResponsesInputError, match="2 are bound"):
        normalize_tool_choice(True, tools)
    with pytest.raises(ArkResponsesInputError, match="not bound"):
        normalize_tool_choice("other", tools)


def test_bind_tools_kwargs() -> None:
    kw = bind_tools_kwargs([get_weather], tool_choice="any", parallel_tool_calls=False)
    assert set(kw) == {"tools", "tool_choice", "parallel_tool_calls"}
    assert set(bind_tools_kwargs([get_weather])) == {"tools"}


# -- structured output, through real runnables ----------------------------------------------------


class ScriptedChat(BaseChatModel):
    """A chat model that records the request it would send and replays scripted replies."""

    replies: list[dict[str, Any]]
    sent: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.bind(
            **bind_tools_kwargs(tools, tool_choice=tool_choice, strict=strict), **kwargs
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools") or []
        request: dict[str, Any] = {"input": to_input_items(to_wire_messages(messages))}
        if tools:
            request["tools"] = to_response_tools(tools)
            request["tool_choice"] = to_tool_choice(kwargs.get("tool_choice"), tools)
        if kwargs.get("response_format"):
            request["text"] = to_text_format(kwargs["response_format"])
        self.sent.append(request)
        result = parse_response(self.replies.pop(0))
        return ChatResult(generations=[ChatGeneration(message=to_ai_message(result, model="m"))])


def test_structured_output_function_calling_keeps_tools() -> None:
    llm = ScriptedChat(
        replies=[response_object(calls=[("c1", "Person", '{"name": "Ann", "age": 3}')])], sent=[]
    )
    out = structured_output(llm, Person).invoke("Ann is 3")
    assert out == Person(name="Ann", age=3)
    sent = llm.sent[0]
    assert sent["tools"][0]["name"] == "Person" and sent["tool_choice"] == {
        "type": "function",
        "name": "Person",
    }
    assert "text" not in sent


@pytest.mark.parametrize("method", ["json_mode", "json_schema"])
def test_structured_output_json_methods(method: Any) -> None:
    llm = ScriptedChat(replies=[response_object(text='{"name": "Bo", "age": 4}')], sent=[])
    out = structured_output(llm, Person, method=method).invoke("Bo is 4")
    assert out == Person(name="Bo", age=4)
    fmt = llm.sent[0]["text"]["format"]
    if method == "json_mode":
        assert fmt == {"type": "json_object"}
    else:
        assert (fmt["type"], fmt["name"], fmt["schema"]["properties"]["age"]["type"]) == (
            "json_schema",
            "Person",
            "integer",
        )


def test_structured_output_include_raw_reports_parsing_errors() -> None:
    llm = ScriptedChat(
        replies=[response_object(calls=[("c1", "Person", '{"name": "A"}')])], sent=[]
    )
    out = structured_output(llm, Person, include_raw=True).invoke("?")
    assert out["parsed"] is None and "age" in str(out["parsing_error"])
    assert isinstance(out["raw"], AIMessage) and out["raw"].tool_calls[0]["args"] == {"name": "A"}
    reply = response_object(calls=[("c1", "Person", '{"name": "C", "age": 5}')])
    llm = ScriptedChat(replies=[reply], sent=[])
    out = structured_output(llm, Person, include_raw=True).invoke("?")
    assert out["parsed"] == Person(name="C", age=5) and out["parsing_error"] is None


def test_structured_output_dict_schema() -> None:
    schema = convert_tools([Person])[0]["function"]
    reply = response_object(calls=[("c1", "Person", '{"name": "C", "age": 5}')])
    llm = ScriptedChat(replies=[reply], sent=[])
    assert structured_output(llm, schema).invoke("?") == {"name": "C", "age": 5}


def test_structured_output_bad_method() -> None:
    with pytest.raises(ArkInputError, match="function_calling"):
        structured_output(ScriptedChat(replies=[], sent=[]), Person, method="xml")  # type: ignore[arg-type]


# -- a LangGraph agent end to end over scripted Responses replies -----------------------------------


class StreamingScriptedChat(ScriptedChat):
    """ScriptedChat that also streams its replies through the accumulator and ChunkBuilder."""

    wires: list[list[dict[str, Any]]] = []
    streamed_calls: int = 0

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.wires.append(to_wire_messages(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Any:
        from langchain_core.outputs import ChatGenerationChunk

        self.wires.append(to_wire_messages(messages))
        self.streamed_calls += 1
        acc, builder = ResponsesStreamAccumulator(), ChunkBuilder("m")
        for event in stream_events(self.replies.pop(0)):
            delta = acc.feed(event)
            chunk = builder.chunk(delta) if delta is not None else None
            if chunk is not None:
                yield ChatGenerationChunk(message=chunk)


@pytest.mark.parametrize("streamed", [False, True])
def test_react_agent_history_extends_each_recorded_reply(streamed: bool) -> None:
    """Each agent step's history = the previous step's history + the reply as the backend
    records it (ResponsesResult.wire_message) + tool results: the digest stored after a
    reply is a prefix of the next call's, invoked or streamed."""
    from langgraph.prebuilt import create_react_agent

    replies = [
        response_object(
            rid="r1", calls=[("c1", "get_weather", '{"city": "Paris"}')], reasoning=["need it"]
        ),
        response_object(
            rid="r2",
            text="And Rome.",
            calls=[("c2", "get_weather", '{ "city":"Rome", "unit": "F" }')],
        ),
        response_object(rid="r3", text="Paris 18°C, Rome 18°F."),
    ]
    llm = StreamingScriptedChat(replies=[dict(r) for r in replies], sent=[], wires=[])
    agent = create_react_agent(llm, [get_weather], prompt="You report weather.")
    inputs = {"messages": [("human", "Weather in Paris and Rome?")]}
    if streamed:
        for _ in agent.stream(inputs, stream_mode="messages"):
            pass
    else:
        agent.invoke(inputs)
    wires = llm.wires
    assert len(wires) == 3
    assert llm.streamed_calls == (3 if streamed else 0)
    for step in (1, 2):
        recorded = [*wires[step - 1], parse_response(replies[step - 1]).wire_message()]
        assert wires[step][: len(recorded)] == recorded
        assert digest_chain(NS, wires[step])[len(recorded) - 1] == digest_chain(NS, recorded)[-1]
    assert wires[2][-1] == {"role": "tool", "tool_call_id": "c2", "content": "18°F in Rome"}


def test_chat_completion_path_gives_the_same_messages() -> None:
    """The Context API's plain path (chat completions with tools) feeds the same
    converters: invoked and streamed replies give the wire message the backend records."""
    from ark_context.conversation import (
        ChatCompletionStreamAccumulator,
        parse_chat_completion,
    )

    completion = {
        "id": "chatcmpl-1",
        "model": "doubao-1-5-pro-32k-250115",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": 1}'},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    result = parse_chat_completion(completion)
    invoked = to_ai_message(result, model="m")
    follow = [ToolMessage("r", tool_call_id="c1")]
    assert to_wire_messages([HumanMessage("go"), invoked, *follow])[1] == result.wire_message()
    chunks = [
        {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "Check"}}]},
        {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "ing."}}]},
        {
            "id": "chatcmpl-1",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a"'}}
                        ]
                    },
                }
            ],
        },
        {
            "id": "chatcmpl-1",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
                    "finish_reason": "tool_calls",
                }
            ],
        },
        {"id": "chatcmpl-1", "choices": [], "usage": completion["usage"]},
    ]
    acc, builder = ChatCompletionStreamAccumulator(), ChunkBuilder("m")
    pieces = [builder.chunk(d) for c in chunks for d in acc.feed(c)] + [builder.chunk(acc.finish())]
    merged = None
    for p in pieces:
        if p is not None:
            merged = p if merged is None else merged + p
    assert merged is not None and merged.usage_metadata["input_tokens"] == 9  # type: ignore[index]
    assert to_wire_messages([HumanMessage("go"), merged, *follow])[1] == result.wire_message()


def test_v1_output_streams_reasoning_text_and_tool_calls_as_separate_blocks() -> None:
    """``output_version="v1"`` turns each streamed chunk into content blocks and merges them
    by ``index``; LangChain numbers text and reasoning blocks itself and keeps the index a
    ``tool_call_chunk`` carries. The tool-call indexes must not collide with those blocks:
    a collision merged the first call into the reasoning block and lost its ``tool_call``."""
    reply = response_object(
        text="Checking.",
        calls=[
            ("c1", "get_weather", '{"city": "Paris"}'),
            ("c2", "get_weather", '{"city": "Rome"}'),
        ],
        reasoning=["need both"],
    )
    llm = StreamingScriptedChat(replies=[reply], sent=[], wires=[], output_version="v1")
    merged: Any = None
    for chunk in llm.stream([HumanMessage("Weather in Paris and Rome?")]):
        merged = chunk if merged is None else merged + chunk
    assert merged.tool_calls == to_ai_message(parse_response(reply)).tool_calls
    blocks = [{k: v for k, v in b.items() if k != "index"} for b in merged.content]
    assert blocks == [
        {"type": "reasoning", "reasoning": "need both"},
        {"type": "text", "text": "Checking."},
        *(
            {"type": "tool_call", **{k: tc[k] for k in ("name", "args", "id")}}
            for tc in merged.tool_calls
        ),
    ]
