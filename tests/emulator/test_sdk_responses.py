"""Conformance: the official SDK's Responses API (volcengine-ark-runtime) drives the emulator
over loopback, unchanged: create (plain and streamed), retrieve, delete and input items,
sync and async. The SDK sends explicit nulls for every unset field; retries are disabled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from volcenginesdkarkruntime import Ark, AsyncArk
from volcenginesdkarkruntime._exceptions import (
    ArkAPIConnectionError,
    ArkBadRequestError,
    ArkInternalServerError,
    ArkNotFoundError,
    ArkRateLimitError,
)

from ark_context.emulator import MESSAGE_OVERHEAD, Emulator, FunctionCall, run_emulator

pytestmark = pytest.mark.integration

MODEL = "doubao-seed-1-6-251015"
KEY = "sdk-key"
SYSTEM = {"role": "system", "content": "你是豆包,是由字节跳动开发的 AI 人工智能助手"}
CACHING = {"type": "enabled"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "city weather",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with run_emulator(api_keys={KEY}) as e:
        yield e


@pytest.fixture
def emu(server: Emulator) -> Iterator[Emulator]:
    server.reset()
    server.responder = Emulator().responder
    yield server
    server.reset()


@pytest.fixture
def ark(emu: Emulator) -> Iterator[Ark]:
    client = Ark(base_url=emu.base_url, api_key=KEY, max_retries=0, timeout=10)
    yield client
    client.close()


def test_caching_chain_through_the_sdk(ark: Ark, emu: Emulator):
    t1 = ark.responses.create(
        model=MODEL, input=[SYSTEM, {"role": "user", "content": "你好"}], caching=CACHING
    )
    assert t1.status == "completed" and t1.usage is not None
    assert t1.usage.input_tokens_details.cached_tokens == 0
    t2 = ark.responses.create(
        model=MODEL, input="再详细点", previous_response_id=t1.id, caching=CACHING
    )
    assert t2.usage is not None
    # the cache holds turn 1's input and its reply, as a message (MESSAGE_OVERHEAD more)
    assert t2.usage.input_tokens_details.cached_tokens == (
        t1.usage.input_tokens + t1.usage.output_tokens + MESSAGE_OVERHEAD
    )
    assert t2.output[0].content[0].text.endswith("echo: 再详细点")  # type: ignore[union-attr]
    # the SDK sent nulls for every unset field (thinking: null counts as unset)
    rec = emu.response_records()[-1]
    assert rec["messages"][-1] == {"role": "user", "content": "再详细点"}
    got = ark.responses.retrieve(t2.id)
    assert got.id == t2.id and got.previous_response_id == t1.id
    assert got.expire_at == t2.expire_at


def test_stream_through_the_sdk(ark: Ark, emu: Emulator):
    stream = ark.responses.create(
        model=MODEL, input="tell me a story", stream=True, thinking={"type": "enabled"}
    )
    events = list(stream)
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    reasoning = "".join(
        e.delta  # type: ignore[union-attr]
        for e in events
        if e.type == "response.reasoning_summary_text.delta"
    )
    final = events[-1].response  # type: ignore[union-attr]
    assert text == emu.response_records()[-1]["reply"]
    assert reasoning.startswith("Thinking about")
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    # GET leaves the reasoning out
    assert [o.type for o in ark.responses.retrieve(final.id).output] == ["message"]


def test_function_call_round_trip_through_the_sdk(ark: Ark, emu: Emulator):
    def responder(messages, params):  # type: ignore[no-untyped-def]
        if messages[-1].get("type") == "function_call_output":
            return "sunny, says the tool"
        return FunctionCall("get_weather", {"location": "北京"})

    emu.responder = responder
    t1 = ark.responses.create(model=MODEL, input="北京天气?", tools=[WEATHER], caching=CACHING)
    call = t1.output[0]
    assert call.type == "function_call"
    assert json.loads(call.arguments) == {"location": "北京"}  # type: ignore[union-attr]
    t2 = ark.responses.create(
        model=MODEL,
        previous_response_id=t1.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"t": 20}'}],  # type: ignore[union-attr]
        caching=CACHING,
    )
    assert t2.output[0].content[0].text == "sunny, says the tool"  # type: ignore[union-attr]
    assert t2.usage is not None and t2.usage.input_tokens_details.cached_tokens > 0


def test_input_items_and_delete_through_the_sdk(ark: Ark):
    t1 = ark.responses.create(model=MODEL, input=[SYSTEM, {"role": "user", "content": "一"}])
    t2 = ark.responses.create(model=MODEL, input="二", previous_response_id=t1.id)
    page = ark.input_items.list(t2.id, limit=2, order="asc")
    items = list(page)  # the SDK follows has_more with after=<last id>
    assert [i.role for i in items] == ["system", "user", "assistant", "user"]  # type: ignore[union-attr]
    assert len({i.id for i in items}) == 4
    assert ark.responses.delete(t1.id) is None  # the SDK discards {"deleted": true}
    with pytest.raises(ArkNotFoundError) as gone:
        ark.responses.retrieve(t1.id)
    assert gone.value.code == "NotFound.Response"
    with pytest.raises(ArkNotFoundError):
        ark.responses.create(model=MODEL, input="三", previous_response_id=t1.id)


def test_rule_errors_raise_sdk_exceptions(ark: Ark):
    with pytest.raises(ArkBadRequestError) as instr:
        ark.responses.create(model=MODEL, input="x", instructions="Be brief.", caching=CACHING)
    assert instr.value.code == "InvalidParameter" and instr.value.param == "instructions"
    assert "caching is not supported for instructions" in str(instr.value)
    with pytest.raises(ArkBadRequestError) as prefix:
        ark.responses.create(
            model=MODEL, input="short", caching={"type": "enabled", "prefix": True}
        )
    assert prefix.value.param == "input"


def test_faults_through_the_sdk(ark: Ark, emu: Emulator):
    emu.inject_fault("/responses", "status", status=429)
    with pytest.raises(ArkRateLimitError):
        ark.responses.create(model=MODEL, input="x")
    emu.inject_fault("/responses", "status", status=500)
    with pytest.raises(ArkInternalServerError):
        ark.responses.create(model=MODEL, input="x")
    emu.inject_fault("/responses", "drop")
    with pytest.raises(ArkAPIConnectionError):
        ark.responses.create(model=MODEL, input="x")
    emu.inject_fault("/responses", "cut_stream", after_chunks=3)
    got = []
    with pytest.raises(httpx.RemoteProtocolError):
        for event in ark.responses.create(model=MODEL, input="y", stream=True):
            got.append(event)
    assert [e.type for e in got] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]
    # the SDK yields a documented error event as an ordinary event
    emu.inject_fault("/responses", "stream_error", after_chunks=2)
    events = list(ark.responses.create(model=MODEL, input="z", stream=True))
    assert events[-1].type == "error"
    # drop and cut both left a stored response whose id only the emulator knows
    assert len(emu.responses()) == 2


async def test_async_sdk(emu: Emulator):
    client = AsyncArk(base_url=emu.base_url, api_key=KEY, max_retries=0, timeout=10)
    t1 = await client.responses.create(model=MODEL, input=[SYSTEM, {"role": "user", "content": "a"}],
                                       caching=CACHING)  # fmt: skip
    stream = await client.responses.create(
        model=MODEL, input="b", previous_response_id=t1.id, caching=CACHING, stream=True
    )
    events = [e async for e in stream]
    final = events[-1].response  # type: ignore[union-attr]
    assert final.usage.input_tokens_details.cached_tokens > 0
    got = await client.responses.retrieve(final.id)
    assert got.previous_response_id == t1.id
    page = await client.input_items.list(final.id)
    items = [i async for i in page]
    assert len(items) == 4
    await client.responses.delete(final.id)
    with pytest.raises(ArkNotFoundError):
        await client.responses.retrieve(final.id)
    await client.close()
