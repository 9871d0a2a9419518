"""ArkContextLLM as a LlamaIndex ``FunctionCallingLLM`` on a Responses-API model, against
the emulator: ``chat_with_tools`` (sync, async, streamed), tool-call extraction, the
parallel-call rule, ``structured_predict``, ``as_structured_llm`` and reasoning as a
``ThinkingBlock``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ThinkingBlock, ToolCallBlock
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from ark_context import ArkInputError
from ark_context.emulator import Emulator, FunctionCall
from llama_index_ark_context import ArkContextLLM

pytestmark = pytest.mark.integration

MODEL = "doubao-seed-1-6-251015"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def get_time(city: str) -> str:
    """The local time in a city."""
    return f"noon in {city}"


TOOLS = [FunctionTool.from_defaults(get_weather), FunctionTool.from_defaults(get_time)]


def make_llm(emu: Emulator, **kw: Any) -> ArkContextLLM:
    """A session-mode LLM on the Responses-API model, talking to ``emu``."""
    return ArkContextLLM(
        model=MODEL, api_key="k", base_url=emu.base_url, max_retries=0, mode="session", **kw
    )


@pytest.fixture
def llm(responses_emu: Emulator) -> Iterator[ArkContextLLM]:
    yield make_llm(responses_emu)


def _both_tools(messages: Any, params: Any) -> Any:
    if messages[-1].get("type") == "function_call_output":
        return "Sunny at noon."
    return [
        FunctionCall("get_weather", {"city": "Paris"}),
        FunctionCall("get_time", {"city": "Paris"}),
    ]


def test_chat_with_tools_and_the_parallel_call_rule(
    llm: ArkContextLLM, responses_emu: Emulator
) -> None:
    responses_emu.responder = _both_tools
    parallel = llm.chat_with_tools(
        TOOLS, "Weather and time in Paris?", allow_parallel_tool_calls=True
    )
    calls = llm.get_tool_calls_from_response(parallel)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"city": "Paris"}),
    ]
    assert parallel.additional_kwargs["context_outcome"] == "created"
    single = llm.chat_with_tools(TOOLS, "Weather and time in Paris?")
    assert [c.tool_name for c in llm.get_tool_calls_from_response(single)] == ["get_weather"]
    # the tool results go back as TOOL messages; the chain continues from the first reply
    history = [ChatMessage(role="user", content="Weather and time in Paris?"), parallel.message]
    for call in calls:
        output = {"get_weather": get_weather, "get_time": get_time}[call.tool_name](
            **call.tool_kwargs
        )
        history.append(
            ChatMessage(
                role="tool", content=output, additional_kwargs={"tool_call_id": call.tool_id}
            )
        )
    final = llm.chat_with_tools(TOOLS, chat_history=history)
    assert final.message.content == "Sunny at noon."
    assert final.additional_kwargs["context_outcome"] == "reused"
    assert final.additional_kwargs["cached_tokens"] > 0
    assert llm.get_tool_calls_from_response(final, error_on_no_tool_call=False) == []


async def test_achat_and_streamed_tool_calls(llm: ArkContextLLM, responses_emu: Emulator) -> None:
    responses_emu.responder = lambda m, p: FunctionCall("get_weather", {"city": "Oslo"})
    reply = await llm.achat_with_tools(TOOLS, "Weather in Oslo?", tool_required=True)
    assert llm.get_tool_calls_from_response(reply)[0].tool_kwargs == {"city": "Oslo"}
    last = list(llm.stream_chat_with_tools(TOOLS, "Weather in Oslo?"))[-1]
    blocks = [b for b in last.message.blocks if isinstance(b, ToolCallBlock)]
    assert [(b.tool_name, b.tool_kwargs) for b in blocks] == [("get_weather", '{"city":"Oslo"}')]
    assert last.raw["usage"]["prompt_tokens"] > 0  # the last response carries the usage
    alast = [r async for r in await llm.astream_chat_with_tools(TOOLS, "Weather in Oslo?")][-1]
    assert llm.get_tool_calls_from_response(alast)[0].tool_name == "get_weather"


def test_bad_tool_choice_fails_before_the_network(llm: ArkContextLLM) -> None:
    with pytest.raises(ArkInputError, match="not bound"):
        llm.chat_with_tools(TOOLS, "hi", tool_choice="launch_rocket")


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


def test_structured_predict_and_structured_llm(llm: ArkContextLLM, responses_emu: Emulator) -> None:
    from llama_index.core.prompts import PromptTemplate

    responses_emu.responder = lambda m, p: FunctionCall(
        "City", {"name": "Paris", "country": "France"}
    )
    city = llm.structured_predict(
        City, PromptTemplate("The capital of {country}?"), country="France"
    )
    assert city == City(name="Paris", country="France")
    structured = llm.as_structured_llm(City)
    reply = structured.chat([ChatMessage(role="user", content="The capital of France?")])
    assert reply.raw == City(name="Paris", country="France")


def test_reasoning_comes_back_as_a_thinking_block_and_is_never_resent(
    llm: ArkContextLLM, responses_emu: Emulator
) -> None:
    thinking = make_llm(responses_emu, thinking="enabled")
    history = [ChatMessage(role="user", content="Why is the sky blue?")]
    first = thinking.chat(history)
    blocks = [b for b in first.message.blocks if isinstance(b, ThinkingBlock)]
    assert blocks and blocks[0].content
    assert first.additional_kwargs["reasoning_tokens"] > 0
    history += [first.message, ChatMessage(role="user", content="And at sunset?")]
    second = thinking.chat(history)
    assert second.additional_kwargs["context_outcome"] == "reused"
    seen = responses_emu.records()[-1]["messages"]
    assert all("Thinking about" not in str(m.get("content")) for m in seen)


def test_thinking_setting_is_checked_against_the_model() -> None:
    from ark_context import ArkConfigError

    with pytest.raises(ArkConfigError, match="not 'auto'"):
        ArkContextLLM(model=MODEL, api_key="k", thinking="auto")
    assert (
        ArkContextLLM(model="doubao-seed-1-6-250615", api_key="k", thinking="auto").thinking
        == "auto"
    )


async def test_a_streams_last_response_names_the_response_it_made(
    llm: ArkContextLLM, responses_emu: Emulator
) -> None:
    """The route fields a stream only learns at its end (the new response's id and its
    deadline) are on the last streamed response, as on ``chat``'s, sync and async."""
    history = [ChatMessage(role="user", content="Hello there")]
    last = list(llm.stream_chat(history))[-1]
    made = responses_emu.records()[-1]["response_id"]
    assert made is not None
    assert last.additional_kwargs["response_id"] == made
    assert last.additional_kwargs["expire_at"] is not None
    history += [last.message, ChatMessage(role="user", content="And again")]
    alast = [r async for r in await llm.astream_chat(history)][-1]
    record = responses_emu.records()[-1]
    assert record["previous_response_id"] == made  # the stream's reply was chained from
    assert alast.additional_kwargs["response_id"] == record["response_id"]
    assert alast.additional_kwargs["previous_response_id"] == made
    assert alast.additional_kwargs["expire_at"] == last.additional_kwargs["expire_at"]


async def test_a_stream_cut_by_max_tokens_ends_like_chat(responses_emu: Emulator) -> None:
    """A reply cut short by ``max_tokens`` (``response.incomplete``) is a reply, streamed
    or not, sync or async, as on the Context API: the truncated text, the usage, and the
    next turn continues the chain from it."""
    llm = make_llm(responses_emu, max_tokens=4)
    history = [ChatMessage(role="user", content="Tell me a long story about the sea")]
    whole = llm.chat(history)
    assert whole.additional_kwargs["completion_tokens"] == 4
    last = list(llm.stream_chat(history))[-1]
    alast = [r async for r in await llm.astream_chat(history)][-1]
    for streamed in (whole, last, alast):
        assert streamed.additional_kwargs["finish_reason"] == "length"
    for streamed in (last, alast):
        assert streamed.message.content == whole.message.content
        assert streamed.additional_kwargs["completion_tokens"] == 4
        assert streamed.raw["status"] == "incomplete"
    history += [alast.message, ChatMessage(role="user", content="Go on")]
    going_on = [r async for r in await llm.astream_chat(history)][-1]
    assert (
        going_on.additional_kwargs["previous_response_id"] == alast.additional_kwargs["response_id"]
    )
    assert going_on.additional_kwargs["cached_tokens"] > 0


async def test_a_per_call_model_picks_its_own_api_and_is_counted_under_its_name(
    responses_emu: Emulator,
) -> None:
    """``chat(..., model=...)`` (as LlamaIndex's OpenAI LLM and ``ChatArkContext`` take it)
    calls that model, on the caching API it uses, sync, async and streamed; the counter
    books the call under that model."""
    from llama_index_ark_context import CachedTokenCounter

    llm = ArkContextLLM(model="ep-context-model", api_key="k", base_url=responses_emu.base_url)
    history = [ChatMessage(role="user", content="Hello there")]
    with CachedTokenCounter() as counter:
        replies = [
            llm.chat(history, model=MODEL),
            list(llm.stream_chat(history, model=MODEL))[-1],
            await llm.achat(history, model=MODEL),
            [r async for r in await llm.astream_chat(history, model=MODEL)][-1],
            llm.complete("Hello there", model=MODEL),
        ]
    records = responses_emu.records()
    assert [(r["path"], r["model"]) for r in records] == [("/responses", MODEL)] * 5
    assert all(r.additional_kwargs["caching_api"] == "responses" for r in replies)
    assert list(counter.by_model) == [MODEL] and counter.by_model[MODEL].calls == 5
    with pytest.raises(ArkInputError, match="model"):
        llm.chat(history, model=7)
    assert len(responses_emu.records()) == 5  # refused before the network
