"""Emulator throughput: requests per second on one uvicorn worker.

The server runs as a separate process (``ark-context emulator`` via ``python -m
ark_context_app.cli``), so client and server do not share an interpreter; the client is an
``httpx.AsyncClient`` with keep-alive and a few concurrent connections, each driving its own
context. Server CPU use is read from ``/proc`` to tell whether the server or the client was the
bottleneck. ``python -m benchmarks --only emulator [--smoke]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

SECTION = "Emulator throughput"
CONNECTIONS = 4
AUTH = {"Authorization": "Bearer bench-key"}
MODEL = "ep-bench"
RESPONSES_MODEL = "doubao-seed-1-6-251015"
SYSTEM = {"role": "system", "content": "You are a benchmark. Answer briefly."}


def _row(
    name: str,
    value: float,
    unit: str,
    *,
    anchor: str | None = None,
    anchor_value: float | None = None,
    target: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    ratio = value / anchor_value if anchor_value else None
    return {
        "section": SECTION,
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "anchor": anchor,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        "note": note,
    }


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


class _Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ark_context_app.cli",
                "emulator",
                "--port",
                "0",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.close()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.base_url = line.strip().rsplit(" ", 1)[1]

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The run with the median rate (and its CPU share)."""
    return sorted(runs)[len(runs) // 2]


async def _measure(
    server: _Server, client: httpx.AsyncClient, n: int, one: Callable[[int, int], Awaitable[None]]
) -> tuple[float, float]:
    """Run ``n`` requests over CONNECTIONS workers; returns (requests/s, server CPU share)."""
    per = max(1, n // CONNECTIONS)

    async def worker(w: int) -> None:
        for i in range(per):
            await one(w, i)

    cpu0, t0 = server.cpu(), time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONNECTIONS)))
    elapsed = time.perf_counter() - t0
    return per * CONNECTIONS / elapsed, (server.cpu() - cpu0) / elapsed


async def _run_http(n: int, repeats: int) -> dict[str, tuple[float, float]]:
    server = _Server()
    out: dict[str, tuple[float, float]] = {}
    try:
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=AUTH, limits=limits, timeout=30
        ) as client:

            async def create(mode: str) -> list[str]:
                ids = []
                for _ in range(CONNECTIONS):
                    r = await client.post(
                        "/context/create", json={"model": MODEL, "messages": [SYSTEM], "mode": mode}
                    )
                    r.raise_for_status()
                    ids.append(r.json()["id"])
                return ids

            session = await create("session")
            prefix = await create("common_prefix")

            def chat_on(
                ids: list[str], stream: bool = False
            ) -> Callable[[int, int], Awaitable[None]]:
                async def one(w: int, i: int) -> None:
                    body = {
                        "model": MODEL,
                        "context_id": ids[w],
                        "messages": [{"role": "user", "content": f"question number {i}"}],
                    }
                    if stream:
                        body["stream"] = True
                        async with client.stream(
                            "POST", "/context/chat/completions", json=body
                        ) as r:
                            async for _ in r.aiter_bytes():
                                pass
                        if r.status_code != 200:
                            raise RuntimeError(f"stream failed: {r.status_code}")
                    else:
                        r = await client.post("/context/chat/completions", json=body)
                        if r.status_code != 200:
                            raise RuntimeError(f"chat failed: {r.text}")

                return one

            async def plain(w: int, i: int) -> None:
                r = await client.post(
                    "/chat/completions",
                    json={
                        "model": MODEL,
                        "messages": [SYSTEM, {"role": "user", "content": f"question {i}"}],
                    },
                )
                if r.status_code != 200:
                    raise RuntimeError(f"chat failed: {r.text}")

            await _measure(server, client, max(40, n // 10), chat_on(session))  # warm-up
            out["session"] = _median(
                [await _measure(server, client, n, chat_on(session)) for _ in range(repeats)]
            )
            out["prefix"] = await _measure(server, client, n, chat_on(prefix))
            out["plain"] = await _measure(server, client, n, plain)
            out["stream"] = await _measure(server, client, max(40, n // 4), chat_on(session, True))
        out["lean"] = _median([await _run_lean_client(server, n) for _ in range(repeats)])
        out["responses"] = _median(
            [await _run_lean_client(server, n, "responses") for _ in range(repeats)]
        )
    finally:
        server.close()
    return out


class _LeanConnection:
    """A minimal HTTP/1.1 keep-alive client (no header objects, no pools) that costs the
    benchmark process far less CPU than httpx, so the server becomes the bottleneck."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        raw = json.dumps(body).encode()
        self.writer.write(
            b"POST /api/v3%s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer bench-key\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), len(raw), raw)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return int(head[9:12]), await self.reader.readexactly(length)


#: Per API: (setup path, setup body, turn path, turn body from (state id, i)).
_LEAN_APIS: dict[str, tuple[str, dict[str, Any], str, Callable[[str, int], dict[str, Any]]]] = {
    "context": (
        "/context/create",
        {"model": MODEL, "messages": [SYSTEM]},
        "/context/chat/completions",
        lambda cid, i: {
            "model": MODEL,
            "context_id": cid,
            "messages": [{"role": "user", "content": f"question number {i}"}],
        },
    ),
    # each connection's turns branch from its own first turn, with session caching: every
    # request resolves a chain, reads the cache, stores a response and counts its storage
    "responses": (
        "/responses",
        {"model": RESPONSES_MODEL, "input": [SYSTEM], "caching": {"type": "enabled"}},
        "/responses",
        lambda rid, i: {
            "model": RESPONSES_MODEL,
            "previous_response_id": rid,
            "input": f"question number {i}",
            "caching": {"type": "enabled"},
        },
    ),
}


async def _run_lean_client(server: _Server, n: int, api: str = "context") -> tuple[float, float]:
    setup_path, setup_body, path, turn_body = _LEAN_APIS[api]
    hostport = server.base_url.split("//", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    conns = [
        _LeanConnection(*await asyncio.open_connection(host, int(port))) for _ in range(CONNECTIONS)
    ]
    try:
        ids = []
        for c in conns:
            status, data = await c.post(setup_path, setup_body)
            if status != 200:
                raise RuntimeError(f"setup failed: {data!r}")
            ids.append(json.loads(data)["id"])

        async def one(w: int, i: int) -> None:
            status, data = await conns[w].post(path, turn_body(ids[w], i))
            if status != 200:
                raise RuntimeError(f"{path} failed: {data!r}")

        per = max(1, n // CONNECTIONS)

        async def worker(w: int, count: int) -> None:
            for i in range(count):
                await one(w, i)

        await asyncio.gather(*(worker(w, max(10, per // 10)) for w in range(CONNECTIONS)))
        cpu0, t0 = server.cpu(), time.perf_counter()
        await asyncio.gather(*(worker(w, per) for w in range(CONNECTIONS)))
        elapsed = time.perf_counter() - t0
        return per * CONNECTIONS / elapsed, (server.cpu() - cpu0) / elapsed
    finally:
        for c in conns:
            c.writer.close()


async def _run_in_process(n: int) -> float:
    """The app alone (no sockets, no HTTP parsing): raw ASGI calls on one event loop."""
    from ark_context.emulator import Emulator

    emu = Emulator()
    app = emu.app
    cid = emu.create_context(model=MODEL, messages=[SYSTEM])
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def one(i: int) -> None:
        raw = json.dumps(
            {"model": MODEL, "context_id": cid, "messages": [{"role": "user", "content": f"q {i}"}]}
        ).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v3/context/chat/completions",
            "raw_path": b"/api/v3/context/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"authorization", b"Bearer k"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
        }
        await app(scope, receive, send)
        sent.clear()

    for i in range(max(10, n // 10)):
        await one(i)
    t0 = time.perf_counter()
    for i in range(n):
        await one(i)
    return n / (time.perf_counter() - t0)


def run(smoke: bool) -> list[dict[str, Any]]:
    n = 200 if smoke else 8000
    repeats = 1 if smoke else 3
    http = asyncio.run(_run_http(n, repeats))
    in_process = asyncio.run(_run_in_process(n))
    lean, lean_cpu = http["lean"]
    rate, cpu = http["session"]
    base = "session context chat, non-streaming (server-bound: lean client)"
    httpx_note = f"{CONNECTIONS} keep-alive connections, httpx.AsyncClient in another process"
    return [
        _row(
            base,
            lean,
            "req/s",
            target=">= 2000 req/s",
            note=f"median of {repeats}; one uvicorn worker in its own process; {CONNECTIONS} "
            f"keep-alive connections from a minimal HTTP/1.1 client; server used {lean_cpu:.0%} "
            "of a core",
        ),
        _row(
            "/responses, session caching chain, non-streaming (server-bound: lean client)",
            http["responses"][0],
            "req/s",
            anchor=base,
            anchor_value=lean,
            target=">= 2000 req/s",
            note=f"median of {repeats}; same server and client as above; each request chains "
            "from its connection's first turn with caching enabled; server used "
            f"{http['responses'][1]:.0%} of a core",
        ),
        _row(
            "session context chat, non-streaming, httpx client",
            rate,
            "req/s",
            anchor=base,
            anchor_value=lean,
            note=f"median of {repeats}; {httpx_note}; server used {cpu:.0%} of a core, so the "
            "httpx client (about one core) is the limit here, not the server",
        ),
        _row(
            "common_prefix context chat, non-streaming, httpx client",
            http["prefix"][0],
            "req/s",
            anchor=base,
            anchor_value=lean,
            note=f"{httpx_note}; server used {http['prefix'][1]:.0%} of a core",
        ),
        _row(
            "chat/completions (no context), httpx client",
            http["plain"][0],
            "req/s",
            anchor=base,
            anchor_value=lean,
            note=f"{httpx_note}; server used {http['plain'][1]:.0%} of a core",
        ),
        _row(
            "session context chat, streaming, httpx client",
            http["stream"][0],
            "req/s",
            anchor=base,
            anchor_value=lean,
            note=f"one SSE chunk per token (~15 per reply) read to [DONE]; server used "
            f"{http['stream'][1]:.0%} of a core",
        ),
        _row(
            "session context chat, app only (raw ASGI calls, no sockets)",
            in_process,
            "req/s",
            anchor=base,
            anchor_value=lean,
            note="the emulator logic plus Starlette request/response objects, without "
            "uvicorn/h11 or a client: the HTTP server is most of the cost",
        ),
    ]


if __name__ == "__main__":  # pragma: no cover
    smoke = "--smoke" in sys.argv
    for row in run(smoke):
        print(json.dumps(row, ensure_ascii=False))
