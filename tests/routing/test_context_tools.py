"""Tools on a Context API model: the call goes plain with its tools (``bypassed``,
reason ``tools``), against the emulator over loopback."""

from __future__ import annotations

from typing import Any

import pytest

from ark_context.emulator import FunctionCall
from ark_context.routing import ContextRouter
from ark_context.stores import InMemoryStore

pytestmark = pytest.mark.integration

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


@pytest.fixture(autouse=True)
def _restore_responder(emu: Any) -> Any:
    saved = emu.responder
    yield
    emu.responder = saved


def _responder(messages: Any, params: Any) -> Any:
    results = sum(1 for m in messages if m.get("role") == "tool")
    if params.get("tools") and results < 3:
        return FunctionCall("lookup", {"q": f"w{results}"})
    return "done"


def test_tool_loop_goes_plain_with_tools_and_exact_transcripts(emu: Any) -> None:
    emu.responder = _responder
    r = ContextRouter(model="ep-x", api_key="k", base_url=emu.base_url, store=InMemoryStore())
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Define words."},
    ]
    outcomes = []
    for _ in range(5):
        rc = r.chat(history, {"tools": TOOLS, "tool_choice": "auto"})
        outcomes.append((rc.route.outcome, rc.route.reason))
        rec = emu.records()[-1]
        assert rec["path"] == "/chat/completions" and rec["messages"] == history
        history.append(rc.result.wire_message())
        if not rc.result.tool_calls:
            break
        assert rc.result.finish_reason == "tool_calls"
        for call in rc.result.tool_calls:
            history.append({"role": "tool", "tool_call_id": call["id"], "content": "a meaning"})
    assert outcomes == [("bypassed", "tools")] * 4
    assert history[-1] == {"role": "assistant", "content": "done"}


def test_streamed_tool_calls_arrive_as_deltas(emu: Any) -> None:
    emu.responder = _responder
    r = ContextRouter(model="ep-x", api_key="k", base_url=emu.base_url, store=InMemoryStore())
    history = [{"role": "user", "content": "Define words."}]
    with r.stream(history, {"tools": TOOLS}) as s:
        deltas = list(s.deltas())
    assert s.route is not None and (s.route.outcome, s.route.reason) == ("bypassed", "tools")
    chunks = [d.tool_call for d in deltas if d.tool_call is not None]
    assert chunks and chunks[0].name == "lookup"
    assert deltas[-1].result is not None and deltas[-1].result.tool_calls[0]["function"] == {
        "name": "lookup",
        "arguments": '{"q":"w0"}',
    }


def test_a_plain_text_call_after_tools_still_uses_a_context(emu: Any) -> None:
    r = ContextRouter(
        model="ep-x", api_key="k", base_url=emu.base_url, store=InMemoryStore(), mode="session"
    )
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    rc = r.chat(history, {"response_format": {"type": "json_object"}})
    assert (rc.route.outcome, rc.route.reason) == ("bypassed", "params")
    rc = r.chat(history)
    assert rc.route.outcome == "created"
