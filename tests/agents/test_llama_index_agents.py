"""LlamaIndex agents end to end against the emulator, with scripted tool calls.

``FunctionAgent`` (which streams every step) and a two-agent ``AgentWorkflow`` (with a
handoff) run a tool plan on a Responses-API model (and ``FunctionAgent`` on a Context-API model,
whose tool calls go to plain ``/chat/completions``, uncached). Every model
call is checked against the emulator's record (the server saw exactly what the agent
passed); on the Responses API, after the first call, at least 80% of each call's prompt
tokens came from the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool

from ark_context.emulator import Emulator, FunctionCall
from llama_index_ark_context import ArkContextLLM
from tests.agents.scripted import (
    SYSTEM_PROMPT,
    AgentScript,
    Entry,
    add,
    assert_transcripts,
    cached_share,
    lookup,
    lookup_plan,
    model_calls,
    normalise_llama_index,
)

pytestmark = pytest.mark.integration

RESPONSES_MODEL = "doubao-seed-1-6-251015"
CONTEXT_MODEL = "ep-context-model"  # an endpoint id: the Context API
STEPS = 10


class RecordingLLM(ArkContextLLM):
    """ArkContextLLM that notes the messages of every call (what the agent passed)."""

    def _request(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        passed: list[list[Entry]] = self.__dict__.setdefault("_passed_calls", [])
        passed.append(normalise_llama_index(messages))
        return super()._request(messages, kwargs)

    @property
    def passed(self) -> list[list[Entry]]:
        return list(self.__dict__.get("_passed_calls", []))


def _llm(emu: Emulator, model: str) -> RecordingLLM:
    return RecordingLLM(model=model, api_key="k", base_url=emu.base_url, max_retries=0)


def _tools() -> list[FunctionTool]:
    return [FunctionTool.from_defaults(lookup), FunctionTool.from_defaults(add)]


def _check(emu: Emulator, llm: RecordingLLM, *, cached: bool = True) -> list[dict[str, Any]]:
    """Every call saw exactly what the agent passed; with ``cached``, after the first call,
    at least 80% of each call's prompt tokens came from the cache."""
    records = model_calls(emu)
    assert_transcripts(records, llm.passed)
    if cached:
        shares = [cached_share(r) for r in records[1:]]
        assert min(shares) >= 0.8, shares
    return records


async def test_function_agent_runs_ten_steps_exactly(agent_emu: Emulator) -> None:
    from llama_index.core.agent.workflow import FunctionAgent

    script = AgentScript(steps=STEPS - 1, plan=lookup_plan, final="The tide value is 63.")
    agent_emu.responder = script
    llm = _llm(agent_emu, RESPONSES_MODEL)
    agent = FunctionAgent(tools=_tools(), llm=llm, system_prompt=SYSTEM_PROMPT)
    result = await agent.run(user_msg="Find the tide values.")
    assert str(result) == "The tide value is 63."
    assert script.calls == STEPS
    records = _check(agent_emu, llm)
    assert all(r["path"] == "/responses" for r in records)
    assert [r["previous_response_id"] is not None for r in records] == [False] + [True] * (
        STEPS - 1
    )


async def test_function_agent_on_a_context_api_model_goes_plain(agent_emu: Emulator) -> None:
    from llama_index.core.agent.workflow import FunctionAgent

    agent_emu.responder = AgentScript(steps=4, plan=lookup_plan, final="done")
    llm = _llm(agent_emu, CONTEXT_MODEL)
    agent = FunctionAgent(tools=_tools(), llm=llm, system_prompt=SYSTEM_PROMPT)
    assert str(await agent.run(user_msg="Find the tide values.")) == "done"
    records = _check(agent_emu, llm, cached=False)
    assert len(records) == 5 and all(r["path"] == "/chat/completions" for r in records)


async def test_agent_workflow_with_a_handoff(agent_emu: Emulator) -> None:
    from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent

    def plan(step: int) -> tuple[str, dict[str, Any]]:
        return lookup_plan(step)

    def responder(messages: Any, params: Any) -> Any:
        names = sorted((t.get("function") or t)["name"] for t in params.get("tools") or ())
        planner = "handoff" in names and "lookup" not in names
        if planner and not any(m.get("type") == "function_call" for m in messages):
            # the planner hands over to the researcher, once
            return FunctionCall(
                "handoff", {"to_agent": "researcher", "reason": "needs the tide facts"}
            )
        return research(messages, params)

    research = AgentScript(steps=4, plan=plan, final="Tide values found.")
    agent_emu.responder = responder
    llm = _llm(agent_emu, RESPONSES_MODEL)
    planner = FunctionAgent(
        name="planner",
        description="Plans the work and hands it over.",
        system_prompt=SYSTEM_PROMPT,
        llm=llm,
        tools=[],
        can_handoff_to=["researcher"],
    )
    researcher = FunctionAgent(
        name="researcher",
        description="Looks facts up.",
        system_prompt=SYSTEM_PROMPT + " You are the researcher.",
        llm=llm,
        tools=_tools(),
    )
    workflow = AgentWorkflow(agents=[planner, researcher], root_agent="planner")
    result = await workflow.run(user_msg="Find the tide values.")
    assert str(result) == "Tide values found."
    records = model_calls(agent_emu)
    assert_transcripts(records, llm.passed)
    assert len(records) >= 6
