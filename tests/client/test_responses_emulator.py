"""The Responses client against the emulator over loopback (``/responses`` endpoints of
the spec): chains with caching, streams, retrieve, input items, delete, function calls.

Needs the emulator's ``/responses`` endpoints (built on another branch to the same spec).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ark_context import ArkContextClient, AsyncArkContextClient
from ark_context._exceptions import ArkAPIError, ArkNotFoundError, ArkResponseGoneError
from ark_context._responses_models import CachingParam, FunctionCall, InputMessage

pytestmark = pytest.mark.integration

MODEL = "doubao-seed-1-6-251015"
KEY = "sk-integration-responses-1"
CACHE: CachingParam = {"type": "enabled"}
SYSTEM = {"role": "system", "content": "You are a terse assistant. " * 20}


@pytest.fixture(autouse=True)
def _needs_responses_endpoints(emu: Any) -> None:
    """Skip while the emulator has no ``/responses`` (before the emulator branch lands)."""
    probe = httpx.post(
        emu.base_url + "/responses", json={}, headers={"Authorization": f"Bearer {KEY}"}
    )
    if probe.status_code == 404:
        pytest.skip("this emulator has no /responses endpoints yet")


def client(emu: Any) -> ArkContextClient:
    return ArkContextClient(api_key=KEY, base_url=emu.base_url, share_pool=False)


def test_a_caching_chain_reads_the_cache_on_the_second_turn(emu: Any) -> None:
    c = client(emu)
    first = c.responses.create(
        model=MODEL,
        input=[SYSTEM, {"role": "user", "content": "Hello, my name is Ada."}],
        caching=CACHE,
        thinking={"type": "disabled"},
    )
    assert first.id and first.status == "completed" and first.output_text
    assert first.usage is not None and first.usage.cached_tokens == 0
    second = c.responses.create(
        model=MODEL,
        input="What is my name?",
        previous_response_id=first.id,
        caching=CACHE,
        thinking={"type": "disabled"},
    )
    assert second.id != first.id
    assert second.usage is not None
    assert 0 < second.usage.cached_tokens <= second.usage.input_tokens
    items = c.responses.all_input_items(second.id)
    texts = [json.dumps(i.content) for i in items if isinstance(i, InputMessage)]
    assert any("Ada" in t for t in texts) and any("What is my name?" in t for t in texts)
    assert c.responses.retrieve(second.id).id == second.id


def test_stream_reports_id_text_and_usage(emu: Any) -> None:
    c = client(emu)
    with c.responses.stream(
        model=MODEL, input=[SYSTEM, {"role": "user", "content": "Tell me a story."}], caching=CACHE
    ) as s:
        kinds = [e.type for e in s]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert s.response_id and s.text and s.usage is not None and s.usage.output_tokens > 0
    assert c.responses.retrieve(s.response_id).output_text == s.text


def test_delete_then_chain_from_it_is_gone(emu: Any) -> None:
    c = client(emu)
    r = c.responses.create(model=MODEL, input="hi", caching=CACHE)
    d = c.responses.delete(r.id)
    assert d.deleted and d.id == r.id and not d.already_gone
    assert c.responses.delete(r.id).deleted  # 404: already gone
    with pytest.raises(ArkNotFoundError):
        c.responses.retrieve(r.id)
    with pytest.raises(ArkResponseGoneError):
        c.responses.create(model=MODEL, input="more", previous_response_id=r.id, caching=CACHE)


def test_store_false_cannot_be_chained_from(emu: Any) -> None:
    c = client(emu)
    r = c.responses.create(model=MODEL, input="hi", store=False)
    with pytest.raises(ArkAPIError):
        c.responses.create(model=MODEL, input="more", previous_response_id=r.id)


def test_function_call_round_trip(emu: Any) -> None:
    c = client(emu)
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    first = c.responses.create(
        model=MODEL,
        input=[{"role": "user", "content": "Weather in Beijing?"}],
        tools=[tool],
        tool_choice={"type": "function", "name": "get_weather"},
        caching=CACHE,
    )
    calls = first.function_calls
    assert calls and isinstance(calls[0], FunctionCall) and calls[0].name == "get_weather"
    json.loads(calls[0].arguments)
    second = c.responses.create(
        model=MODEL,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        previous_response_id=first.id,
        caching=CACHE,
    )
    assert second.status == "completed" and second.output_text


async def test_async_chain_and_stream(emu: Any) -> None:
    c = AsyncArkContextClient(api_key=KEY, base_url=emu.base_url, share_pool=False)
    try:
        first = await c.responses.create(
            model=MODEL, input=[SYSTEM, {"role": "user", "content": "a"}], caching=CACHE
        )
        s = await c.responses.stream(
            model=MODEL, input="b", previous_response_id=first.id, caching=CACHE
        )
        async with s:
            async for _ in s:
                pass
        assert s.usage is not None and s.usage.cached_tokens > 0
        assert (await c.responses.delete(first.id)).deleted
    finally:
        await c.aclose()
