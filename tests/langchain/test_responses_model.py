"""ChatArkContext on a Responses-API model, against the emulator: streamed tool calls,
reasoning (surfaced, counted, never resent), structured output by each method and what it
does to the cache, and message names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from ark_context.emulator import Emulator, FunctionCall
from langchain_ark_context import ChatArkContext

pytestmark = pytest.mark.integration

MODEL = "doubao-seed-1-6-251015"


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
def llm(responses_emu: Emulator) -> Iterator[ChatArkContext]:
    yield ChatArkContext(
        model=MODEL, api_key="k", base_url=responses_emu.base_url, max_retries=0, mode="session"
    )


def _stream(model: Any, prompt: Any) -> Any:
    full: Any = None
    for chunk in model.stream(prompt):
        full = chunk if full is None else full + chunk
    return full


def test_streamed_tool_calls_add_up_and_chain_on(
    llm: ChatArkContext, responses_emu: Emulator
) -> None:
    responses_emu.responder = lambda m, p: (
        "Sunny."
        if m[-1].get("type") == "function_call_output"
        else FunctionCall("get_weather", {"city": "Beijing"})
    )
    bound = llm.bind_tools([get_weather])
    history: list[Any] = [SystemMessage("Be brief."), HumanMessage("Weather in Beijing?")]
    full = _stream(bound, history)
    assert full.tool_call_chunks and full.tool_call_chunks[0]["name"] == "get_weather"
    assert full.tool_calls == [
        {
            "name": "get_weather",
            "args": {"city": "Beijing"},
            "id": full.tool_calls[0]["id"],
            "type": "tool_call",
        }
    ]
    assert full.response_metadata["finish_reason"] == "tool_calls"
    history += [full, get_weather.invoke(full.tool_calls[0])]
    assert isinstance(history[-1], ToolMessage)
    reply = bound.invoke(history)
    assert reply.content == "Sunny."
    meta = reply.response_metadata
    assert meta["context_outcome"] == "reused"
    assert meta["previous_response_id"] == full.response_metadata["response_id"]


def test_reasoning_is_surfaced_counted_and_never_resent(
    llm: ChatArkContext, responses_emu: Emulator
) -> None:
    thinking = ChatArkContext(
        model=MODEL,
        api_key="k",
        base_url=responses_emu.base_url,
        max_retries=0,
        thinking="enabled",
        mode="session",
    )
    history: list[Any] = [HumanMessage("Why is the sky blue?")]
    first = thinking.invoke(history)
    assert first.additional_kwargs["reasoning_content"].startswith("Thinking about")
    assert next(b["type"] for b in first.content_blocks) == "reasoning"
    assert first.usage_metadata is not None
    assert first.usage_metadata["output_token_details"]["reasoning"] > 0
    streamed = _stream(thinking, history)
    assert (
        streamed.additional_kwargs["reasoning_content"]
        == first.additional_kwargs["reasoning_content"]
    )
    history += [first, HumanMessage("And at sunset?")]
    second = thinking.invoke(history)
    assert second.response_metadata["context_outcome"] == "reused"
    seen = responses_emu.records()[-1]["messages"]
    assert [m.get("role") for m in seen] == ["user", "assistant", "user"]
    assert "Thinking about" not in str(seen)


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


def test_structured_output_methods_and_the_cache(
    llm: ChatArkContext, responses_emu: Emulator
) -> None:
    history: list[Any] = [SystemMessage("Answer in JSON."), HumanMessage("Hi")]
    history += [llm.invoke(history), HumanMessage("The capital of France?")]
    # function calling (the default) keeps the chain's cache: only the tool set differs,
    # so a new chain starts once, and the next call with the same tools reuses it
    responses_emu.responder = lambda m, p: FunctionCall(
        "City", {"name": "Paris", "country": "France"}
    )
    by_tool = llm.with_structured_output(City, include_raw=True).invoke(history)
    assert by_tool["parsed"] == City(name="Paris", country="France")
    assert by_tool["raw"].response_metadata["context_miss_reason"] == "new_chain"
    # json_schema after a cached turn is refused by the API: the call runs uncached
    responses_emu.responder = lambda m, p: '{"name": "Paris", "country": "France"}'
    by_schema = llm.with_structured_output(City, method="json_schema", include_raw=True).invoke(
        history
    )
    assert by_schema["parsed"] == City(name="Paris", country="France")
    meta = by_schema["raw"].response_metadata
    assert (meta["context_outcome"], meta["context_miss_reason"]) == ("bypassed", "json_schema")
    # json_object is allowed in a cached chain
    by_json = llm.with_structured_output(City, method="json_mode", include_raw=True).invoke(history)
    assert by_json["parsed"] == City(name="Paris", country="France")
    assert by_json["raw"].response_metadata["context_outcome"] == "reused"


def test_message_names_are_left_out_on_the_responses_api(
    llm: ChatArkContext, responses_emu: Emulator
) -> None:
    reply = llm.invoke([HumanMessage("hello", name="ann")])
    assert isinstance(reply, AIMessage)
    assert responses_emu.records()[-1]["messages"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    ]


def test_thinking_setting_is_checked_against_the_model_before_any_call() -> None:
    from ark_context import ArkConfigError

    with pytest.raises(ArkConfigError, match="takes thinking 'enabled' or 'disabled', not 'auto'"):
        ChatArkContext(model=MODEL, api_key="k", thinking="auto")
    with pytest.raises(ArkConfigError, match="takes no thinking setting"):
        ChatArkContext(model="kimi-k2-250905", api_key="k", thinking="enabled")
    llm = ChatArkContext(model="ep-1", api_key="k", thinking="disabled")  # unknown: sent
    assert llm._get_request_payload([HumanMessage("hi")])[1] == {"thinking": {"type": "disabled"}}


class Trip(BaseModel):
    """A trip with an optional field, as most pydantic schemas have."""

    city: str
    nights: int | None = None


def test_json_schema_output_takes_pydantic_optional_fields(
    llm: ChatArkContext, responses_emu: Emulator
) -> None:
    """pydantic writes ``"default": null`` for an optional field; Ark takes no JSON null, so
    the schema is sent without it (as tool parameters are) instead of being refused."""
    seen: list[Any] = []

    def responder(messages: Any, params: Any) -> str:
        seen.append(params["text"]["format"]["schema"])
        return '{"city": "Kyoto", "nights": 2}'

    responses_emu.responder = responder
    structured = llm.with_structured_output(Trip, method="json_schema")
    assert structured.invoke("Plan a trip to Kyoto.") == Trip(city="Kyoto", nights=2)
    nights = seen[0]["properties"]["nights"]
    assert nights == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert seen[0]["required"] == ["city"]
