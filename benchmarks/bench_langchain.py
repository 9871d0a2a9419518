"""LangChain adapter cost: ``ChatArkContext.invoke`` next to ``ChatOpenAI.invoke``.

Every model talks to the same in-process ``httpx.MockTransport`` (no sockets), which
answers with canned bytes: an Ark context-chat completion, ``/context/create`` and the
OpenAI ``/chat/completions`` (the same JSON). So the rows time the client-side stack
only: LangChain's ``BaseChatModel`` machinery, message conversion, the router and the
HTTP client for ours; LangChain plus the ``openai`` SDK for ``ChatOpenAI``.
``FakeListChatModel`` (no I/O at all) is LangChain's floor.

Ours is timed in steady state, where the context is reused:

* ``common_prefix`` with a system prompt: the prefix context is created once, before
  timing; every timed call reuses it and sends the user turn.
* ``session``: conversations of ``TURNS`` turns; the first turn of each (it creates
  the context) is not timed; every later turn reuses the context and sends only the
  new turn. ``ChatOpenAI`` gets the very same histories (it sends them whole).

Each timed call of ours is checked to be a ``reused`` route; a row's note says so.
Import rows are medians of fresh interpreters.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from benchmarks._harness import (
    atime_per_call,
    completion_json,
    import_time_ms,
    median,
    row,
    time_per_call,
)

SECTION = "LangChain invoke (no network)"
ASECTION = "LangChain ainvoke (no network)"
ISECTION = "LangChain import time"
MODEL = "ep-bench-langchain"
SYSTEM = "You are a terse assistant. Answer in one short sentence."
REPLY = "A short deterministic reply from the mock transport."
TURNS = 12
TARGET = "<= 0.35x"

_COMPLETION = completion_json(MODEL, REPLY, prompt=40, completion=10, cached=30)
_JSON = {"content-type": "application/json"}


def _handler() -> tuple[Callable[[httpx.Request], httpx.Response], dict[str, int]]:
    seen = {"create": 0, "chat": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/context/create"):
            seen["create"] += 1
            body = json.loads(request.content)
            info = {
                "id": f"ctx-bench-{seen['create']}",
                "model": MODEL,
                "mode": body.get("mode", "session"),
                "ttl": 86400,
                "usage": {"prompt_tokens": 20, "completion_tokens": 0, "total_tokens": 20},
            }
            return httpx.Response(200, content=json.dumps(info).encode(), headers=_JSON)
        seen["chat"] += 1
        return httpx.Response(200, content=_COMPLETION, headers=_JSON)

    return handle, seen


def _models(mode: str) -> dict[str, Any]:
    from langchain_core.language_models import FakeListChatModel
    from langchain_openai import ChatOpenAI

    from ark_context import InMemoryStore
    from langchain_ark_context import ChatArkContext

    handle, seen = _handler()
    transport = httpx.MockTransport(handle)
    ours = ChatArkContext(
        model=MODEL,
        api_key="bench-key",
        base_url="http://ark.bench/api/v3",
        mode=mode,
        store=InMemoryStore(),
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
    )
    openai = ChatOpenAI(
        model=MODEL,
        api_key="bench-key",  # type: ignore[arg-type]
        base_url="http://openai.bench/v1",
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
        max_retries=0,
    )
    fake = FakeListChatModel(responses=[REPLY])
    return {"ours": ours, "openai": openai, "fake": fake, "seen": seen}


class _Outcomes:
    """Counts the route outcomes of our timed calls."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, message: Any) -> None:
        o = message.response_metadata.get("context_outcome", "?")
        self.counts[o] = self.counts.get(o, 0) + 1

    def note(self) -> str:
        if set(self.counts) == {"reused"}:
            return f"all {self.counts['reused']} timed calls of ours were context reuses"
        return f"NOT all reuses: outcomes {self.counts}"


# -- common_prefix: one conversation shape, prefix reused ----------------------------------


def _prefix_rows(number: int, repeats: int) -> list[dict[str, Any]]:
    from langchain_core.messages import HumanMessage, SystemMessage

    m = _models("common_prefix")
    msgs = [SystemMessage(SYSTEM), HumanMessage("What is a context cache?")]
    m["ours"].invoke(msgs)  # creates the prefix context (not timed)
    out = _Outcomes()

    def ours() -> None:
        out.add(m["ours"].invoke(msgs))

    fake = time_per_call(lambda: m["fake"].invoke(msgs), number=number, repeats=repeats)
    openai = time_per_call(lambda: m["openai"].invoke(msgs), number=number, repeats=repeats)
    mine = time_per_call(ours, number=number, repeats=repeats)
    note = f"{out.note()}; {m['seen']['create']} context created before timing"

    async def amain() -> tuple[float, float, float, str]:
        aout = _Outcomes()

        async def aours() -> None:
            aout.add(await m["ours"].ainvoke(msgs))

        afake = await atime_per_call(
            lambda: m["fake"].ainvoke(msgs), number=number, repeats=repeats
        )
        aopenai = await atime_per_call(
            lambda: m["openai"].ainvoke(msgs), number=number, repeats=repeats
        )
        amine = await atime_per_call(aours, number=number, repeats=repeats)
        return afake, aopenai, amine, aout.note()

    afake, aopenai, amine, anote = asyncio.run(amain())
    return [
        row(SECTION, "FakeListChatModel.invoke (floor)", fake, "us"),
        row(SECTION, "ChatOpenAI.invoke, system + user", openai, "us"),
        row(
            SECTION,
            "ChatArkContext.invoke, common_prefix reuse",
            mine,
            "us",
            anchor="ChatOpenAI.invoke, system + user",
            target=TARGET,
            note=note,
        ),
        row(
            ASECTION,
            "FakeListChatModel.ainvoke (floor)",
            afake,
            "us",
            note="has no native _agenerate: LangChain runs its _generate in a thread",
        ),
        row(ASECTION, "ChatOpenAI.ainvoke, system + user", aopenai, "us"),
        row(
            ASECTION,
            "ChatArkContext.ainvoke, common_prefix reuse",
            amine,
            "us",
            anchor="ChatOpenAI.ainvoke, system + user",
            target=TARGET,
            note=anote,
        ),
    ]


# -- session: growing conversations, the context follows them --------------------------------


def _conversations(n: int) -> list[list[list[Any]]]:
    """``n`` conversations; each is the list of histories passed on turns 1..TURNS."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    convs = []
    for c in range(n):
        history: list[Any] = [SystemMessage(SYSTEM), HumanMessage(f"Conversation {c}, turn 0?")]
        turns = [history]
        for t in range(1, TURNS):
            history = [*history, AIMessage(REPLY), HumanMessage(f"Conversation {c}, turn {t}?")]
            turns.append(history)
        convs.append(turns)
    return convs


def _per_turn(convs: list[list[list[Any]]], call: Callable[[list[Any]], Any]) -> float:
    """Median over conversations of the mean µs of turns 2..TURNS (turn 1 untimed)."""
    samples = []
    enabled = gc.isenabled()
    for turns in convs:
        call(turns[0])
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        for history in turns[1:]:
            call(history)
        samples.append((time.perf_counter() - t0) / (len(turns) - 1) * 1e6)
        if enabled:
            gc.enable()
    return median(samples)


async def _aper_turn(
    convs: list[list[list[Any]]], call: Callable[[list[Any]], Awaitable[Any]]
) -> float:
    samples = []
    for turns in convs:
        await call(turns[0])
        gc.collect()
        t0 = time.perf_counter()
        for history in turns[1:]:
            await call(history)
        samples.append((time.perf_counter() - t0) / (len(turns) - 1) * 1e6)
    return median(samples)


def _session_rows(n_convs: int) -> list[dict[str, Any]]:
    m = _models("session")
    warm = _conversations(2)
    for turns in warm:  # warm up both stacks on throwaway conversations
        for h in turns:
            m["ours"].invoke(h)
            m["openai"].invoke(h)
    out = _Outcomes()

    def ours(history: list[Any]) -> None:
        msg = m["ours"].invoke(history)
        if len(history) > 2:
            out.add(msg)

    openai = _per_turn(_conversations(n_convs), m["openai"].invoke)
    convs = _conversations(n_convs)
    # Fresh texts so the async run cannot hit contexts the sync run recorded.
    mine = _per_turn([[_retag(h, "s") for h in turns] for turns in convs], ours)

    async def amain() -> tuple[float, float, str]:
        aout = _Outcomes()

        async def aours(history: list[Any]) -> None:
            msg = await m["ours"].ainvoke(history)
            if len(history) > 2:
                aout.add(msg)

        aopenai = await _aper_turn(_conversations(n_convs), m["openai"].ainvoke)
        amine = await _aper_turn([[_retag(h, "a") for h in turns] for turns in convs], aours)
        return aopenai, amine, aout.note()

    aopenai, amine, anote = asyncio.run(amain())
    what = f"median over {n_convs} conversations of the mean of turns 2..{TURNS}"
    return [
        row(SECTION, f"ChatOpenAI.invoke, {TURNS}-turn conversations", openai, "us", note=what),
        row(
            SECTION,
            "ChatArkContext.invoke, session reuse",
            mine,
            "us",
            anchor=f"ChatOpenAI.invoke, {TURNS}-turn conversations",
            target=TARGET,
            note=f"{out.note()}; {what}",
        ),
        row(ASECTION, f"ChatOpenAI.ainvoke, {TURNS}-turn conversations", aopenai, "us", note=what),
        row(
            ASECTION,
            "ChatArkContext.ainvoke, session reuse",
            amine,
            "us",
            anchor=f"ChatOpenAI.ainvoke, {TURNS}-turn conversations",
            target=TARGET,
            note=f"{anote}; {what}",
        ),
    ]


def _retag(history: list[Any], tag: str) -> list[Any]:
    first = history[1]
    return [
        history[0],
        first.model_copy(update={"content": f"[{tag}] {first.content}"}),
        *history[2:],
    ]


# -- long histories: session hits at 10, 200 and 1,000 messages -------------------------------

LSECTION = "LangChain invoke, long histories (no network)"
LONG_TARGET = "<= 3x"


def _long_history(tag: str, n: int) -> list[Any]:
    """System prompt, then alternating human/AI messages (human ~250 chars), ``n - 2``
    of them; the caller appends the latest reply and a new human turn."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    body = "lorem ipsum dolor sit amet " * 9
    h: list[Any] = [SystemMessage(SYSTEM), HumanMessage(f"{tag} question 0: {body}")]
    i = 0
    while len(h) < n - 2:
        i += 1
        h += [AIMessage(REPLY), HumanMessage(f"{tag} question {i}: {body}")]
    return h[: n - 2]


def _long_rows(smoke: bool) -> list[dict[str, Any]]:
    """``ChatArkContext.invoke`` on a session hit next to ``FakeListChatModel.invoke`` on the
    same ``n``-message histories, call by call in one process; medians of the calls."""
    from langchain_core.messages import AIMessage, HumanMessage

    m = _models("session")
    ours, fake = m["ours"], m["fake"]
    rows: list[dict[str, Any]] = []
    for n in (10, 200, 1000):
        per_round = (3 if smoke else 20) if n >= 1000 else (8 if smoke else 60)
        rounds = 2 if smoke else 7
        fakes, mine, out = [], [], _Outcomes()
        for r in range(rounds + 1):  # round 0 warms up
            # Each history's previous turn ran just before, as in a live conversation
            # (its texts are then in the digest cache, as they would be).
            batch = []
            for k in range(per_round):
                h = _long_history(f"L{n}-{r}-{k}", n)
                reply = ours.invoke(h)  # seeds a context holding h + reply
                batch.append([*h, AIMessage(reply.content), HumanMessage(f"next {k}?")])
            assert len(batch[0]) == n
            enabled = gc.isenabled()
            gc.collect()
            gc.disable()
            for h in batch:  # side by side, call by call: load drifts hit both alike
                t0 = time.perf_counter()
                fake.invoke(h)
                t1 = time.perf_counter()
                msg = ours.invoke(h)
                t2 = time.perf_counter()
                if r:
                    fakes.append((t1 - t0) * 1e6)
                    mine.append((t2 - t1) * 1e6)
                    out.add(msg)
            if enabled:
                gc.enable()
        what = f"median of {rounds * per_round} calls on {n}-message histories, interleaved"
        floor = f"FakeListChatModel.invoke, {n} messages (floor)"
        rows.append(row(LSECTION, floor, median(fakes), "us", note=what))
        rows.append(
            row(
                LSECTION,
                f"ChatArkContext.invoke, {n}-message session hit",
                median(mine),
                "us",
                anchor=floor,
                target=LONG_TARGET if n == 1000 else None,
                note=f"{out.note()}; {what}",
            )
        )
    return rows


# -- import time ------------------------------------------------------------------------------


def _import_rows(repeats: int) -> list[dict[str, Any]]:
    base_pkg = import_time_ms("import langchain_core.language_models", repeats=repeats)
    ours_pkg = import_time_ms("import langchain_ark_context", repeats=repeats)
    base_cls = import_time_ms(
        "from langchain_core.language_models import BaseChatModel", repeats=repeats
    )
    ours_cls = import_time_ms("from langchain_ark_context import ChatArkContext", repeats=repeats)
    what = f"median of {repeats} fresh interpreters"
    return [
        row(ISECTION, "import langchain_core.language_models", base_pkg, "ms", note=what),
        row(
            ISECTION,
            "import langchain_ark_context",
            ours_pkg,
            "ms",
            anchor="import langchain_core.language_models",
            target="<= 1.25x",
            note=f"{what}; ChatArkContext is imported on first attribute access",
        ),
        row(
            ISECTION,
            "from langchain_core.language_models import BaseChatModel",
            base_cls,
            "ms",
            note=what,
        ),
        row(
            ISECTION,
            "from langchain_ark_context import ChatArkContext",
            ours_cls,
            "ms",
            anchor="from langchain_core.language_models import BaseChatModel",
            target="<= 1.25x",
            note=f"{what}; the honest comparison: the class pulls in BaseChatModel + ark_context",
        ),
    ]


def run(smoke: bool) -> list[dict[str, Any]]:
    number, repeats = (20, 3) if smoke else (300, 7)
    rows = _prefix_rows(number, repeats)
    rows += _session_rows(3 if smoke else 40)
    rows += _long_rows(smoke)
    rows += _import_rows(1 if smoke else 7)
    return rows
