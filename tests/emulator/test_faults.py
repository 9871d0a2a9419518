"""Fault injection and in-flight state, in-process (ASGITransport); socket-level drops are
covered in tests/emulator/test_server.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from ark_context.emulator import Emulator, EmulatorError, Fault
from tests.emulator.conftest import asgi_client

MODEL = "ep-faults"
SYSTEM = {"role": "system", "content": "sys"}


class Gate:
    """An injectable sleep that waits until the test opens the gate (no real sleeping)."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.waiting = asyncio.Event()
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.waiting.set()
        await self.opened.wait()


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def emu(gate: Gate) -> Emulator:
    return Emulator(sleep=gate)


async def create(client: httpx.AsyncClient, mode: str = "session") -> str:
    r = await client.post(
        "/context/create", json={"model": MODEL, "messages": [SYSTEM], "mode": mode}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def chat(client: httpx.AsyncClient, cid: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": MODEL, "context_id": cid, "messages": [{"role": "user", "content": text}]}
    return await client.post("/context/chat/completions", json={**body, **extra})


def turns(emu: Emulator, cid: str) -> int:
    ctx = emu.context(cid)
    assert ctx is not None
    return int(ctx["turns"])


@pytest.mark.parametrize(
    ("status", "code", "etype"),
    [
        (500, "InternalServiceError", "InternalServerError"),
        (502, "BadGateway", "BadGateway"),
        (403, "OperationDenied.InvalidState", "Forbidden"),
        (404, "NotFound.Context", "NotFound"),
        (429, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests"),
    ],
)
async def test_status_fault_not_applied_by_default(
    client: httpx.AsyncClient, emu: Emulator, status: int, code: str, etype: str
):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "status", status=status)
    r = await chat(client, cid, "x")
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == code
    assert err["type"] == etype
    assert err["message"].endswith(f"Request id: {r.headers['x-request-id']}")
    if status == 403:
        assert "invalid state: InProgress" in err["message"]
    if status == 429:
        assert r.headers["retry-after"] == "1"
    assert turns(emu, cid) == 0
    rec = emu.completions()[-1]
    assert (rec["fault"], rec["status"], rec["error"], rec["applied"], rec["outcome"]) == (
        "status",
        status,
        code,
        False,
        "fault",
    )
    # used up: the next request is normal
    assert (await chat(client, cid, "y")).status_code == 200
    assert turns(emu, cid) == 1


async def test_status_fault_applied_is_the_unknown_outcome_case(
    client: httpx.AsyncClient, emu: Emulator
):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "status", status=500, apply=True)
    r = await chat(client, cid, "x")
    assert r.status_code == 500
    assert turns(emu, cid) == 1  # the server appended the turn before failing
    rec = emu.completions()[-1]
    assert rec["applied"] is True and rec["status"] == 500
    assert rec["reply"] is not None
    assert emu.context(cid)["messages"][-1]["content"] == rec["reply"]  # type: ignore[index]


async def test_custom_code_message_and_retry_after(client: httpx.AsyncClient, emu: Emulator):
    emu.inject_fault(
        "/chat/completions",
        "status",
        status=429,
        code="ServerOverloaded",
        message="Too busy.",
        retry_after="7",
    )
    r = await client.post(
        "/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "ServerOverloaded"
    assert r.json()["error"]["message"].startswith("Too busy. Request id: ")


async def test_faults_match_their_path_and_count(client: httpx.AsyncClient, emu: Emulator):
    cid = await create(client)
    emu.inject_fault("/chat/completions", "status", status=500, times=2)
    assert (await chat(client, cid, "x")).status_code == 200  # other path: untouched
    plain = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    assert (await client.post("/chat/completions", json=plain)).status_code == 500
    assert emu.faults()[0]["times"] == 1
    assert (await client.post("/chat/completions", json=plain)).status_code == 500
    assert (await client.post("/chat/completions", json=plain)).status_code == 200
    assert emu.faults() == []
    emu.inject_fault("*", "status", status=502)
    assert (await chat(client, cid, "x")).status_code == 502


async def test_faults_are_fifo(client: httpx.AsyncClient, emu: Emulator):
    emu.inject_fault("*", "status", status=500)
    emu.inject_fault("*", "status", status=429)
    plain = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    codes = [(await client.post("/chat/completions", json=plain)).status_code for _ in range(3)]
    assert codes == [500, 429, 200]


async def test_auth_is_checked_before_faults(client: httpx.AsyncClient, emu: Emulator):
    emu.inject_fault("*", "status", status=500)
    r = await client.post("/chat/completions", json={}, headers={"Authorization": ""})
    assert r.status_code == 401
    assert len(emu.faults()) == 1


async def test_drop_in_process_raises_and_applies_by_default(
    client: httpx.AsyncClient, emu: Emulator
):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "drop")
    with pytest.raises(ConnectionResetError):
        await chat(client, cid, "x")
    assert turns(emu, cid) == 1
    rec = emu.completions()[-1]
    assert (rec["fault"], rec["status"], rec["applied"]) == ("drop", None, True)
    assert emu.context(cid)["in_progress"] is False  # type: ignore[index]


async def test_drop_not_applied(client: httpx.AsyncClient, emu: Emulator):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "drop", apply=False)
    with pytest.raises(ConnectionResetError):
        await chat(client, cid, "x")
    assert turns(emu, cid) == 0
    assert emu.completions()[-1]["applied"] is False


async def test_cut_stream_in_process_appends_the_turn(client: httpx.AsyncClient, emu: Emulator):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "cut_stream", after_chunks=2)
    # a non-streaming request does not consume a cut_stream fault
    assert (await chat(client, cid, "plain")).status_code == 200
    assert len(emu.faults()) == 1
    with pytest.raises(ConnectionResetError):
        await chat(client, cid, "streamed", stream=True)
    assert turns(emu, cid) == 2
    rec = emu.completions()[-1]
    assert (rec["fault"], rec["cut"], rec["applied"], rec["stream"]) == (
        "cut_stream",
        True,
        True,
        True,
    )
    assert emu.context(cid)["in_progress"] is False  # type: ignore[index]


async def test_stream_error_sends_a_chat_style_error_then_done(
    client: httpx.AsyncClient, emu: Emulator
):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "stream_error", status=429, after_chunks=3)
    assert (await chat(client, cid, "plain")).status_code == 200  # not consumed
    r = await chat(client, cid, "streamed", stream=True)
    blocks = [b for b in r.text.split("\n\n") if b]
    assert len(blocks) == 5 and blocks[-1] == "data: [DONE]"
    err = json.loads(blocks[3][len("data: ") :])["error"]
    assert err["code"] == "RateLimitExceeded.EndpointRPMExceeded"
    assert err["message"].endswith(f"Request id: {r.headers['x-request-id']}")
    assert turns(emu, cid) == 2  # the turn was appended before the first chunk
    rec = emu.completions()[-1]
    assert (rec["fault"], rec["cut"], rec["applied"]) == ("stream_error", True, True)
    assert emu.context(cid)["in_progress"] is False  # type: ignore[index]


async def test_create_faults(client: httpx.AsyncClient, emu: Emulator):
    body = {"model": MODEL, "messages": [SYSTEM]}
    emu.inject_fault("/context/create", "status", status=500)
    assert (await client.post("/context/create", json=body)).status_code == 500
    assert emu.contexts() == []
    emu.inject_fault("/context/create", "status", status=502, apply=True)
    assert (await client.post("/context/create", json=body)).status_code == 502
    orphans = emu.contexts()
    assert len(orphans) == 1
    rec = emu.records("/context/create")[-1]
    assert rec["applied"] is True and rec["context_id"] == orphans[0]["id"]
    emu.inject_fault("/context/create", "drop")
    with pytest.raises(ConnectionResetError):
        await client.post("/context/create", json=body)
    assert len(emu.contexts()) == 2


async def test_latency_fault_holds_the_session_context_in_progress(
    client: httpx.AsyncClient, emu: Emulator, gate: Gate
):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "latency", seconds=2.5)
    first = asyncio.ensure_future(chat(client, cid, "slow"))
    await gate.waiting.wait()
    assert emu.context(cid)["in_progress"] is True  # type: ignore[index]
    second = await chat(client, cid, "eager")
    assert second.status_code == 403
    err = second.json()["error"]
    assert err["code"] == "OperationDenied.InvalidState"
    assert err["message"].startswith("The specified context is in invalid state: InProgress")
    gate.opened.set()
    assert (await first).status_code == 200
    assert gate.calls == [2.5]
    assert turns(emu, cid) == 1  # only the first request's turn
    assert emu.context(cid)["in_progress"] is False  # type: ignore[index]
    assert (await chat(client, cid, "later")).status_code == 200


async def test_common_prefix_allows_concurrent_requests(gate: Gate):
    emu = Emulator(sleep=gate, latency=1.0)
    async with asgi_client(emu) as c:
        cid = await create(c, mode="common_prefix")
        first = asyncio.ensure_future(chat(c, cid, "a"))
        await gate.waiting.wait()
        second = asyncio.ensure_future(chat(c, cid, "b"))
        await asyncio.sleep(0)
        gate.opened.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200


async def test_cancelled_request_releases_the_context(
    client: httpx.AsyncClient, emu: Emulator, gate: Gate
):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "latency", seconds=1)
    task = asyncio.ensure_future(chat(client, cid, "x"))
    await gate.waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert emu.context(cid)["in_progress"] is False  # type: ignore[index]
    assert turns(emu, cid) == 0
    assert emu.completions()[-1]["outcome"] == "cancelled"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "explode"},
        {"kind": "status", "path": "/v1/other"},
        {"kind": "status", "times": 0},
        {"kind": "status", "status": 200},
        {"kind": "latency", "seconds": -1},
        {"kind": "cut_stream", "after_chunks": -1},
    ],
)
def test_bad_faults_are_rejected(kwargs: dict[str, Any]):
    with pytest.raises(EmulatorError):
        Fault(**kwargs)


def test_fault_paths_are_normalized():
    assert Fault(kind="drop", path="api/v3/context/create").path == "/context/create"
    assert Fault(kind="drop", path="context/chat/completions").path == "/context/chat/completions"
    assert Fault.from_dict({"kind": "drop", "path": "*", "apply": None}).applies is True
    with pytest.raises(EmulatorError):
        Fault.from_dict({"kind": "drop", "bogus": 1})
    with pytest.raises(EmulatorError):
        Fault.from_dict({"path": "*"})


@pytest.mark.parametrize("apply", [True, False])
async def test_faults_on_streaming_requests(client: httpx.AsyncClient, emu: Emulator, apply: bool):
    cid = await create(client)
    emu.inject_fault("/context/chat/completions", "status", status=500, apply=apply)
    r = await chat(client, cid, "x", stream=True)
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == "InternalServiceError"
    assert turns(emu, cid) == (1 if apply else 0)
    emu.inject_fault("/context/chat/completions", "drop", apply=apply)
    with pytest.raises(ConnectionResetError):
        await chat(client, cid, "y", stream=True)
    assert turns(emu, cid) == (2 if apply else 0)
    assert emu.context(cid)["in_progress"] is False  # type: ignore[index]
    assert [r["applied"] for r in emu.completions()] == [apply, apply]
