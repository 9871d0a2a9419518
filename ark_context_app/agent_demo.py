"""Part 3 of ``ark-context demo``: a tool-using agent on a current model.

A LangChain tool loop (``ChatArkContext.bind_tools``; LangGraph's ``create_react_agent`` and
LangChain's ``create_agent`` run the same loop) on a model that caches through Ark's
Responses API: the tools are declared at the chain's first turn, every later step sends only
the new tool results with ``previous_response_id``, and the rest comes from the cache. The
part ends with the per-step cache table and the run's cost at the model's list prices
against plain calls (output included, storage for one hour).

Against the emulator the model is ``doubao-seed-1-6-251015`` and :func:`agent_responder`
plays it; on the real service the part runs when ``--agent-model`` names a Responses-API
model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .backend import Backend
from .costs import TurnStats
from .render import pct_less, turn_line, turn_table
from .streaming import resend_bytes

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["AGENT_MODEL", "AGENT_PLAN", "agent_part", "agent_responder", "run_cost"]

#: The model part 3 uses on the emulator (a Responses-API model in the catalog).
AGENT_MODEL = "doubao-seed-1-6-251015"

AGENT_SYSTEM_PROMPT = """\
You are Tabi's planning agent. You check facts with tools before you put them in a plan:
opening hours with `opening_hours`, travel times with `travel_time`. Call one tool per step
and wait for its result; never guess a time you could look up. When every stop of the day has
its hours and every leg its travel time, answer with the day plan in at most four sentences,
with 24-hour times, and say which facts came from the tools.
"""

AGENT_TASK = "Plan our first morning in Kyoto: Fushimi Inari, then Tofuku-ji, then Nishiki Market."

#: The emulator's script: (tool, arguments) per step, then the answer.
AGENT_PLAN: tuple[tuple[str, dict[str, str]], ...] = (
    ("opening_hours", {"place": "Fushimi Inari"}),
    ("travel_time", {"origin": "Fushimi Inari", "destination": "Tofuku-ji"}),
    ("opening_hours", {"place": "Tofuku-ji"}),
    ("travel_time", {"origin": "Tofuku-ji", "destination": "Nishiki Market"}),
    ("opening_hours", {"place": "Nishiki Market"}),
)
AGENT_ANSWER = (
    "Start at Fushimi Inari at 07:00 (open 24 hours), walk the lower gates until 08:30, then "
    "take the JR Nara Line one stop to Tofuku-ji (about 10 minutes; open 09:00-16:00). After "
    "the gardens, ride the Keihan Line to Gion-Shijo and walk to Nishiki Market (about 25 "
    "minutes in all), which opens around 10:00. Hours and travel times came from the tools."
)

_HOURS = {
    "Fushimi Inari": "open 24 hours; quietest before 08:00",
    "Tofuku-ji": "09:00-16:00; gardens close 30 minutes earlier",
    "Nishiki Market": "most shops 10:00-18:00",
}
_TRAVEL = {
    ("Fushimi Inari", "Tofuku-ji"): "about 10 minutes by the JR Nara Line (one stop)",
    ("Tofuku-ji", "Nishiki Market"): "about 25 minutes: Keihan Line to Gion-Shijo, then walk",
}


def opening_hours(place: str) -> str:
    """Opening hours of a place in Kyoto."""
    return _HOURS.get(place, "unknown")


def travel_time(origin: str, destination: str) -> str:
    """Public-transport travel time between two places in Kyoto."""
    return _TRAVEL.get((origin, destination), "unknown")


def agent_responder(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> Any:
    """The emulator's model for part 3: the next step of :data:`AGENT_PLAN`, then the answer.

    >>> agent_responder([{"role": "user", "content": AGENT_TASK}], {}).name
    'opening_hours'
    """
    from ark_context.emulator import FunctionCall

    done = sum(1 for m in messages if m.get("type") == "function_call_output")
    if done < len(AGENT_PLAN):
        name, args = AGENT_PLAN[done]
        return FunctionCall(name, args)
    return AGENT_ANSWER


def run_cost(model: str, steps: Sequence[TurnStats]) -> tuple[float, float] | None:
    """(plain calls, ark-context) in CNY for ``steps`` at ``model``'s list prices: plain
    calls bill every prompt token at the input price; with the cache, uncached and creation
    tokens at the input price, cached tokens at the cached price plus one hour of storage.
    Output is billed the same both ways. ``None`` when the table has no prices for it."""
    from ark_context.catalog import lookup

    info = lookup(model)
    prices = info.prices if info is not None else None
    if prices is None:
        return None
    storage = prices.storage or 0.0
    plain = ours = 0.0
    for s in steps:
        tier_in = prices.input_price(s.prompt_tokens)
        out = s.completion_tokens * (prices.output_price(s.prompt_tokens, s.completion_tokens) or 0)
        plain += s.prompt_tokens * tier_in + out
        ours += (s.uncached_tokens + s.create_tokens) * tier_in + out
        ours += s.cached_tokens * (prices.cached_input + storage)
    return plain / 1e6, ours / 1e6


def _stats(step: int, reply: Any, latency_s: float, resend: int) -> TurnStats:
    usage, meta = reply.usage_metadata or {}, reply.response_metadata
    details = usage.get("input_token_details") or {}
    created = int(details.get("cache_creation") or 0)
    return TurnStats(
        turn=step,
        prompt_tokens=int(usage.get("input_tokens") or 0) - created,
        cached_tokens=int(details.get("cache_read") or 0),
        completion_tokens=int(usage.get("output_tokens") or 0),
        create_tokens=created,
        request_bytes=int(meta.get("request_bytes") or 0),
        resend_bytes=resend,
        latency_s=latency_s,
        outcome=meta.get("context_outcome"),
        miss_reason=meta.get("context_miss_reason"),
        context_id=meta.get("response_id"),
    )


def agent_part(con: Console, backend: Backend, agent_model: str | None) -> list[TurnStats]:
    """Run part 3; returns one :class:`TurnStats` per model call (empty when skipped)."""
    from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
    from langchain_core.tools import tool
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from langchain_ark_context import ChatArkContext

    con.rule("[bold]3. A tool-using agent on a current model (Responses API)[/]")
    model = AGENT_MODEL if backend.is_emulator else agent_model
    if not model:
        con.print(
            "[yellow]Skipped:[/] pass --agent-model with a model that caches through the "
            "Responses API (e.g. doubao-seed-1-6-251015) to run the agent on Ark.\n"
        )
        return []
    settings = {**backend.settings(), "model": model}
    llm = ChatArkContext(**settings, caching_api="responses")
    con.print(
        f"An agent on {model} checks opening hours and travel times with two tools before it "
        "answers. Each step passes the whole run so far; the chain sends only the new tool "
        "results and reads the rest from the cache.\n"
    )
    tools = [tool(opening_hours), tool(travel_time)]
    by_name = {t.name: t for t in tools}
    agent = llm.bind_tools(tools)
    specs = [convert_to_openai_tool(t) for t in tools]  # what the call declares
    history: list[BaseMessage] = [SystemMessage(AGENT_SYSTEM_PROMPT), HumanMessage(AGENT_TASK)]
    steps: list[TurnStats] = []
    saved = backend.emulator.responder if backend.emulator is not None else None
    if backend.emulator is not None:
        backend.emulator.responder = agent_responder
    try:
        while len(steps) < 2 * len(AGENT_PLAN) + 2:
            wire, params = llm._get_request_payload(history)  # what a plain call would send
            resend = resend_bytes(model, wire, tools=specs, **params)
            started = time.perf_counter()
            reply = agent.invoke(history)
            steps.append(_stats(len(steps) + 1, reply, time.perf_counter() - started, resend))
            history.append(reply)
            for call in reply.tool_calls:
                result = by_name[call["name"]].invoke(call)
                history.append(result)
                args = json.dumps(call["args"], ensure_ascii=False)
                con.print(f"  [cyan]{call['name']}[/]({args}) -> {result.content}")
            con.print(f"  [dim]{turn_line(steps[-1], label='step')}[/]")
            if not reply.tool_calls:
                con.print(f"[bold green]agent >[/] {reply.content}\n")
                break
    finally:
        if backend.emulator is not None and saved is not None:
            backend.emulator.responder = saved
    con.print(turn_table(f"Per step (LangChain tool loop, {model})", steps, label="Step"))
    cost = run_cost(model, steps)
    if cost is not None:
        plain, ours = cost
        con.print(
            f"[bold]Agent run at {model} list prices:[/] {ours * 1000:.3f} CNY per 1,000 runs "
            f"with the cache, {plain * 1000:.3f} with plain calls ({pct_less(ours, plain)}; "
            f"{ours / plain:.2f}x). Output included; cached tokens stored for one hour.\n"
        )
    return steps
