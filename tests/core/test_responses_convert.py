"""Wire form with tools, and the Responses API translation (ark_context.conversation)."""

from __future__ import annotations

import doctest
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ark_context._messages as messages_module
import ark_context._replies as replies_module
import ark_context._reply_stream as reply_stream_module
import ark_context._responses_input as input_module
from ark_context import ArkInputError, ArkUnsupportedError, validate_conversation
from ark_context._exceptions import ArkStreamError
from ark_context._messages import Chain, digest_chain, namespace_digest, wire_message
from ark_context.conversation import (
    ArkResponsesInputError,
    ChatCompletionStreamAccumulator,
    ResponsesStreamAccumulator,
    ResponsesUsage,
    is_json_schema_format,
    parse_chat_completion,
    parse_response,
    to_input_items,
    to_request_fields,
    to_response_tools,
    to_text_format,
    to_tool_choice,
)
from ark_context.tool_messages import (
    assistant_wire_message,
    canonical_arguments,
    tool_call_wire,
    tool_wire_message,
    validate_conversation_with_tools,
)
from tests.responses_fixtures import response_object, spaced_json, stream_events

NS = namespace_digest(
    base_url="http://x/api/v3",
    model="doubao-seed-1-6-251015",
    mode="session",
    truncation=None,
    api_key="k",
)


def _agent_turns() -> list[dict[str, Any]]:
    return [
        wire_message("system", "You are a weather bot."),
        wire_message("user", "Weather in Paris and 北京?"),
        assistant_wire_message(
            "Checking.",
            [
                tool_call_wire("call_1", "get_weather", {"city": "Paris"}),
                tool_call_wire("call_2", "get_weather", '{"city": "北京"}'),
            ],
        ),
        tool_wire_message("call_1", "18°C"),
        tool_wire_message("call_2", [{"type": "text", "text": "25°C"}]),
    ]


@pytest.mark.parametrize(
    "module", [messages_module, input_module, replies_module, reply_stream_module]
)
def test_doctests(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# -- wire form and digest ------------------------------------------------------------------


def test_tool_wire_shapes() -> None:
    turns = _agent_turns()
    validate_conversation_with_tools(turns)
    assert turns[2]["tool_calls"][1] == {
        "id": "call_2",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"北京"}'},
    }
    assert turns[4] == {"role": "tool", "tool_call_id": "call_2", "content": "25°C"}
    assert "tool_calls" not in assistant_wire_message("plain")


def test_context_api_validation_still_rejects_tool_shapes() -> None:
    turns = _agent_turns()
    with pytest.raises(ArkInputError, match="tool_calls"):
        validate_conversation(turns)
    with pytest.raises(ArkUnsupportedError, match="does not support tools"):
        validate_conversation([turns[1], turns[3]])
    with pytest.raises(ArkInputError, match="tool_calls"):
        validate_conversation([turns[1], turns[2], wire_message("user", "x")])


def test_digest_covers_every_tool_field() -> None:
    base = _agent_turns()
    ref = digest_chain(NS, base)[-1]

    def changed(i: int, mutate: Any) -> bytes:
        msgs = json.loads(json.dumps(base))
        mutate(msgs[i])
        return digest_chain(NS, msgs)[-1]

    variants = [
        changed(2, lambda m: m["tool_calls"][0]["function"].update(arguments='{"city":"Rome"}')),
        changed(2, lambda m: m["tool_calls"][0]["function"].update(name="get_time")),
        changed(2, lambda m: m["tool_calls"][0].update(id="call_9")),
        changed(2, lambda m: m["tool_calls"].reverse()),
        changed(2, lambda m: m.pop("tool_calls")),
        changed(3, lambda m: m.update(tool_call_id="call_2")),
        changed(3, lambda m: m.update(content="19°C")),
    ]
    assert all(v != ref for v in variants)
    assert len(set(variants)) == len(variants)
    # a tool result is not a user message with the same text
    as_user = [*base[:3], wire_message("user", "18°C")]
    assert digest_chain(NS, as_user)[-1] != digest_chain(NS, base[:4])[-1]


def test_digest_of_plain_messages_is_unchanged_by_the_extension() -> None:
    import hashlib

    msgs = [wire_message("user", "hi", name="bob"), wire_message("assistant", "yo")]
    h = hashlib.blake2b(NS, digest_size=16, person=b"ark-ctx-chain")

    def d(text: str) -> bytes:
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    h.update(b"u" + d("hi") + b"n" + d("bob"))
    h.update(b"a" + d("yo"))
    assert Chain(NS).feed(msgs)[-1] == h.digest()


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "empty"),
        ([{"role": "tool", "tool_call_id": "x", "content": "r"}], "no earlier assistant"),
        ([{"role": "user", "content": "a", "tool_call_id": "x"}], "may carry only"),
        ([{"role": "tool", "content": "r"}], "without tool_call_id"),
        (
            [
                {"role": "assistant", "content": "", "tool_calls": []},
                {"role": "user", "content": "u"},
            ],
            "non-empty list",
        ),
        (
            [
                {"role": "assistant", "content": "", "tool_calls": [{"id": "a", "function": {}}]},
                {"role": "user", "content": "u"},
            ],
            "build it with tool_call_wire",
        ),
        (
            [
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"id": "", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "user", "content": "u"},
            ],
            "no id",
        ),
        (
            [
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"id": "a", "type": "function", "function": {"name": "f", "arguments": {}}}
                    ],
                },
                {"role": "user", "content": "u"},
            ],
            "JSON string",
        ),
        ([{"role": "user", "content": 3}], "content must be a string"),
        ([{"role": "robot", "content": "x"}], "role system, user, assistant or tool"),
        ([wire_message("user", "a"), wire_message("assistant", "b")], "ends with an assistant"),
    ],
)
def test_validate_conversation_with_tools_errors(bad: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(ArkInputError, match=match):
        validate_conversation_with_tools(bad)


def test_tool_wire_message_needs_an_id() -> None:
    with pytest.raises(ArkInputError, match="tool_call_id"):
        tool_wire_message("", "x")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ('{"b": 1, "a": [1, 2]}', '{"b":1,"a":[1,2]}'),
        ('{"city": "\\u5317\\u4eac"}', '{"city":"北京"}'),
        ("", "{}"),
        ("  ", "{}"),
        ("[1, 2]", "[1, 2]"),
        ("{not json", "{not json"),
    ],
)
def test_canonical_arguments(raw: str, canonical: str) -> None:
    assert canonical_arguments(raw) == canonical


# -- input items -----------------------------------------------------------------------------


def test_input_items_for_an_agent_transcript() -> None:
    assert to_input_items(_agent_turns()) == [
        {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "You are a weather bot."}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Weather in Paris and 北京?"}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking."}],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "get_weather",
            "arguments": '{"city":"北京"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18°C"},
        {"type": "function_call_output", "call_id": "call_2", "output": "25°C"},
    ]


def test_assistant_without_text_gives_only_function_calls() -> None:
    msg = assistant_wire_message("", [tool_call_wire("c", "f", {})])
    assert to_input_items([msg]) == [
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    ]


def test_empty_assistant_reply_is_still_sent() -> None:
    items = to_input_items(
        [wire_message("user", "a"), wire_message("assistant", ""), wire_message("user", "b")]
    )
    assert items[1] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": ""}],
    }
    assert parse_response({"output": items[1:2]}).wire_message() == wire_message("assistant", "")


def test_named_message_is_refused_not_silently_dropped() -> None:
    with pytest.raises(ArkResponsesInputError, match="no message names") as info:
        to_input_items([wire_message("user", "hi", name="bob")])
    assert isinstance(info.value, ArkInputError)


# -- tools, tool_choice, text.format ----------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_tools_flat_shape_exactly() -> None:
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}  # type: ignore[dict-item]
    out = to_response_tools([WEATHER, {"type": "function", "function": {"name": "now"}}])
    assert out == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather of a city.",
            "parameters": WEATHER["function"]["parameters"],  # type: ignore[index]
            "strict": False,
        },
        {
            "type": "function",
            "name": "now",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
    ]
    assert to_response_tools([strict])[0]["strict"] is True
    flat = {"type": "function", "name": "echo", "parameters": {"type": "object"}, "strict": True}
    assert to_response_tools([flat]) == [flat]


@pytest.mark.parametrize(
    ("tools", "match"),
    [
        ([{"type": "web_search"}], "'web_search' tool; ark-context sends only function tools"),
        (["not a dict"], "'str' tool"),
        ([{"type": "function", "function": {"description": "x"}}], "no function name"),
        ([WEATHER, WEATHER], "repeats the tool name"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}],
            "not a JSON Schema object",
        ),
        ([{"type": "function", "function": {"name": "f", "examples": []}}], "does not take"),
    ],
)
def test_bad_tools(tools: list[Any], match: str) -> None:
    with pytest.raises(ArkResponsesInputError, match=match):
        to_response_tools(tools)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        ("get_weather", {"type": "function", "name": "get_weather"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "name": "get_weather"},
        ),
        ({"type": "function", "name": "get_weather"}, {"type": "function", "name": "get_weather"}),
    ],
)
def test_tool_choice(choice: Any, expected: Any) -> None:
    assert to_tool_choice(choice, [WEATHER]) == expected


@pytest.mark.parametrize(
    ("choice", "tools", "match"),
    [
        ("required", [], "needs tools"),
        ("get_time", [WEATHER], "not bound"),
        ({"type": "function"}, [WEATHER], "not understood"),
        (3, [WEATHER], "not understood"),
    ],
)
def test_bad_tool_choice(choice: Any, tools: list[Any], match: str) -> None:
    with pytest.raises(ArkResponsesInputError, match=match):
        to_tool_choice(choice, tools)


def test_text_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    nested = {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": schema, "strict": True, "description": "d"},
    }
    flat = {
        "format": {
            "type": "json_schema",
            "name": "A",
            "schema": schema,
            "description": "d",
            "strict": True,
        }
    }
    assert to_text_format(nested) == flat
    assert to_text_format(flat["format"]) == flat
    assert to_text_format({"type": "json_object"}) == {"format": {"type": "json_object"}}
    assert to_text_format(None) is None
    assert is_json_schema_format(flat) and not is_json_schema_format(
        {"format": {"type": "json_object"}}
    )
    assert not is_json_schema_format(None)
    with pytest.raises(ArkResponsesInputError, match="needs a 'name'"):
        to_text_format({"type": "json_schema", "json_schema": {"schema": schema}})
    with pytest.raises(ArkResponsesInputError, match="not understood"):
        to_text_format({"type": "xml"})


# -- responses -----------------------------------------------------------------------------------


def test_parse_composite_response() -> None:
    resp = response_object(
        text_parts=["性相", "近"],
        calls=[("call_1", "get_weather", '{"location": "北京"}')],
        reasoning=["first", "second"],
    )
    resp["output"].append({"type": "web_search_call", "id": "ws_1"})  # unknown: skipped
    r = parse_response(resp)
    assert r.text == "性相近"
    assert r.reasoning == "first\n\nsecond"
    assert r.tool_calls == (
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"北京"}'},
        },
    )
    assert r.usage == ResponsesUsage(116, 104, 232, 211, 348)
    assert r.usage is not None and r.usage.uncached_input_tokens == 12
    assert (r.id, r.model, r.status, r.expire_at, r.finish_reason) == (
        "resp_1",
        "doubao-seed-1-6-251015",
        "completed",
        1760427411,
        "tool_calls",
    )
    assert r.wire_message() == {
        "role": "assistant",
        "content": "性相近",
        "tool_calls": list(r.tool_calls),
    }
    assert "reasoning" not in json.dumps(r.wire_message())


def test_parse_is_lenient_and_reports_status() -> None:
    r = parse_response(
        {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    )
    assert (r.text, r.tool_calls, r.usage, r.finish_reason, r.incomplete_reason) == (
        "",
        (),
        None,
        "length",
        "max_output_tokens",
    )
    assert parse_response({"status": "failed", "error": {"code": "X"}}).finish_reason == "error"
    assert (
        parse_response(
            {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}}
        ).finish_reason
        == "content_filter"
    )
    usage = ResponsesUsage.from_dict(
        {"input_tokens": 5, "output_tokens": 2, "input_tokens_details": None}
    )
    assert (usage.cached_tokens, usage.total_tokens) == (0, 7)


def test_invalid_calls_come_after_valid_ones() -> None:
    r = parse_response(
        response_object(calls=[("a", "f", "{broken"), ("b", "g", '{"x": 1}'), ("c", "h", "")])
    )
    assert [c["id"] for c in r.tool_calls] == ["b", "c", "a"]
    assert [c["function"]["arguments"] for c in r.tool_calls] == ['{"x":1}', "{}", "{broken"]


# -- the round trip: wire -> input items -> server output -> wire, digest-stable ---------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_calls = st.lists(
    st.tuples(
        st.from_regex(r"call_[a-z0-9]{1,6}", fullmatch=True),
        st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
        st.dictionaries(st.text(max_size=6), _json_values, max_size=4),
    ),
    max_size=3,
    unique_by=lambda c: c[0],
)


# a reply: its text, its tool calls (id, name, parsed arguments), a seed for spellings
_replies = given(text=st.text(max_size=30), calls=_calls, seed=st.integers(0, 2**16))


@settings(max_examples=150, deadline=None)
@_replies
def test_round_trip_is_digest_stable(
    text: str, calls: list[tuple[str, str, dict[str, Any]]], seed: int
) -> None:
    rng = random.Random(seed)
    # the model answers with arguments spelled its own way
    resp = response_object(
        text=text, calls=[(i, n, spaced_json(a, rng)) for i, n, a in calls], reasoning=["hmm"]
    )
    result = parse_response(resp)
    # what a framework hands back next turn: parsed args, re-serialised by the adapter
    rebuilt = assistant_wire_message(text, [tool_call_wire(i, n, a) for i, n, a in calls])
    assert result.wire_message() == rebuilt
    history = [wire_message("user", "go"), rebuilt]
    assert digest_chain(NS, [history[0], result.wire_message()]) == digest_chain(NS, history)
    # and the input items sent for it, echoed back by a server as output, parse to the same
    echoed = {"status": "completed", "output": [dict(item) for item in to_input_items([rebuilt])]}
    assert parse_response(echoed).wire_message() == rebuilt
    # the stream of the same reply accumulates to the same message
    acc = ResponsesStreamAccumulator()
    for event in stream_events(resp, rng):
        acc.feed(event)
    assert acc.finish().wire_message() == rebuilt


# -- streams ---------------------------------------------------------------------------------------


def _replay(
    events: list[dict[str, Any]],
) -> tuple[str, str, dict[int, dict[str, Any]], Any, ResponsesStreamAccumulator]:
    acc = ResponsesStreamAccumulator()
    text, reasoning, calls, final = "", "", {}, None
    for event in events:
        delta = acc.feed(event)
        if delta is None:
            continue
        text += delta.text
        reasoning += delta.reasoning
        if delta.tool_call is not None:
            c = calls.setdefault(delta.tool_call.index, {"id": None, "name": None, "args": ""})
            c["id"] = c["id"] or delta.tool_call.id
            c["name"] = c["name"] or delta.tool_call.name
            c["args"] += delta.tool_call.arguments
        if delta.result is not None:
            final = delta.result
    return text, reasoning, calls, final, acc


@pytest.mark.parametrize("seed", range(5))
def test_stream_deltas_add_up_to_the_final_result(seed: int) -> None:
    resp = response_object(
        text_parts=["Hello, ", "world"],
        calls=[("call_a", "f", '{"q": "x y z"}'), ("call_b", "g", "{}")],
        reasoning=["step one", "step two"],
    )
    text, reasoning, calls, final, acc = _replay(stream_events(resp, random.Random(seed)))
    assert final == parse_response(resp) == acc.finish()
    assert text == final.text == "Hello, world"
    assert reasoning == final.reasoning == "step one\n\nstep two"
    assert calls == {
        0: {"id": "call_a", "name": "f", "args": '{"q": "x y z"}'},
        1: {"id": "call_b", "name": "g", "args": "{}"},
    }
    assert acc.response_id == "resp_1"
    assert final.usage.reasoning_tokens == 211


def test_stream_fills_arguments_the_deltas_missed() -> None:
    events = [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""},
        },
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"a"'},
        {
            "type": "response.function_call_arguments.done",
            "output_index": 0,
            "arguments": '{"a": 1}',
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"a": 1}'},
        },
    ]
    _, _, calls, _, _ = _replay(events)
    assert calls == {0: {"id": "c", "name": "f", "args": '{"a": 1}'}}
    # only the done item, no deltas: one chunk with everything
    _, _, calls, _, _ = _replay([events[3]])
    assert calls == {0: {"id": "c", "name": "f", "args": '{"a": 1}'}}


def test_stream_terminal_without_output_keeps_streamed_content() -> None:
    resp = response_object(text="abc", calls=[("c", "f", '{"k": 2}')])
    events = stream_events(resp)
    events[-1] = {**events[-1], "response": {**resp, "output": []}}
    _, _, _, final, _ = _replay(events)
    assert final.text == "abc" and final.tool_calls[0]["function"]["arguments"] == '{"k":2}'


def test_stream_incomplete_is_a_result() -> None:
    _, _, _, final, _ = _replay(stream_events(response_object(text="cut", status="incomplete")))
    assert (final.status, final.finish_reason) == ("incomplete", "length")


@pytest.mark.parametrize(
    ("events", "match"),
    [
        (
            [{"type": "error", "code": "InternalServiceError", "message": "boom"}],
            "InternalServiceError.*boom",
        ),
        ([{"error": {"code": "RateLimitExceeded", "message": "slow down"}}], "RateLimitExceeded"),
        (
            [
                {
                    "type": "response.failed",
                    "response": {"status": "failed", "error": {"code": "E1", "message": "bad"}},
                }
            ],
            "E1: bad",
        ),
        ([{"type": "response.completed"}], "has no response"),
        (
            [
                {
                    "type": "response.function_call_arguments.delta",
                    "output_index": 0,
                    "delta": '{"a"',
                },
                {
                    "type": "response.function_call_arguments.done",
                    "output_index": 0,
                    "arguments": '{"b": 1}',
                },
            ],
            "inconsistent",
        ),
    ],
)
def test_stream_errors_raise(events: list[dict[str, Any]], match: str) -> None:
    acc = ResponsesStreamAccumulator()
    with pytest.raises(ArkStreamError, match=match):
        for event in events:
            acc.feed(event)


def test_stream_without_terminal_event_fails_and_names_the_id() -> None:
    events = stream_events(response_object(text="x"))[:-1]
    acc = ResponsesStreamAccumulator()
    for event in events:
        acc.feed(event)
    with pytest.raises(ArkStreamError, match="resp_1"):
        acc.finish()


# -- request fields ----------------------------------------------------------------------------


def test_request_fields_convert_everything_at_once() -> None:
    fields, dropped = to_request_fields(
        {
            "temperature": 0.1,
            "top_p": 0.5,
            "max_tokens": 99,
            "stop": ["END"],
            "tools": [WEATHER],
            "tool_choice": "get_weather",
            "response_format": {"type": "json_object"},
            "thinking": {"type": "disabled"},
            "reasoning_effort": "minimal",
            "parallel_tool_calls": False,
            "top_logprobs": None,
        }
    )
    assert dropped == ["stop"]
    assert fields == {
        "temperature": 0.1,
        "top_p": 0.5,
        "max_output_tokens": 99,
        "tools": to_response_tools([WEATHER]),
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_object"}},
        "thinking": {"type": "disabled"},
        "reasoning": {"effort": "minimal"},
        "parallel_tool_calls": False,
    }
    assert to_request_fields({"stop": []}) == ({}, [])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"frequency_penalty": 0.5}, "not supported by the Ark Responses API"),
        ({"logprobs": True}, "not supported"),
        ({"instructions": "x"}, "set by ark-context"),
        ({"previous_response_id": "resp_1"}, "set by ark-context"),
        ({"thinking": "on"}, "thinking="),
        ({"frobnicate": 1}, "knows how to send"),
        ({"tool_choice": "required"}, "needs tools"),
    ],
)
def test_request_fields_errors(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ArkResponsesInputError, match=match):
        to_request_fields(params)


# -- chat completions with tools: the same normalised result --------------------------------------


def _chat_completion(
    text: str | None, calls: list[tuple[str, str, str]], reasoning: str = "", finish: str = "stop"
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls
        ]
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": "chatcmpl-1",
        "model": "doubao-1-5-pro-32k-250115",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 20,
            "total_tokens": 70,
            "prompt_tokens_details": {"cached_tokens": 30},
            "completion_tokens_details": {"reasoning_tokens": 5},
        },
    }


def _chat_chunks(completion: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """The chunks a chat-completions stream sends for ``completion`` (pieces at random)."""
    msg = completion["choices"][0]["message"]
    base = {"id": completion["id"], "model": completion["model"], "object": "chat.completion.chunk"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def pieces(text: str) -> list[str]:
        out, i = [], 0
        while i < len(text):
            j = i + rng.randint(1, 4)
            out.append(text[i:j])
            i = j
        return out

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"reasoning_content": p}) for p in pieces(msg.get("reasoning_content") or "")]
    out += [chunk({"content": p}) for p in pieces(msg.get("content") or "")]
    for k, call in enumerate(msg.get("tool_calls") or ()):
        fn = call["function"]
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": k,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": fn["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        out += [
            chunk({"tool_calls": [{"index": k, "function": {"arguments": p}}]})
            for p in pieces(fn["arguments"])
        ]
    out.append(chunk({}, completion["choices"][0]["finish_reason"]))
    out.append({**base, "choices": [], "usage": completion["usage"]})
    return out


@settings(max_examples=100, deadline=None)
@_replies
def test_chat_completion_parses_to_the_same_wire_form(
    text: str, calls: list[tuple[str, str, dict[str, Any]]], seed: int
) -> None:
    rng = random.Random(seed)
    completion = _chat_completion(
        text or None, [(i, n, spaced_json(a, rng)) for i, n, a in calls], reasoning="r"
    )
    expected = assistant_wire_message(text, [tool_call_wire(i, n, a) for i, n, a in calls])
    result = parse_chat_completion(completion)
    assert result.wire_message() == expected
    assert (result.reasoning, result.usage) == ("r", ResponsesUsage(50, 30, 20, 5, 70))

    acc = ChatCompletionStreamAccumulator()
    streamed_text, args = "", {}
    for chunk in _chat_chunks(completion, rng):
        for d in acc.feed(chunk):
            streamed_text += d.text
            if d.tool_call is not None:
                args[d.tool_call.index] = args.get(d.tool_call.index, "") + d.tool_call.arguments
    final = acc.finish().result
    assert final is not None and final.wire_message() == expected
    assert streamed_text == text
    sent_calls = completion["choices"][0]["message"].get("tool_calls") or []
    assert [args[k] for k in sorted(args)] == [c["function"]["arguments"] for c in sent_calls]
    assert (final.usage, final.reasoning, final.id) == (result.usage, "r", "chatcmpl-1")


def test_chat_completion_status_and_errors() -> None:
    assert (
        parse_chat_completion(_chat_completion("cut", [], finish="length")).finish_reason
        == "length"
    )
    assert parse_chat_completion({"choices": []}).wire_message() == {
        "role": "assistant",
        "content": "",
    }
    acc = ChatCompletionStreamAccumulator()
    acc.feed(
        {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "content_filter"}]}
    )
    assert acc.finish().result.finish_reason == "content_filter"  # type: ignore[union-attr]
    with pytest.raises(ArkStreamError, match="Overloaded"):
        acc.feed({"error": {"code": "ServerOverloaded", "message": "Overloaded"}})
