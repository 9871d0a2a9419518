"""Many conversations at once: ``ChatArkContext.ainvoke`` against an emulator process.

``CONVERSATIONS`` conversations run concurrently (one ``asyncio.gather``), each doing
``TURNS`` sequential turns in session mode with a shared system prompt and its own user
messages. The emulator runs in a separate process (``ark-context emulator``)
so its CPU does not count against the client; the two share the machine's cores.

Reported: throughput (turns/s over the whole run), per-turn latency p50/p99 (one
``ainvoke``, from admission to reply), errors raised to callers (target 0),
``InProgress`` (context busy) errors seen by callers (target 0), contexts created
(read from the emulator's admin endpoint; target one per conversation), conversations
whose server transcript is not exactly the conversation (target 0), and the in-memory
store's size per tracked conversation, and the CPU each side spends per request.

All conversations are open at once and interleave, but at most ``POOL`` turns are in
flight (an ``asyncio.Semaphore``, like an app server's worker limit), over an injected
``httpx.AsyncClient`` that keeps ``POOL`` connections alive. Why bounded: unbounded,
1,000 requests queue inside httpcore's pool, whose request assignment scans the queue and
every connection per completed request; and even with no queue, that scan (which checks
each idle connection's socket) grows with the number of connections, so a large pool
costs the client more CPU per turn than the router and LangChain together. A handful of
connections keeps the emulator busy. Latency is per ``ainvoke`` once admitted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from benchmarks._harness import REPO_ROOT, deep_sizeof, free_port, percentile, row, wait_http

SECTION = "Scale: concurrent conversations through ChatArkContext.ainvoke"

MODEL = "ep-bench-scale"
CONVERSATIONS, TURNS = 1000, 5
SMOKE_CONVERSATIONS, SMOKE_TURNS = 20, 2
POOL = 8
SYSTEM = "You are a concise assistant for the benchmark tenant. Answer in one short paragraph."


def _user(conv: int, turn: int) -> str:
    return f"Conversation {conv}, turn {turn + 1}: please summarise what we discussed so far."


class EmulatorProcess:
    """``ark-context emulator`` (``python -m ark_context_app.cli``) on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/api/v3"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        cmd = [
            sys.executable,
            "-m",
            "ark_context_app.cli",
            "emulator",
            "--log-level",
            "warning",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=str(REPO_ROOT),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_http(f"{self.root}/_emulator/health", timeout=30.0, proc=self.proc)
        except RuntimeError as exc:
            err = self._stop()
            raise RuntimeError(
                f"emulator process did not start: {exc}; stderr: {err[-600:]}"
            ) from None
        return self

    def _stop(self) -> str:
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        self.proc = None
        return err

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the emulator process so far (Linux /proc), else None."""
        if self.proc is None:
            return None
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def admin(self, endpoint: str, **params: str) -> Any:
        r = httpx.get(f"{self.root}/_emulator/{endpoint}", params=params, timeout=60.0)
        r.raise_for_status()
        return r.json()


async def _conversation(
    llm: Any, lc: Any, conv: int, turns: int, gate: asyncio.Semaphore, out: dict[str, Any]
) -> None:
    history: list[Any] = [lc.SystemMessage(SYSTEM)]
    for t in range(turns):
        history.append(lc.HumanMessage(_user(conv, t)))
        async with gate:
            t0 = time.perf_counter()
            try:
                reply = await llm.ainvoke(history)
            except Exception as exc:  # counted, never hidden
                out["errors"].append(exc)
                return
            out["latencies"].append(time.perf_counter() - t0)
        out["outcomes"][reply.response_metadata.get("context_outcome")] = (
            out["outcomes"].get(reply.response_metadata.get("context_outcome"), 0) + 1
        )
        history.append(reply)


async def _run(base_url: str, conversations: int, turns: int) -> dict[str, Any]:
    from langchain_core import messages as lc

    from ark_context.stores import InMemoryStore
    from langchain_ark_context import ChatArkContext

    store = InMemoryStore()
    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0)) as http:
        llm = ChatArkContext(
            model=MODEL,
            api_key="bench-key",
            base_url=base_url,
            mode="session",
            store=store,
            http_async_client=http,
            timeout=120.0,
        )
        # Warm up imports, the router and a connection outside the timed run.
        await llm.ainvoke([lc.SystemMessage(SYSTEM), lc.HumanMessage("warm-up")])
        out: dict[str, Any] = {"latencies": [], "errors": [], "outcomes": {}}
        gate = asyncio.Semaphore(POOL)
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        await asyncio.gather(
            *(_conversation(llm, lc, c, turns, gate, out) for c in range(conversations))
        )
        out["cpu_seconds"] = time.process_time() - cpu0
        out["seconds"] = time.perf_counter() - t0
    out["store_entries"] = len(store)
    out["store_bytes"] = deep_sizeof(store)
    return out


def run(smoke: bool) -> list[dict[str, Any]]:
    from ark_context import ArkContextBusyError

    conversations, turns = (SMOKE_CONVERSATIONS, SMOKE_TURNS) if smoke else (CONVERSATIONS, TURNS)
    with EmulatorProcess() as emu:
        emu_cpu0 = emu.cpu_seconds()
        res = asyncio.run(_run(emu.base_url, conversations, turns))
        emu_cpu1 = emu.cpu_seconds()
        creates = emu.admin("records", path="/context/create")["records"]
        contexts = emu.admin("contexts")["contexts"]

    errors = res["errors"]
    busy = [
        e
        for e in errors
        if isinstance(e, ArkContextBusyError) or "InProgress" in str(e) or "InvalidState" in str(e)
    ]
    created = sum(1 for r in creates if r.get("status") == 200) - 1  # minus the warm-up
    # Every conversation's context must hold exactly its transcript: system + turns x 2.
    expected_len = 1 + 2 * turns
    ours = [c for c in contexts if any("Conversation " in m["content"] for m in c["messages"])]
    wrong = conversations - sum(1 for c in ours if len(c["messages"]) == expected_len)
    lat_ms = [s * 1000 for s in res["latencies"]]
    done = len(res["latencies"])
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(res["outcomes"].items(), key=str))
    scale = f"{conversations} conversations x {turns} turns, all concurrent"
    note_err = (
        "; ".join(sorted({f"{type(e).__name__}: {str(e)[:120]}" for e in errors})[:3]) or None
    )
    per_conv = res["store_bytes"] / conversations
    requests = done + created
    cpu_rows = [
        row(
            SECTION,
            "client CPU per turn",
            res["cpu_seconds"] / max(done, 1) * 1000,
            "ms",
            note="process CPU of the benchmark process (LangChain + router + httpx) / turns",
        )
    ]
    if emu_cpu0 is not None and emu_cpu1 is not None:
        cpu_rows.append(
            row(
                SECTION,
                "emulator CPU per request",
                (emu_cpu1 - emu_cpu0) / max(requests, 1) * 1000,
                "ms",
                note=f"{requests} requests (turns + context creations); the emulator's own "
                "cost, so you can tell which side limits throughput",
            )
        )
    return [
        row(
            SECTION,
            "throughput",
            done / res["seconds"],
            "turns/s",
            note=f"{scale}; {done} turns in {res['seconds']:.1f} s; at most {POOL} turns in flight "
            f"over {POOL} kept-alive connections; "
            f"routes: {outcomes}",
        ),
        row(SECTION, "latency p50", percentile(lat_ms, 50), "ms"),
        row(SECTION, "latency p99", percentile(lat_ms, 99), "ms", anchor="latency p50"),
        row(
            SECTION, "errors raised to callers", len(errors), "errors", target="== 0", note=note_err
        ),
        row(
            SECTION, "InProgress (busy) errors seen by callers", len(busy), "errors", target="== 0"
        ),
        row(
            SECTION,
            "contexts created",
            created,
            "contexts",
            target=f"== {conversations}",
            note="POST /context/create records in the emulator (warm-up excluded)",
        ),
        row(
            SECTION,
            "conversations whose server transcript is wrong",
            wrong,
            "conversations",
            target="== 0",
            note=f"live contexts read from /_emulator/contexts must hold exactly {expected_len} messages",
        ),
        row(
            SECTION,
            "store entries per conversation",
            res["store_entries"] / conversations,
            "entries",
        ),
        row(
            SECTION,
            "store memory per conversation",
            per_conv,
            "B",
            note="sys.getsizeof summed over the InMemoryStore's object graph / conversations "
            f"({res['store_entries']} entries)",
        ),
        *cpu_rows,
    ]
