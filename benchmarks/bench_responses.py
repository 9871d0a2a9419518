"""The Responses API side by side with its anchor (issue 15).

Anchor: langchain-openai's ``ChatOpenAI(use_responses_api=True,
use_previous_response_id=True)`` pointed at the emulator, caching passed through
``extra_body``. It sends only the messages after the last AI message, chained from that
message's response id. Ours: ``ChatArkContext`` on a Responses-API model (chat and edit),
and the router with ``tools`` for the agent (measured through the router while the
adapter's tool wiring lands). Workloads, each against a fresh emulator state:

- **50-turn chat**: cost vs plain (input cost: uncached at 1, cached at 0.2 of the price,
  as every call in full through a plain call would cost) and the full resend's tokens
  over the uncached tokens sent;
- **edit in the middle** of a 10-turn chat: whether the model saw the edited history
  (ours: every transcript exact; the anchor: what it sent);
- **10-step agent** (scripted tool calls): cost vs plain;
- **per-call client overhead**: ``ChatArkContext.invoke`` (Responses path) vs
  ``ChatOpenAI.invoke`` (its Responses path), the same canned reply over
  ``httpx.MockTransport``.

``python -m benchmarks.bench_responses [--smoke]`` prints the rows.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx

from ._harness import row, time_per_call

SECTION = "Responses API vs langchain-openai (use_previous_response_id)"
MODEL = "doubao-seed-1-6-251015"
KEY = "bench-key"
CACHED_RATIO = 0.2
SYSTEM = "You are a helpful assistant. Answer briefly and precisely. " * 6
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up in the dictionary.",
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            },
        },
    }
]


def _cost(emu: Any) -> tuple[float, int, int]:
    """(input cost vs plain, full-resend tokens, uncached tokens) of the recorded calls."""
    total = cached = 0
    for rec in emu.records():
        usage = rec.get("usage") or {}
        if "input_tokens" in usage:
            total += usage["input_tokens"]
            cached += (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    uncached = total - cached
    return (uncached + CACHED_RATIO * cached) / max(total, 1), total, uncached


def _seen(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k not in ("id", "status", "type")}
    if isinstance(out.get("content"), list):
        out["content"] = "".join(p.get("text", "") for p in out["content"])
    if item.get("type") not in (None, "message"):
        out["type"] = item["type"]
    return out


def _exact(emu: Any, rid: str | None, history: list[dict[str, Any]]) -> bool:
    from ark_context.conversation import to_input_items

    snap = emu.response(rid) if rid else None
    if snap is None:
        return False
    return [_seen(i) for i in snap["messages"]] == [_seen(i) for i in to_input_items(history)]


def _ours(emu: Any) -> Any:
    from langchain_ark_context import ChatArkContext

    return ChatArkContext(model=MODEL, api_key=KEY, base_url=emu.base_url, max_retries=0)


def _anchor(emu: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=MODEL,
        api_key=KEY,
        base_url=emu.base_url,
        use_responses_api=True,
        use_previous_response_id=True,
        max_retries=0,
        extra_body={"caching": {"type": "enabled"}},
    )


def _wire(messages: list[Any]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        role = {"system": "system", "human": "user", "ai": "assistant"}[m.type]
        out.append({"role": role, "content": m.text if hasattr(m, "text") else m.content})
    return out


def _chat(emu: Any, llm: Any, turns: int) -> tuple[list[Any], bool]:
    from langchain_core.messages import HumanMessage, SystemMessage

    history: list[Any] = [SystemMessage(SYSTEM)]
    exact = True
    for i in range(turns):
        history.append(HumanMessage(f"Question {i}: what is item {i} good for?"))
        reply = llm.invoke(history)
        rid = reply.response_metadata.get("response_id") or reply.id
        exact = exact and _exact(emu, rid, _wire(history))
        history.append(reply)
    return history, exact


def _edit(emu: Any, llm: Any, turns: int) -> tuple[bool, str]:
    from langchain_core.messages import HumanMessage

    history, _ = _chat(emu, llm, turns)
    mid = 1 + 2 * (turns // 2)  # a user message in the middle
    history[mid] = HumanMessage("EDITED: forget that question; what is 2 + 2?")
    history.append(HumanMessage("And the next question?"))
    emu.clear_records()
    reply = llm.invoke(history)
    rid = reply.response_metadata.get("response_id") or reply.id
    exact = _exact(emu, rid, _wire(history))
    sent = [r for r in emu.records() if r["path"].endswith("/responses")][-1]
    what = (
        f"previous_response_id={'set' if sent.get('previous_response_id') else 'none'}, "
        f"{len(sent.get('sent') or [])} item(s) sent"
    )
    return exact, what


def _tool_responder(messages: Any, params: Any) -> Any:
    from ark_context.emulator import FunctionCall

    outputs = sum(1 for m in messages if m.get("type") == "function_call_output")
    if params.get("tools") and outputs < 10:
        return FunctionCall("lookup", {"q": f"word {outputs}"})
    return "All ten words are defined."


def _agent_ours(emu: Any, steps: int) -> bool:
    from ark_context import ArkContextParams

    router = ArkContextParams(model=MODEL, api_key=KEY, base_url=emu.base_url).ark_router()
    history: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Define ten words with the lookup tool."},
    ]
    exact = True
    for _ in range(steps + 1):
        rc = router.chat(history, {"tools": TOOLS})
        exact = exact and _exact(emu, rc.route.response_id, history)
        history.append(rc.result.wire_message())
        if not rc.result.tool_calls:
            break
        for call in rc.result.tool_calls:
            history.append({"role": "tool", "tool_call_id": call["id"], "content": "a meaning"})
    return exact


def _agent_anchor(llm: Any, steps: int) -> tuple[int, str | None]:
    """Steps completed, and the error that stopped the loop (None: it finished)."""
    from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage

    bound = llm.bind_tools(TOOLS)
    history: list[Any] = [
        SystemMessage(SYSTEM),
        HumanMessage("Define ten words with the lookup tool."),
    ]
    done = 0
    for _ in range(steps + 1):
        try:
            reply = bound.invoke(history)
        except Exception as exc:  # the anchor's own failure is the measurement
            return done, f"{type(exc).__name__}: {str(exc)[:160]}"
        done += 1
        history.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            history.append(ToolMessage("a meaning", tool_call_id=call["id"]))
    return done, None


def _canned() -> httpx.MockTransport:
    body = {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1760000000,
        "model": MODEL,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Hello there.", "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": 20,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 23,
        },
        "caching": {"type": "enabled"},
        "store": True,
        "expire_at": 1760086400,
    }
    raw = json.dumps(body).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw, headers={"content-type": "application/json"})

    return httpx.MockTransport(handle)


def _overhead(number: int, repeats: int) -> tuple[float, float]:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    from langchain_ark_context import ChatArkContext

    msgs = [SystemMessage("Be brief."), HumanMessage("Hi")]
    ours = ChatArkContext(
        model=MODEL,
        api_key=KEY,
        base_url="http://mock/api/v3",
        http_client=httpx.Client(transport=_canned()),
    )
    anchor = ChatOpenAI(
        model=MODEL,
        api_key=KEY,
        base_url="http://mock/api/v3",
        use_responses_api=True,
        use_previous_response_id=True,
        http_client=httpx.Client(transport=_canned()),
    )
    t_ours = time_per_call(lambda: ours.invoke(msgs), number=number, repeats=repeats)
    t_anchor = time_per_call(lambda: anchor.invoke(msgs), number=number, repeats=repeats)
    return t_ours, t_anchor


def run(smoke: bool) -> list[dict[str, Any]]:
    from ark_context.emulator import run_emulator

    turns, edit_turns, steps = (12, 6, 10) if smoke else (50, 10, 10)
    rows: list[dict[str, Any]] = []
    with run_emulator() as emu:
        results: dict[str, tuple[float, int, int, bool]] = {}
        for name, make in (("ours", _ours), ("anchor", _anchor)):
            emu.reset()
            _, exact = _chat(emu, make(emu), turns)
            ratio, total, uncached = _cost(emu)
            results[name] = (ratio, total, uncached, exact)
        for name in ("ours", "anchor"):
            ratio, total, uncached, exact = results[name]
            rows.append(
                row(
                    SECTION,
                    f"{turns}-turn chat, {name}: cost vs plain",
                    ratio,
                    "x",
                    ratio=ratio,
                    target="<= 0.35x" if name == "ours" else None,
                    note=f"full resend {total} tokens / uncached sent {uncached} = "
                    f"{total / max(uncached, 1):.1f}x fewer; transcripts exact: {exact}",
                )
            )
        ours_ratio = results["ours"][1] / max(results["ours"][2], 1)
        rows.append(
            row(
                SECTION,
                f"{turns}-turn chat, ours: full-resend tokens / uncached tokens",
                ours_ratio,
                "x",
                target=">= 10x",
            )
        )
        for name, make in (("ours", _ours), ("anchor", _anchor)):
            emu.reset()
            exact, what = _edit(emu, make(emu), edit_turns)
            rows.append(
                row(
                    SECTION,
                    f"edit in the middle, {name}: transcript exact",
                    1.0 if exact else 0.0,
                    "bool",
                    note=f"after the edit it sent: {what}",
                )
            )
        saved = emu.responder
        emu.responder = _tool_responder
        try:
            emu.reset()
            exact = _agent_ours(emu, steps)
            ours_agent = _cost(emu)[0]
            emu.reset()
            anchor_steps, anchor_error = _agent_anchor(_anchor(emu), steps)
            anchor_agent = _cost(emu)[0]
        finally:
            emu.responder = saved
        rows.append(
            row(
                SECTION,
                f"{steps}-step agent, ours (router with tools): cost vs plain",
                ours_agent,
                "x",
                ratio=ours_agent,
                target="<= 0.4x",
                note=f"transcripts exact: {exact}",
            )
        )
        rows.append(
            row(
                SECTION,
                f"{steps}-step agent, anchor: calls completed (of {steps + 1})",
                anchor_steps,
                "calls",
                note=(
                    f"cost vs plain of the calls made: {anchor_agent:.2f}; "
                    + (f"stopped by {anchor_error}" if anchor_error else "finished")
                ),
            )
        )
    number, repeats = (30, 3) if smoke else (200, 7)
    t_ours, t_anchor = _overhead(number, repeats)
    rows.append(row(SECTION, "ChatOpenAI.invoke (Responses path), mock transport", t_anchor, "us"))
    rows.append(
        row(
            SECTION,
            "ChatArkContext.invoke (Responses path), mock transport",
            t_ours,
            "us",
            anchor="ChatOpenAI.invoke (Responses path), mock transport",
            target="<= 0.35x",
            note=f"median of {repeats} x {number} calls; noisy shared machine",
        )
    )
    return rows


if __name__ == "__main__":
    for r in run("--smoke" in sys.argv):
        print(json.dumps(r))
