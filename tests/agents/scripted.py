"""Scripted tool-using "models" for the emulator, and transcript checks for agents.

:class:`AgentScript` is an emulator responder: on each call it looks at what the model saw
(the chain's transcript on the Responses API, the messages on ``/chat/completions``) and
calls the next tool of its plan, or gives its final answer once the plan is done. The
agent frameworks run the tools; the script only decides, from the transcript, what a
model would say next, so a framework that loses or reorders a message makes the run fail.

:func:`normalise` puts both sides into one form: what the server saw (emulator records)
and what the caller passed (LangChain or LlamaIndex messages, converted here independently
of the adapters), so ``assert_transcripts`` compares them call by call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ark_context.emulator import Emulator, FunctionCall

#: One transcript entry: ``("system"|"user"|"assistant", text)``, ``("call", id, name,
#: args)`` or ``("result", id, output)``.
Entry = tuple[Any, ...]

#: A long, fixed system prompt: an agent's instructions (what a prefix cache is for).
SYSTEM_PROMPT = " ".join(
    [
        "You are a careful research agent. Work step by step: call exactly one tool per step,",
        "read its result, then decide the next step. Never invent a tool result, never skip",
        "a step of the plan, and answer only when every step has a result.",
    ]
    * 12
)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or ():
        if isinstance(part, Mapping) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif isinstance(part, str):
            parts.append(part)
    return "".join(parts)


def _args(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def normalise_record(messages: Sequence[Mapping[str, Any]]) -> list[Entry]:
    """What the server saw (an emulator record's ``messages``), normalised."""
    out: list[Entry] = []
    for m in messages:
        kind = m.get("type")
        if kind == "function_call":
            out.append(("call", m["call_id"], m["name"], _args(m["arguments"])))
        elif kind == "function_call_output":
            out.append(("result", m["call_id"], _text(m["output"])))
        elif m.get("role") == "tool":
            out.append(("result", m["tool_call_id"], _text(m["content"])))
        else:
            text = _text(m.get("content"))
            calls = m.get("tool_calls") or ()
            if text or not calls:
                out.append((m["role"], text))
            for c in calls:
                fn = c["function"]
                out.append(("call", c["id"], fn["name"], _args(fn["arguments"])))
    return out


def normalise_langchain(messages: Sequence[Any]) -> list[Entry]:
    """What a LangChain caller passed, normalised (reasoning is never part of it)."""
    out: list[Entry] = []
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    for m in messages:
        if m.type == "tool":
            out.append(("result", m.tool_call_id, _text(m.content)))
            continue
        role = roles[m.type]
        text = _text(m.content)
        calls = getattr(m, "tool_calls", None) or []
        if text or not calls:
            out.append((role, text))
        for c in calls:
            out.append(("call", c["id"], c["name"], dict(c["args"])))
    return out


def normalise_llama_index(messages: Sequence[Any]) -> list[Entry]:
    """What a LlamaIndex caller passed, normalised."""
    from llama_index.core.base.llms.types import TextBlock, ToolCallBlock

    out: list[Entry] = []
    for m in messages:
        role = m.role.value
        text = "".join(b.text for b in m.blocks if isinstance(b, TextBlock))
        if role == "tool":
            out.append(("result", m.additional_kwargs["tool_call_id"], text))
            continue
        calls = [b for b in m.blocks if isinstance(b, ToolCallBlock)]
        if text or not calls:
            out.append((role, text))
        for b in calls:
            out.append(("call", b.tool_call_id, b.tool_name, _args(b.tool_kwargs)))
    return out


def model_calls(emu: Emulator) -> list[dict[str, Any]]:
    """The emulator's records of calls the model answered, oldest first (Responses API and
    plain chat completions; prefix cache creations, which answer nothing, are left out)."""
    return [
        r
        for r in emu.records()
        if (r.get("path") == "/responses" and r.get("output"))
        or (r.get("path") == "/chat/completions" and r.get("usage") is not None)
    ]


def assert_transcripts(records: Sequence[Mapping[str, Any]], passed: Sequence[list[Entry]]) -> None:
    """Call by call, the server saw exactly what the caller passed."""
    assert len(records) == len(passed), f"{len(records)} model calls, {len(passed)} passed"
    for i, (r, want) in enumerate(zip(records, passed, strict=True)):
        got = normalise_record(r["messages"])
        assert got == want, f"call {i}: the server saw\n{got}\nthe caller passed\n{want}"


def cached_share(record: Mapping[str, Any]) -> float:
    """The share of one call's prompt tokens served from the cache (either API)."""
    usage = record["usage"]
    if "input_tokens" in usage:
        total = usage["input_tokens"]
        cached = (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    else:
        total = usage["prompt_tokens"]
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return cached / total if total else 0.0


@dataclass
class AgentScript:
    """An emulator responder that follows a plan of tool calls, then answers.

    ``plan`` gives, per step, the tool name and its arguments (a callable of the step
    number gives both); after ``steps`` tool results since the last user message, it gives
    ``final`` (text, or a :class:`FunctionCall`, e.g. a structured-output tool). It checks
    that each tool result it sees answers the call it made, so a lost or garbled result
    fails the run. ``calls`` counts the model calls it answered.
    """

    steps: int
    plan: Callable[[int], tuple[str, dict[str, Any]]]
    final: str | Callable[[int], FunctionCall] = "done"
    calls: int = 0
    seen_tools: list[list[str]] = field(default_factory=list)

    def __call__(self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> Any:
        self.calls += 1
        entries = normalise_record(messages)
        last_user = max(i for i, e in enumerate(entries) if e[0] == "user")
        turn = entries[last_user + 1 :]
        calls = {e[1]: e for e in turn if e[0] == "call"}
        results = [e for e in turn if e[0] == "result" and calls[e[1]][2] in TEST_TOOLS]
        for r in results:
            call = calls[r[1]]
            name, args = call[2], call[3]
            assert r[2] == expected_result(name, args), f"result {r} does not answer {call}"
        tools = params.get("tools") or ()
        self.seen_tools.append(sorted(_tool_name(t) for t in tools))
        done = len(results)
        if done < self.steps:
            name, args = self.plan(done + 1)
            return FunctionCall(name, args)
        if callable(self.final):
            return self.final(done)
        return self.final


def _tool_name(tool: Mapping[str, Any]) -> str:
    fn = tool.get("function")
    return str(fn["name"] if isinstance(fn, Mapping) else tool.get("name"))


#: The tools whose results the script checks and counts (others, e.g. a framework's handoff
#: tool, are the framework's business).
TEST_TOOLS = frozenset({"lookup", "add"})


def expected_result(name: str, args: Mapping[str, Any]) -> str:
    """What the test tools return (the script checks the agents pass it back unchanged)."""
    if name == "lookup":
        return f"fact {args['step']}: the {args['topic']} value is {int(args['step']) * 7}"
    if name == "add":
        return str(int(args["a"]) + int(args["b"]))
    raise AssertionError(f"no such test tool: {name}")


def lookup(topic: str, step: int) -> str:
    """Look up one fact about a topic (step-numbered)."""
    return expected_result("lookup", {"topic": topic, "step": step})


def add(a: int, b: int) -> str:
    """Add two integers."""
    return expected_result("add", {"a": a, "b": b})


def lookup_plan(step: int) -> tuple[str, dict[str, Any]]:
    return "lookup", {"topic": "tide", "step": step}
