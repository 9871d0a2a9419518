"""Tools on a Context-API model: such a call goes to plain ``/chat/completions`` with its
tools (the Context API has none), reported as ``bypassed`` / ``tools``. Ark's replies are
recorded (respx), since the emulator's ``/chat/completions`` answers text only."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_ark_context import ChatArkContext

BASE = "http://ark.test/api/v3"
MODEL = "doubao-1-5-pro-32k-250115"


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49},
    }


def _llm() -> ChatArkContext:
    return ChatArkContext(model=MODEL, api_key="k", base_url=BASE, max_retries=0)


def test_a_tool_call_round_trip_goes_plain_with_its_tools() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Beijing"}'},
    }
    replies = iter(
        [
            _completion({"role": "assistant", "content": "", "tool_calls": [call]}, "tool_calls"),
            _completion({"role": "assistant", "content": "Sunny."}, "stop"),
        ]
    )
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").mock(
            side_effect=lambda request: httpx.Response(200, json=next(replies))
        )
        llm = _llm().bind_tools([get_weather])
        history: list[Any] = [SystemMessage("Be brief."), HumanMessage("Weather in Beijing?")]
        first = llm.invoke(history)
        assert first.tool_calls == [
            {
                "name": "get_weather",
                "args": {"city": "Beijing"},
                "id": "call_1",
                "type": "tool_call",
            }
        ]
        meta = first.response_metadata
        assert (meta["context_outcome"], meta["context_miss_reason"]) == ("bypassed", "tools")
        assert meta["finish_reason"] == "tool_calls"
        history += [first, get_weather.invoke(first.tool_calls[0])]
        second = llm.invoke(history)
    assert second.content == "Sunny."
    bodies = [json.loads(c.request.content) for c in route.calls]
    assert all(b["tools"][0]["function"]["name"] == "get_weather" for b in bodies)
    assert bodies[1]["messages"][2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Beijing"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny in Beijing"},
    ]
    assert isinstance(history[2], AIMessage) and isinstance(history[3], ToolMessage)


class City(BaseModel):
    """A city."""

    name: str


def test_structured_output_by_function_calling_on_the_plain_path() -> None:
    call = {
        "id": "call_2",
        "type": "function",
        "function": {"name": "City", "arguments": '{"name": "Paris"}'},
    }
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(
            200,
            json=_completion(
                {"role": "assistant", "content": "", "tool_calls": [call]}, "tool_calls"
            ),
        )
        assert _llm().with_structured_output(City).invoke("Capital of France?") == City(
            name="Paris"
        )
    body = json.loads(route.calls[0].request.content)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "City"}}
