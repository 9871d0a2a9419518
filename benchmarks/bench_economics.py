"""What the Context API saves on a long chat: tokens, bytes and money, turn by turn.

One conversation of ``TURNS`` turns (a fixed system prompt, ~``USER_CHARS``-character user
messages, ~``REPLY_CHARS``-character deterministic replies) is played twice against the
emulator over loopback:

(a) ``ChatArkContext`` in session mode: the router creates one context seeded with the
    system prompt and then sends only each new user turn;
(b) ``ChatOpenAI`` pointed at the emulator's plain ``/chat/completions``, resending the
    whole history every turn, which is what users do today.

Ground truth comes from the emulator's record of every request (prompt, cached and
completion tokens; context creations), and request body bytes from an httpx event hook
on each side's HTTP client. Both runs must produce the same server-side transcript on
every turn (checked; a mismatch is reported as a row with target ``== 0``).

Cost uses the parameters below (doubao-1.5-pro-32k list prices in CNY). The storage
price and the time between turns are ASSUMPTIONS, stated here and in the report.
Per-turn data goes to ``benchmarks/out/economics.csv`` for the notebook.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ark_context.costs import DEFAULT_PRICES
from benchmarks._harness import out_dir, row

SECTION = "Economics: one long conversation, ChatArkContext vs full resend"

MODEL = "ep-bench-economics"
TURNS = 50
SMOKE_TURNS = 4
USER_CHARS = 300
REPLY_CHARS = 600
SYSTEM_CHARS = 1200

#: CNY per million tokens (doubao-1.5-pro-32k list prices, Ark's 模型服务价格 page).
PRICE_INPUT = DEFAULT_PRICES.input
PRICE_CACHED_INPUT = DEFAULT_PRICES.cached_input
#: ASSUMPTION: output price, the same for both runs (replies are identical).
PRICE_OUTPUT = 2.00
#: ASSUMPTION: context storage, CNY per million tokens per hour (not verified here).
PRICE_STORAGE_PER_HOUR = 0.017
#: ASSUMPTION: seconds between turns (a human reading and typing).
TURN_INTERVAL_S = 60.0
#: The context's ttl: ChatArkContext's default; storage is billed until it expires.
TTL_S = 86400

_WORDS = [
    "context",
    "cache",
    "session",
    "prefix",
    "token",
    "latency",
    "router",
    "digest",
    "transcript",
    "endpoint",
    "reply",
    "history",
    "model",
    "budget",
    "window",
    "storage",
    "price",
    "request",
    "stream",
    "usage",
]


def _text(seed: int, chars: int, lead: str) -> str:
    words = [lead]
    i = seed
    while sum(len(w) + 1 for w in words) < chars:
        words.append(_WORDS[(i * 7 + len(words) * 3) % len(_WORDS)])
        i += 1
    return " ".join(words)[:chars]


SYSTEM = _text(0, SYSTEM_CHARS, "You are a careful assistant for a support desk.")


def user_message(turn: int) -> str:
    return _text(turn + 1, USER_CHARS, f"Question {turn + 1}:")


def responder(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    """A deterministic reply of ~REPLY_CHARS that depends only on the last user message,
    so both runs see exactly the same conversation."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {"content": ""})
    seed = sum(map(ord, str(last.get("content", ""))[:40]))
    return _text(seed, REPLY_CHARS, "Answer:")


class _ByteCounter:
    """httpx request hook: body bytes of every request, in order."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, request: httpx.Request) -> None:
        self.sizes.append(len(request.content))

    def take(self) -> int:
        n = sum(self.sizes)
        self.sizes.clear()
        return n


def _play(
    invoke: Any, emu: Any, counter: _ByteCounter, turns: int, lc: Any
) -> list[dict[str, Any]]:
    """Play the conversation; per turn: bytes, tokens and the emulator's records."""
    history: list[Any] = [lc.SystemMessage(SYSTEM)]
    per_turn: list[dict[str, Any]] = []
    emu.clear_records()
    seen = 0
    for t in range(turns):
        history.append(lc.HumanMessage(user_message(t)))
        reply = invoke(history)
        history.append(reply)
        recs = emu.records()
        new, seen = recs[seen:], len(recs)
        creates = [r for r in new if r["path"].endswith("/context/create")]
        chats = [r for r in new if not r["path"].endswith("/context/create")]
        if len(chats) != 1 or chats[0].get("status") != 200:
            raise RuntimeError(
                f"turn {t + 1}: expected one successful completion, got {chats!r:.400}"
            )
        usage = chats[0]["usage"]
        create_tokens = sum((r.get("usage") or {}).get("prompt_tokens", 0) for r in creates)
        prompt = usage["prompt_tokens"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        per_turn.append(
            {
                "turn": t + 1,
                "request_bytes": counter.take(),
                "requests": len(new),
                "contexts_created": len(creates),
                "create_prompt_tokens": create_tokens,
                "prompt_tokens": prompt,
                "cached_tokens": cached,
                "uncached_tokens": prompt - cached + create_tokens,
                "completion_tokens": usage["completion_tokens"],
                "context_id": chats[0].get("context_id"),
                "path": chats[0]["path"],
                "transcript": chats[0]["messages"],
                "reply": chats[0]["reply"],
            }
        )
    return per_turn


def storage_token_hours(per_turn: list[dict[str, Any]]) -> float:
    """Token-hours of context storage: after each turn a context holds its transcript
    (prompt + reply tokens) until the next turn on it, or for TTL_S after its last use."""
    total = 0.0
    last_turn: dict[str, int] = {}
    for i, t in enumerate(per_turn):
        if t["context_id"]:
            last_turn[t["context_id"]] = i
    for i, t in enumerate(per_turn):
        cid = t["context_id"]
        if not cid:
            continue
        size = t["prompt_tokens"] + t["completion_tokens"]
        held = TTL_S if last_turn[cid] == i else TURN_INTERVAL_S
        total += size * held / 3600.0
    return total


def cost(per_turn: list[dict[str, Any]]) -> dict[str, float]:
    uncached = sum(t["uncached_tokens"] for t in per_turn)
    cached = sum(t["cached_tokens"] for t in per_turn)
    output = sum(t["completion_tokens"] for t in per_turn)
    th = storage_token_hours(per_turn)
    parts = {
        "input": uncached * PRICE_INPUT / 1e6,
        "cached": cached * PRICE_CACHED_INPUT / 1e6,
        "output": output * PRICE_OUTPUT / 1e6,
        "storage": th * PRICE_STORAGE_PER_HOUR / 1e6,
    }
    parts["total"] = sum(parts.values())
    return parts


def _write_csv(ark: list[dict[str, Any]], plain: list[dict[str, Any]]) -> None:
    cols = [
        "request_bytes",
        "prompt_tokens",
        "cached_tokens",
        "uncached_tokens",
        "completion_tokens",
    ]
    path = out_dir() / "economics.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "turn",
                *(f"ark_{c}" for c in cols),
                "ark_contexts_created",
                *(f"resend_{c}" for c in cols),
            ]
        )
        for a, b in zip(ark, plain, strict=True):
            w.writerow(
                [a["turn"], *(a[c] for c in cols), a["contexts_created"], *(b[c] for c in cols)]
            )


def run(smoke: bool) -> list[dict[str, Any]]:
    from langchain_core import messages as lc
    from langchain_openai import ChatOpenAI

    from ark_context.emulator import run_emulator
    from ark_context.stores import InMemoryStore
    from langchain_ark_context import ChatArkContext

    turns = SMOKE_TURNS if smoke else TURNS
    with run_emulator(responder=responder) as emu:
        counter_a = _ByteCounter()
        http_a = httpx.Client(event_hooks={"request": [counter_a]})
        ark = ChatArkContext(
            model=MODEL,
            api_key="bench-key",
            base_url=emu.base_url,
            mode="session",
            store=InMemoryStore(),
            http_client=http_a,
        )
        per_a = _play(ark.invoke, emu, counter_a, turns, lc)
        http_a.close()

        counter_b = _ByteCounter()
        http_b = httpx.Client(event_hooks={"request": [counter_b]})
        plain = ChatOpenAI(
            model=MODEL,
            api_key="bench-key",
            base_url=emu.base_url,
            http_client=http_b,
            max_retries=0,
        )
        per_b = _play(plain.invoke, emu, counter_b, turns, lc)
        http_b.close()

    mismatches = sum(
        1
        for a, b in zip(per_a, per_b, strict=True)
        if a["transcript"] != b["transcript"] or a["reply"] != b["reply"]
    )
    _write_csv(per_a, per_b)

    def total(per: list[dict[str, Any]], key: str) -> int:
        return sum(t[key] for t in per)

    ca, cb = cost(per_a), cost(per_b)
    A, B = "ChatArkContext (session)", "ChatOpenAI (full resend)"
    params = (
        f"{turns} turns, system prompt {SYSTEM_CHARS} chars, user messages {USER_CHARS} chars, "
        f"replies {REPLY_CHARS} chars"
    )
    rows = [
        row(
            SECTION,
            f"uncached prompt tokens, {A}",
            total(per_a, "uncached_tokens"),
            "tokens",
            note=f"{params}; includes the prompt tokens of context creation",
        ),
        row(
            SECTION,
            f"uncached prompt tokens, {B}",
            total(per_b, "uncached_tokens"),
            "tokens",
            anchor=f"uncached prompt tokens, {A}",
            target=None if smoke else ">= 10x",  # the ratio grows with the turn count
            note="the headline: how many more full-price input tokens a full resend pays",
        ),
        row(SECTION, f"prompt tokens incl. cached, {A}", total(per_a, "prompt_tokens"), "tokens"),
        row(
            SECTION,
            f"prompt tokens incl. cached, {B}",
            total(per_b, "prompt_tokens"),
            "tokens",
            anchor=f"prompt tokens incl. cached, {A}",
        ),
        row(SECTION, f"cached prompt tokens, {A}", total(per_a, "cached_tokens"), "tokens"),
        row(SECTION, f"request bytes, {A}", total(per_a, "request_bytes"), "B"),
        row(
            SECTION,
            f"request bytes, {B}",
            total(per_b, "request_bytes"),
            "B",
            anchor=f"request bytes, {A}",
            note="JSON request bodies, counted by an httpx request hook on each side",
        ),
        row(
            SECTION,
            f"contexts created, {A}",
            total(per_a, "contexts_created"),
            "contexts",
            target="== 1",
            note="one session context for the whole conversation",
        ),
        row(
            SECTION,
            "turns whose server transcript differs between the runs",
            mismatches,
            "turns",
            target="== 0",
            note="the emulator's effective prompt and reply, compared turn by turn",
        ),
        row(
            SECTION,
            f"cost, {A}",
            ca["total"],
            "CNY",
            note=(
                f"input {ca['input']:.5f} + cached {ca['cached']:.5f} + output {ca['output']:.5f} "
                f"+ storage {ca['storage']:.6f} CNY"
            ),
        ),
        row(
            SECTION,
            f"cost, {B}",
            cb["total"],
            "CNY",
            anchor=f"cost, {A}",
            note=f"input {cb['input']:.5f} + output {cb['output']:.5f} CNY (plain API: no cache, no storage)",
        ),
        row(
            SECTION,
            f"input cost only (uncached + cached + storage), {A}",
            ca["input"] + ca["cached"] + ca["storage"],
            "CNY",
        ),
        row(
            SECTION,
            f"input cost only, {B}",
            cb["input"],
            "CNY",
            anchor=f"input cost only (uncached + cached + storage), {A}",
        ),
        row(
            SECTION,
            f"storage cost, {A}",
            ca["storage"],
            "CNY",
            note=(
                f"ASSUMPTIONS: storage {PRICE_STORAGE_PER_HOUR} CNY per million tokens per hour, "
                f"one turn every {TURN_INTERVAL_S:.0f} s, context kept {TTL_S} s (ttl) after the "
                f"last turn; prices {PRICE_INPUT} input / {PRICE_CACHED_INPUT} cached / "
                f"{PRICE_OUTPUT} output CNY per million tokens"
            ),
        ),
    ]
    return rows
