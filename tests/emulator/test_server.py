"""The emulator over real loopback sockets: run_emulator, drops, cut streams, in-flight state."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ark_context.emulator import Emulator, EmulatorError, run_emulator

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer k"}
MODEL = "ep-int"
SYSTEM = {"role": "system", "content": "sys"}


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    assert emu.base_url is not None
    with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as c:
        yield c


def create(client: httpx.Client, mode: str = "session") -> str:
    r = client.post("/context/create", json={"model": MODEL, "messages": [SYSTEM], "mode": mode})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def chat_body(cid: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "context_id": cid,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def test_base_url_layout_and_shutdown():
    with run_emulator() as emu:
        url = emu.base_url
        assert url is not None
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v3")
        port = int(url.split(":")[2].split("/")[0])
        assert port > 0
        with httpx.Client() as c:
            assert c.get(f"{emu.root_url}/_emulator/health").json()["ok"] is True
    assert emu.base_url is None
    with pytest.raises(httpx.ConnectError), httpx.Client() as c:
        c.get(f"{url}/../_emulator/health")
    # no server thread left behind
    assert not [t for t in threading.enumerate() if t.name == f"ark-emulator-{port}"]


def test_run_emulator_rejects_emulator_and_options():
    with pytest.raises(EmulatorError), run_emulator(Emulator(), model_window=10):
        pass


def test_session_round_trip_keep_alive(client: httpx.Client, emu: Emulator):
    cid = create(client)
    for i in range(5):
        r = client.post("/context/chat/completions", json=chat_body(cid, f"q{i}"))
        assert r.status_code == 200
    ctx = emu.context(cid)
    assert ctx is not None and ctx["turns"] == 5
    assert emu.completions()[-1]["from_context"] == 9


def test_drop_before_response_is_a_connection_error(client: httpx.Client, emu: Emulator):
    cid = create(client)
    emu.inject_fault("/context/chat/completions", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/context/chat/completions", json=chat_body(cid, "x"))
    assert emu.context(cid)["turns"] == 1  # type: ignore[index]  # applied by default
    emu.inject_fault("/context/chat/completions", "drop", apply=False)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/context/chat/completions", json=chat_body(cid, "y"))
    assert emu.context(cid)["turns"] == 1  # type: ignore[index]
    # the server still serves new connections afterwards
    assert client.post("/context/chat/completions", json=chat_body(cid, "z")).status_code == 200


def test_cut_stream_sends_k_chunks_then_closes(client: httpx.Client, emu: Emulator):
    cid = create(client)
    emu.inject_fault("/context/chat/completions", "cut_stream", after_chunks=3)
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST", "/context/chat/completions", json=chat_body(cid, "x", stream=True)
        ) as r,
    ):
        assert r.status_code == 200
        lines.extend(line for line in r.iter_lines() if line)
    assert len(lines) == 3
    assert all(line.startswith("data: {") for line in lines)
    assert "[DONE]" not in "".join(lines)
    ctx = emu.context(cid)
    assert ctx is not None and ctx["turns"] == 1 and ctx["in_progress"] is False
    rec = emu.completions()[-1]
    assert rec["cut"] is True and rec["applied"] is True


def test_full_stream_over_socket(client: httpx.Client, emu: Emulator):
    cid = create(client)
    body = chat_body(cid, "hello", stream=True, stream_options={"include_usage": True})
    with client.stream("POST", "/context/chat/completions", json=body) as r:
        data = [line[6:] for line in r.iter_lines() if line]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks[:-1])
    assert text == emu.completions()[-1]["reply"]


class ThreadGate:
    """An injectable emulator sleep that blocks until the test thread opens it.

    It polls a threading.Event from the server's event loop, so no test waits on a timer.
    """

    def __init__(self) -> None:
        self.opened = threading.Event()

    async def __call__(self, seconds: float) -> None:
        import asyncio

        while not self.opened.is_set():
            await asyncio.sleep(0.002)


@pytest.fixture
def gated() -> Iterator[tuple[Emulator, ThreadGate]]:
    gate = ThreadGate()
    with run_emulator(chunk_delay=1.0, sleep=gate) as e:
        yield e, gate
        gate.opened.set()


def test_session_is_in_progress_while_a_stream_is_open(gated: tuple[Emulator, ThreadGate]):
    emu, gate = gated
    with (
        httpx.Client(base_url=emu.base_url or "", headers=AUTH, timeout=10) as client,
        httpx.Client(base_url=emu.base_url or "", headers=AUTH, timeout=10) as other,
    ):
        cid = create(client)
        body = chat_body(cid, "long answer please", stream=True)
        with client.stream("POST", "/context/chat/completions", json=body) as r:
            lines = r.iter_lines()
            first = next(lines)
            assert first.startswith("data: ")
            busy = other.post("/context/chat/completions", json=chat_body(cid, "again"))
            assert busy.status_code == 403
            assert busy.json()["error"]["code"] == "OperationDenied.InvalidState"
            gate.opened.set()
            rest = list(lines)
        assert "data: [DONE]" in rest
        ok = other.post("/context/chat/completions", json=chat_body(cid, "again"))
        assert ok.status_code == 200
        assert emu.context(cid)["turns"] == 2  # type: ignore[index]


def test_abandoned_stream_releases_the_context(gated: tuple[Emulator, ThreadGate]):
    import time

    emu, _gate = gated
    with httpx.Client(base_url=emu.base_url or "", headers=AUTH, timeout=10) as client:
        cid = create(client)
    with httpx.Client(base_url=emu.base_url or "", headers=AUTH, timeout=10) as c2:
        with c2.stream(
            "POST", "/context/chat/completions", json=chat_body(cid, "x", stream=True)
        ) as r:
            lines = r.iter_lines()  # keep a reference: a dropped iterator closes the connection
            assert next(lines).startswith("data: ")
            assert emu.context(cid)["in_progress"] is True  # type: ignore[index]
        c2.close()  # drop the connection mid-stream (the gate is still closed)
    # the server notices the disconnect asynchronously; poll its state (bounded, no timing assert)
    deadline = time.monotonic() + 10
    while emu.context(cid)["in_progress"] and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.01)
    ctx = emu.context(cid)
    assert ctx is not None
    assert ctx["in_progress"] is False
    assert ctx["turns"] == 1  # a stream appends its turn before the first chunk


def test_admin_over_http(client: httpx.Client, emu: Emulator):
    create(client)
    root = emu.root_url
    r = httpx.post(
        f"{root}/_emulator/faults",
        json={"path": "/context/create", "kind": "status", "status": 500},
    )
    assert r.status_code == 200
    assert (
        client.post("/context/create", json={"model": MODEL, "messages": [SYSTEM]}).status_code
        == 500
    )
    assert len(httpx.get(f"{root}/_emulator/contexts").json()["contexts"]) == 1
    assert httpx.post(f"{root}/_emulator/clock/advance", json={"seconds": 90000}).status_code == 200
    assert httpx.get(f"{root}/_emulator/contexts").json()["contexts"] == []


def test_inspection_from_other_threads_while_serving(emu: Emulator):
    """Requests on the server thread while other threads read and change emulator state."""
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()
    errors: list[BaseException] = []

    def inspector() -> int:
        n = 0
        while not stop.is_set():
            try:
                emu.contexts()
                emu.records()
                emu.faults()
                emu.advance_clock(0)
                n += 1
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)
                return n
        return n

    def conversation(i: int) -> int:
        with httpx.Client(base_url=emu.base_url or "", headers=AUTH, timeout=10) as c:
            cid = create(c)
            for j in range(25):
                r = c.post("/context/chat/completions", json=chat_body(cid, f"{i}-{j}"))
                assert r.status_code == 200, r.text
            ctx = emu.context(cid)
            assert ctx is not None
            return int(ctx["turns"])

    with ThreadPoolExecutor(6) as pool:
        watchers = [pool.submit(inspector) for _ in range(2)]
        talks = [pool.submit(conversation, i) for i in range(4)]
        turns = [t.result(timeout=60) for t in talks]
        stop.set()
        reads = [w.result(timeout=10) for w in watchers]
    assert not errors
    assert turns == [25, 25, 25, 25]
    assert all(n > 0 for n in reads)
    assert len(emu.completions()) == 100
