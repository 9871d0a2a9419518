"""Load with faults: 1,000 concurrent conversations through ``ChatArkContext.ainvoke``.

The emulator (over loopback, in a child process so it gets its own core) injects a random fault into about 5%
of all API requests (creates and chats): 5xx with and without the turn applied, 429, 403
InvalidState, 404 context gone, dropped connections with and without the turn applied,
and short latencies. Each conversation runs ``TURNS`` turns; a failed turn is retried once
with the same history (what a user would do), then the conversation stops.

Checked afterwards, from the emulator's record:

* every completion the model ran (it has a reply, or its turn was applied to a context)
  saw exactly the conversation of the call that sent it (matched by the per-call
  ``request_id`` -> ``X-Client-Request-Id``): zero wrong transcripts;
* every reply a caller received is the reply the server recorded for that request;
* every finished conversation's last context holds exactly its transcript (no duplicated
  or lost turn);
* every error a caller saw is a documented one: an ``ark_context`` error (for LangChain,
  its mapped ``langchain_core`` twin), never a bare ``KeyError``/``TypeError``/...;
* the injected connection pool holds no checked-out connection at the end.

All conversations are open at once and interleave; at most ``IN_FLIGHT`` turns are in
flight at a time (a semaphore, like an app server's worker limit; without it, 1,000
requests queue inside httpcore's pool whose assignment is O(queued x connections)).
Backoff sleeps are replaced by ``asyncio.sleep(0)`` (the delays asked for are recorded).
"""

from __future__ import annotations

import asyncio
import collections
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.exceptions import LangChainException
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from ark_context import (
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkError,
    ArkNotFoundError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkServerError,
    InMemoryStore,
)
from ark_context import wire_message as W
from ark_context.emulator import Emulator, Fault, run_emulator
from langchain_ark_context import ChatArkContext

pytestmark = pytest.mark.integration

CONVERSATIONS = 1000
TURNS = 2
FAULT_RATE = 0.05
IN_FLIGHT = 100
SEED = 20240611

# Errors ChatArkContext maps to a langchain_core twin, and those that have none.
MAPPED = (ArkServerError, ArkRateLimitError, ArkConnectionError, ArkNotFoundError)
UNMAPPED = (ArkContextBusyError, ArkContextGoneError, ArkProtocolError)

# (kind, options): what an unlucky request gets.
FAULT_MENU: list[tuple[str, dict[str, Any]]] = [
    ("status", {"status": 500}),
    ("status", {"status": 500, "apply": True}),
    ("status", {"status": 502, "apply": True}),
    ("status", {"status": 429, "retry_after": "0"}),
    ("status", {"status": 403, "code": "OperationDenied.InvalidState"}),
    ("status", {"status": 404, "code": "NotFound.Context"}),
    ("drop", {"apply": True}),
    ("drop", {"apply": False}),
]


class FlakyEmulator(Emulator):
    """An emulator that gives a random ``rate`` of requests a fault from ``FAULT_MENU``."""

    def __init__(self, *, rate: float, seed: int, **options: Any) -> None:
        super().__init__(**options)
        self.rate = rate
        self.rng = random.Random(seed)

    def take_fault(self, path: str, stream: bool) -> Fault | None:
        fault = super().take_fault(path, stream)
        if fault is not None:
            return fault
        with self._lock:
            if self.rng.random() >= self.rate:
                return None
            kind, options = self.rng.choice(FAULT_MENU)
        return Fault(kind=kind, path=path, **options)  # type: ignore[arg-type]


def _lc(conv: list[dict[str, str]]) -> list[Any]:
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](m["content"]) for m in conv]


class FlakyProcess:
    """A ``FlakyEmulator`` in a child process (this module run as a script), so the emulator
    and the client each get a core; read over its admin endpoints."""

    def __enter__(self) -> FlakyProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.test_load", str(SEED)],
            cwd=str(Path(__file__).resolve().parents[2]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()  # the base URL, once serving
        if not line.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError(f"the flaky emulator did not start: {line!r}")
        self.base_url = line
        self.root = line.rsplit("/api/v3", 1)[0]
        return self

    def admin(self, endpoint: str) -> Any:
        r = httpx.get(f"{self.root}/_emulator/{endpoint}", timeout=60.0)
        r.raise_for_status()
        return r.json()

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the child serves until its stdin closes
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _serve(seed: int) -> None:
    emu = FlakyEmulator(rate=FAULT_RATE, seed=seed, max_records=50_000)
    with run_emulator(emu) as running:
        print(running.base_url, flush=True)
        sys.stdin.read()


@pytest.fixture(scope="module")
def flaky():
    with FlakyProcess() as proc:
        yield proc


async def test_thousand_conversations_with_random_faults(flaky: FlakyProcess) -> None:
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    http = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0))
    llm = ChatArkContext(
        model="ep-load",
        api_key="load-key-5c1e",
        base_url=flaky.base_url,
        mode="session",
        store=InMemoryStore(),
        http_async_client=http,
    )
    router = llm.ark_router()
    asked: list[float] = []

    async def no_wait(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0)

    router._async_sleep = no_wait
    router.async_client._sleep = no_wait

    sent: dict[str, list[dict[str, str]]] = {}  # request id -> the conversation it carried
    received: dict[str, str] = {}  # request id -> the reply the caller got
    last: dict[int, tuple[str, list[dict[str, str]]]] = {}  # conv -> (context id, transcript)
    errors: list[BaseException] = []
    outcomes: collections.Counter[str] = collections.Counter()
    gate = asyncio.Semaphore(IN_FLIGHT)
    system = W("system", "You answer load-test questions in one line.")

    async def conversation(c: int) -> None:
        conv = [system]
        for t in range(TURNS):
            conv.append(W("user", f"conversation {c} turn {t}: what did we say so far?"))
            for attempt in range(2):
                rid = f"load-{c}-{t}-{attempt}"
                sent[rid] = list(conv)
                try:
                    async with gate:
                        reply = await llm.ainvoke(_lc(conv), request_id=rid)
                except Exception as exc:  # judged below, never hidden
                    errors.append(exc)
                    continue
                received[rid] = reply.content
                outcomes[reply.response_metadata["context_outcome"]] += 1
                conv.append(W("assistant", reply.content))
                last[c] = (reply.response_metadata["context_id"], list(conv))
                break
            else:
                return  # two failures in a row: the user gives up

    try:
        await asyncio.gather(*(conversation(c) for c in range(CONVERSATIONS)))
        pool = http._transport._pool
        assert [c.info() for c in pool.connections if not (c.is_idle() or c.is_closed())] == []
        assert len(pool._requests) == 0
    finally:
        await http.aclose()

    # Faults really happened, at about the asked rate, of every kind.
    records = flaky.admin("records")["records"]
    faulted = collections.Counter(
        (r["fault"], r["status"], r["error"], r["applied"]) for r in records if r["fault"]
    )
    assert 0.03 * len(records) < sum(faulted.values()) < 0.08 * len(records), faulted
    assert len(faulted) >= len(FAULT_MENU) - 1, faulted  # 500 applied/not on create look alike

    # Every failure is a documented, typed error.
    for exc in errors:
        assert isinstance(exc, ArkError), f"undocumented {type(exc).__name__}: {exc}"
        assert not isinstance(exc, (KeyError, TypeError, AttributeError))
        if isinstance(exc, MAPPED) and not isinstance(exc, ArkContextBusyError):
            assert isinstance(exc, LangChainException), type(exc).__mro__
        else:  # no LangChain type fits: the ark_context error as it is
            assert isinstance(exc, UNMAPPED), type(exc).__mro__
    finished = sum(
        1 for c in range(CONVERSATIONS) if len(last.get(c, (None, []))[1]) == 1 + 2 * TURNS
    )
    assert finished >= 0.97 * CONVERSATIONS, (
        finished,
        len(errors),
        collections.Counter(map(type, errors)),
    )

    # Zero wrong transcripts: every completion that ran saw exactly its caller's conversation.
    ran = 0
    for r in records:
        if r["path"] == "/context/create":
            continue
        assert r["request_id"] in sent, f"a completion nobody sent: {r['request_id']}"
        if r["reply"] is None and not r["applied"]:
            continue
        ran += 1
        assert r["messages"] == sent[r["request_id"]], f"wrong transcript for {r['request_id']}"
        assert not r["dropped"]
    assert ran >= len(received)

    # Every reply a caller got is the one the server produced for that request.
    served = {
        r["request_id"]: r["reply"]
        for r in records
        if r["path"] != "/context/create" and r["status"] == 200 and not r["fault"]
    }
    for rid, text in received.items():
        assert served.get(rid) == text, f"reply mismatch for {rid}"

    # No duplicated or lost turn: each finished conversation's context is its transcript.
    contexts = {c["id"]: c for c in flaky.admin("contexts")["contexts"]}
    for c, (context_id, transcript) in last.items():
        if len(transcript) != 1 + 2 * TURNS:
            continue  # gave up after two failures: its context was abandoned, maybe mid-turn
        ctx = contexts.get(context_id)
        assert ctx is not None
        got = [{"role": m["role"], "content": m["content"]} for m in ctx["messages"]]
        assert got == transcript, f"conversation {c}: context {context_id} differs"

    assert outcomes["recreated"] > 0 and outcomes["reused"] > 0, outcomes
    # Backoffs asked for: Retry-After 0 for the 429s, else jitter within the documented cap.
    assert asked and all(0.0 <= a <= 1.0 for a in asked), asked
    print(  # shown with -s: what docs/reliability.md quotes
        f"{len(records)} requests, {sum(faulted.values())} faults, "
        f"{len(received)} replies, {finished} conversations finished, outcomes {dict(outcomes)}, "
        f"errors {collections.Counter(type(e).__name__ for e in errors)}"
    )


if __name__ == "__main__":  # the child process of FlakyProcess
    _serve(int(sys.argv[1]))
