"""LangChain agents end to end against the emulator, with scripted tool calls.

LangGraph's ``create_react_agent`` and LangChain's ``create_agent`` (with tools, and with a
``response_format``) run a 10-step tool plan on a Responses-API model, and
``create_react_agent`` on a Context-API model too (its tool calls go to plain
``/chat/completions``, uncached). Every model call is checked against the emulator's record: the server saw exactly the
conversation the agent passed (the one invariant), and on the Responses API, after the first
call, at least 80% of each call's prompt tokens came from the cache.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from ark_context.emulator import Emulator, FunctionCall
from langchain_ark_context import ChatArkContext
from tests.agents.scripted import (
    SYSTEM_PROMPT,
    AgentScript,
    add,
    assert_transcripts,
    cached_share,
    lookup,
    lookup_plan,
    model_calls,
    normalise_langchain,
)

pytestmark = pytest.mark.integration

RESPONSES_MODEL = "doubao-seed-1-6-251015"
CONTEXT_MODEL = "ep-context-model"  # an endpoint id: the Context API
STEPS = 10  # model calls: 9 tool steps, then the answer


class Passed(BaseCallbackHandler):
    """Records the messages of every chat-model call, in order."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.calls.extend(messages)


def _llm(emu: Emulator, model: str) -> ChatArkContext:
    return ChatArkContext(model=model, api_key="k", base_url=emu.base_url, max_retries=0)


def _check(emu: Emulator, passed: Passed, *, cached: bool = True) -> list[dict[str, Any]]:
    """Every call saw exactly what the agent passed; with ``cached``, after the first call,
    at least 80% of each call's prompt tokens came from the cache."""
    records = model_calls(emu)
    assert_transcripts(records, [normalise_langchain(m) for m in passed.calls])
    if cached:
        shares = [cached_share(r) for r in records[1:]]
        assert min(shares) >= 0.8, shares
    return records


def test_create_react_agent_runs_ten_steps_exactly(agent_emu: Emulator) -> None:
    from langgraph.prebuilt import create_react_agent

    script = AgentScript(steps=STEPS - 1, plan=lookup_plan, final="The tide value is 63.")
    agent_emu.responder = script
    passed = Passed()
    agent = create_react_agent(
        _llm(agent_emu, RESPONSES_MODEL), [tool(lookup), tool(add)], prompt=SYSTEM_PROMPT
    )
    out = agent.invoke({"messages": [("user", "Find the tide values.")]}, {"callbacks": [passed]})
    assert out["messages"][-1].content == "The tide value is 63."
    assert script.calls == STEPS
    records = _check(agent_emu, passed)
    metas = [m.response_metadata for m in out["messages"] if m.type == "ai"]
    assert [m["context_outcome"] for m in metas] == ["created"] + ["reused"] * (STEPS - 1)
    assert all(r["path"] == "/responses" for r in records)


def test_create_react_agent_on_a_context_api_model_goes_plain(agent_emu: Emulator) -> None:
    from langgraph.prebuilt import create_react_agent

    agent_emu.responder = AgentScript(steps=STEPS - 1, plan=lookup_plan, final="63")
    passed = Passed()
    llm = _llm(agent_emu, CONTEXT_MODEL)
    agent = create_react_agent(llm, [tool(lookup), tool(add)], prompt=SYSTEM_PROMPT)
    out = agent.invoke({"messages": [("user", "Find the tide values.")]}, {"callbacks": [passed]})
    assert out["messages"][-1].content == "63"
    records = _check(agent_emu, passed, cached=False)
    assert len(records) == STEPS and all(r["path"] == "/chat/completions" for r in records)
    metas = [m.response_metadata for m in out["messages"] if m.type == "ai"]
    assert {(m["context_outcome"], m["context_miss_reason"]) for m in metas} == {
        ("bypassed", "tools")
    }


async def test_create_react_agent_async_streams_tool_calls(agent_emu: Emulator) -> None:
    from langgraph.prebuilt import create_react_agent

    agent_emu.responder = AgentScript(steps=3, plan=lookup_plan, final="ok")
    passed = Passed()
    agent = create_react_agent(
        _llm(agent_emu, RESPONSES_MODEL), [tool(lookup)], prompt=SYSTEM_PROMPT
    )
    modes = []
    async for mode, _ in agent.astream(
        {"messages": [("user", "Find the tide values.")]},
        {"callbacks": [passed]},
        stream_mode=["messages", "values"],
    ):
        modes.append(mode)
    assert "messages" in modes
    _check(agent_emu, passed)


def test_create_agent_with_tools(agent_emu: Emulator) -> None:
    from langchain.agents import create_agent

    agent_emu.responder = AgentScript(steps=STEPS - 1, plan=lookup_plan, final="63")
    passed = Passed()
    llm = _llm(agent_emu, RESPONSES_MODEL)
    agent = create_agent(llm, [lookup, add], system_prompt=SYSTEM_PROMPT)
    out = agent.invoke({"messages": [("user", "Find the tide values.")]}, {"callbacks": [passed]})
    assert out["messages"][-1].content == "63"
    assert len(_check(agent_emu, passed)) == STEPS


class Tide(BaseModel):
    """The tide report."""

    value: int
    unit: str


def test_create_agent_with_response_format(agent_emu: Emulator) -> None:
    from langchain.agents import create_agent

    agent_emu.responder = AgentScript(
        steps=STEPS - 1,
        plan=lookup_plan,
        final=lambda _: FunctionCall("Tide", {"value": 63, "unit": "cm"}),
    )
    passed = Passed()
    agent = create_agent(
        _llm(agent_emu, RESPONSES_MODEL),
        [lookup, add],
        system_prompt=SYSTEM_PROMPT,
        response_format=Tide,
    )
    out = agent.invoke({"messages": [("user", "Report the tide.")]}, {"callbacks": [passed]})
    assert out["structured_response"] == Tide(value=63, unit="cm")
    records = _check(agent_emu, passed)
    assert len(records) == STEPS
