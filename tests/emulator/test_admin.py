"""The /_emulator admin endpoints mirror the in-process inspection and fault methods."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ark_context import emulator
from ark_context.emulator import Emulator
from tests.emulator.conftest import AUTH, asgi_client

MODEL = "ep-admin"


@pytest.fixture
def emu() -> Emulator:
    return Emulator(clock=lambda: 1_000_000.0)


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(emu, base_url="http://emu", headers=None) as c:  # admin paths too
        yield c


async def new_context(client: httpx.AsyncClient) -> str:
    r = await client.post(
        "/api/v3/context/create",
        json={"model": MODEL, "messages": [{"role": "system", "content": "s"}]},
        headers=AUTH,
    )
    return str(r.json()["id"])


async def test_contexts_and_records(client: httpx.AsyncClient, emu: Emulator):
    cid = await new_context(client)
    await client.post(
        "/api/v3/context/chat/completions",
        json={"model": MODEL, "context_id": cid, "messages": [{"role": "user", "content": "q"}]},
        headers=AUTH,
    )
    contexts = (await client.get("/_emulator/contexts")).json()["contexts"]
    assert contexts == emu.contexts()
    assert [m["role"] for m in contexts[0]["messages"]] == ["system", "user", "assistant"]
    one = await client.get(f"/_emulator/contexts/{cid}")
    assert one.json()["id"] == cid
    assert (await client.get("/_emulator/contexts/ctx-nope")).status_code == 404
    records = (await client.get("/_emulator/records")).json()["records"]
    assert [r["path"] for r in records] == ["/context/create", "/context/chat/completions"]
    assert records == emu.records()
    only = (await client.get("/_emulator/records?path=/context/chat/completions")).json()
    assert len(only["records"]) == 1
    assert (await client.get("/_emulator/records?path=/nope")).status_code == 400
    assert (await client.delete("/_emulator/records")).json() == {"cleared": True}
    assert emu.records() == []


async def test_clock_advance_expires_contexts(client: httpx.AsyncClient, emu: Emulator):
    await new_context(client)
    assert (await client.get("/_emulator/clock")).json() == {"now": 1_000_000.0}
    r = await client.post("/_emulator/clock/advance", json={"seconds": 86401})
    assert r.json() == {"now": 1_086_401.0}
    assert emu.contexts() == []
    bad = await client.post("/_emulator/clock/advance", json={"seconds": -1})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "EmulatorError"


async def test_forget_and_reset(client: httpx.AsyncClient, emu: Emulator):
    await new_context(client)
    await new_context(client)
    assert (await client.post("/_emulator/contexts/forget")).json() == {"forgotten": 2}
    await new_context(client)
    assert (await client.delete("/_emulator/contexts")).json() == {"forgotten": 1}
    emu.inject_fault("*", "drop")
    await client.post("/_emulator/reset")
    assert emu.records() == [] and emu.faults() == [] and emu.contexts() == []


async def test_faults_over_http(client: httpx.AsyncClient, emu: Emulator):
    r = await client.post(
        "/_emulator/faults",
        json={"path": "/chat/completions", "kind": "status", "status": 429, "times": 2},
    )
    assert r.status_code == 200
    assert r.json()["fault"]["applies"] is False
    listed = (await client.get("/_emulator/faults")).json()["faults"]
    assert listed == emu.faults() and listed[0]["times"] == 2
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    resp = await client.post("/api/v3/chat/completions", json=body, headers=AUTH)
    assert resp.status_code == 429
    assert (await client.delete("/_emulator/faults")).json() == {"cleared": True}
    assert (
        await client.post("/api/v3/chat/completions", json=body, headers=AUTH)
    ).status_code == 200
    for bad in ({"kind": "nope"}, {"kind": "status", "typo": 1}, [1]):
        r = await client.post("/_emulator/faults", json=bad)
        assert r.status_code == 400, bad
    r = await client.post("/_emulator/faults", content=b"{")
    assert r.status_code == 400


async def test_health(client: httpx.AsyncClient):
    assert (await client.get("/_emulator/health")).json() == {
        "ok": True,
        "contexts": 0,
        "responses": 0,
    }


def test_public_names():
    assert set(emulator.__all__) >= {"Emulator", "run_emulator", "Fault", "EmulatorError"}
    for name in emulator.__all__:
        assert hasattr(emulator, name), name
    doc = emulator.__doc__ or ""
    for topic in ("Token counting", "Faults", "Admin endpoints", "Replies", "Truncation"):
        assert topic in doc


def test_create_context_in_process():
    emu = Emulator()
    cid = emu.create_context(model=MODEL, messages=[{"role": "system", "content": "s"}])
    assert emu.context(cid) is not None
    with pytest.raises(emulator.EmulatorError, match="ttl"):
        emu.create_context(model=MODEL, messages=[{"role": "user", "content": "s"}], ttl=5)
