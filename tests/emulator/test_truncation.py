"""Session truncation: last_history_tokens, rolling_tokens true/false, pinned system messages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ark_context.emulator import Emulator, message_tokens
from tests.emulator.conftest import asgi_client

MODEL = "ep-trunc"
SYSTEM = {"role": "system", "content": "sys"}


def fixed(messages: Any, params: Any) -> str:
    return "r r r r r"  # 5 tokens, message cost 8


@pytest.fixture
def emu() -> Emulator:
    return Emulator(responder=fixed)


def user(n: int, words: int = 5) -> dict[str, Any]:
    return {"role": "user", "content": " ".join([f"u{n}"] * words)}


async def create(client: httpx.AsyncClient, messages: list[dict[str, Any]], strategy: Any) -> str:
    r = await client.post(
        "/context/create",
        json={"model": MODEL, "messages": messages, "truncation_strategy": strategy},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def send(client: httpx.AsyncClient, cid: str, msg: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(
        "/context/chat/completions",
        json={"model": MODEL, "context_id": cid, "messages": [msg]},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def tokens(messages: list[dict[str, Any]]) -> int:
    return sum(message_tokens(m) for m in messages)


async def test_last_history_tokens_drops_oldest_whole_messages(
    client: httpx.AsyncClient, emu: Emulator
):
    # each user message costs 8, each reply costs 8; keep at most 20 tokens of history
    cid = await create(client, [SYSTEM], {"type": "last_history_tokens", "last_history_tokens": 20})
    reply = {"role": "assistant", "content": "r r r r r"}
    await send(client, cid, user(1))
    assert emu.context(cid)["messages"] == [SYSTEM, user(1), reply]  # type: ignore[index]
    await send(client, cid, user(2))
    # history u1 r u2 r = 32 > 20 -> drop u1, r -> 16
    ctx = emu.context(cid)
    assert ctx is not None
    assert ctx["messages"] == [SYSTEM, user(2), reply]
    assert ctx["dropped_messages"] == 2
    assert emu.completions()[1]["dropped"] == 2
    out = await send(client, cid, user(3))
    # the prompt the model saw: pinned system + kept history + the new message
    rec = emu.completions()[2]
    assert rec["messages"] == [SYSTEM, user(2), reply, user(3)]
    assert rec["from_context"] == 3
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == tokens(
        [SYSTEM, user(2), reply]
    )


async def test_leading_system_messages_are_pinned(client: httpx.AsyncClient, emu: Emulator):
    sys2 = {"role": "system", "content": "more rules here"}
    seed = [SYSTEM, sys2, user(0), {"role": "assistant", "content": "a a a a a"}]
    cid = await create(client, seed, {"type": "last_history_tokens", "last_history_tokens": 10})
    # at create: history u0 (8) + a (8) = 16 > 10 -> u0 dropped
    ctx = emu.context(cid)
    assert ctx is not None
    assert ctx["messages"] == [SYSTEM, sys2, seed[3]]
    for n in range(1, 4):
        await send(client, cid, user(n))
        ctx = emu.context(cid)
        assert ctx is not None
        assert ctx["messages"][:2] == [SYSTEM, sys2]
        assert tokens(ctx["messages"][2:]) <= 10


async def test_create_usage_counts_all_initial_messages(client: httpx.AsyncClient):
    seed = [SYSTEM, user(0), user(1)]
    r = await client.post(
        "/context/create",
        json={
            "model": MODEL,
            "messages": seed,
            "truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 9},
        },
    )
    assert r.json()["usage"]["prompt_tokens"] == tokens(seed)


async def test_rolling_tokens_true_drops_about_the_rolling_window(
    client: httpx.AsyncClient, emu: Emulator
):
    strategy = {
        "type": "rolling_tokens",
        "rolling_tokens": True,
        "max_window_tokens": 60,
        "rolling_window_tokens": 20,
    }
    cid = await create(client, [SYSTEM], strategy)
    sys_t = message_tokens(SYSTEM)  # 4
    await send(client, cid, user(1))  # prompt 12, history 16
    await send(client, cid, user(2))  # prompt 28, history 32
    await send(client, cid, user(3))  # prompt 44, history 48
    assert emu.completions()[-1]["dropped"] == 0
    await send(client, cid, user(4))  # prompt 4 + 48 + 8 = 60: fits exactly
    assert emu.completions()[-1]["dropped"] == 0
    await send(client, cid, user(5))  # prompt 4 + 64 + 8 = 76 > 60
    rec = emu.completions()[-1]
    # dropped at least 20 tokens of the oldest whole messages: u1, r, u2 (24 tokens)
    assert rec["dropped"] == 3
    assert rec["messages"][0] == SYSTEM
    assert rec["messages"][1] == {"role": "assistant", "content": "r r r r r"}
    assert rec["usage"]["prompt_tokens"] == 76 - 24
    assert rec["usage"]["prompt_tokens"] <= 60
    assert rec["usage"]["prompt_tokens_details"]["cached_tokens"] == 76 - 24 - 8
    assert sys_t == 4


async def test_rolling_tokens_false_stops_with_length(client: httpx.AsyncClient, emu: Emulator):
    strategy = {"type": "rolling_tokens", "rolling_tokens": False, "max_window_tokens": 30}
    cid = await create(client, [SYSTEM], strategy)
    out = await send(client, cid, user(1))  # prompt 12, room 18 > 5
    assert out["choices"][0]["finish_reason"] == "stop"
    out = await send(client, cid, user(2))  # prompt 28, room 2
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"] == "r r"
    out = await send(client, cid, user(3))  # prompt 4+16+8+5+8 = 41 > 30: no room
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"] == ""
    assert all(rec["dropped"] == 0 for rec in emu.completions())
    ctx = emu.context(cid)
    assert ctx is not None and len(ctx["messages"]) == 7  # nothing dropped


async def test_default_strategy_rolls_at_the_model_window():
    emu = Emulator(responder=fixed, model_window=40)
    async with asgi_client(emu) as c:
        r = await c.post("/context/create", json={"model": MODEL, "messages": [SYSTEM]})
        cid = r.json()["id"]
        assert r.json()["truncation_strategy"] == {
            "type": "rolling_tokens",
            "rolling_tokens": True,
            "max_window_tokens": 40,
            "rolling_window_tokens": 4096,
        }
        for n in range(6):
            await send(c, cid, user(n))
        # without rolling the prompt would have overflowed the 40-token window (400)
        assert all(rec["status"] == 200 for rec in emu.completions())
        assert sum(rec["dropped"] for rec in emu.completions()) > 0


async def test_common_prefix_is_never_truncated_but_can_overflow():
    emu = Emulator(responder=fixed, model_window=30)
    async with asgi_client(emu) as c:
        r = await c.post(
            "/context/create",
            json={"model": MODEL, "messages": [SYSTEM, user(0)], "mode": "common_prefix"},
        )
        cid = r.json()["id"]
        r = await c.post(
            "/context/chat/completions",
            json={"model": MODEL, "context_id": cid, "messages": [user(1, 20)]},
        )
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "OutofContextError"
        assert emu.context(cid)["messages"] == [SYSTEM, user(0)]  # type: ignore[index]


@pytest.mark.parametrize(
    "strategy",
    [
        {"type": "last_history_tokens", "last_history_tokens": 37},
        {"type": "rolling_tokens", "rolling_tokens": True, "max_window_tokens": 70,
         "rolling_window_tokens": 15},
        {"type": "rolling_tokens", "rolling_tokens": False, "max_window_tokens": 200},
    ],
)  # fmt: skip
async def test_token_bookkeeping_stays_exact(
    client: httpx.AsyncClient, emu: Emulator, strategy: dict[str, Any]
):
    import random

    rng = random.Random(7)
    seed = [SYSTEM, user(0, 3), {"role": "assistant", "content": "ok"}]
    cid = await create(client, seed, strategy)
    for n in range(1, 25):
        await send(client, cid, user(n, rng.randint(1, 12)))
        ctx = emu.context(cid)
        assert ctx is not None
        assert ctx["tokens"] == tokens(ctx["messages"])
        assert ctx["messages"][0] == SYSTEM
        rec = emu.completions()[-1]
        assert rec["usage"]["prompt_tokens"] == tokens(rec["messages"])
        assert rec["usage"]["prompt_tokens_details"]["cached_tokens"] == tokens(
            rec["messages"][: rec["from_context"]]
        )
        if strategy["type"] == "last_history_tokens":
            assert tokens(ctx["messages"][1:]) <= 37
        elif strategy["rolling_tokens"]:
            assert rec["usage"]["prompt_tokens"] <= 70
