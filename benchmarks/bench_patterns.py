"""What routing costs in the ways people really use LangChain and LlamaIndex.

Each pattern is built from the frameworks' own components (LCEL chains, ``batch``, a
retriever feeding the system prompt, ``RunnableWithMessageHistory``, a LangGraph chatbot
with a checkpointer, ``trim_messages``, edits and regenerates, ``astream_events``, the
usage callback; LlamaIndex's query engine, its four chat engines, ``ChatMemoryBuffer``
with a token limit, ``ReActAgent`` and ``structured_predict``) and played against the
emulator once per routing mode, with ``ChatArkContext`` / ``ArkContextLLM`` at their
default settings except ``mode``. System prompts hold 150-400 tokens, replies 50-150
tokens (a scripted responder), and retrieval uses :class:`HashingEmbedding`, a
deterministic bag-of-words embedding, so what is retrieved depends on the query.

Per pattern and mode, from the emulator's record:

- **contexts made**: ``/context/create`` calls; **needed**: what the hindsight router made;
- **cost vs plain**: input cost relative to sending every call through plain
  ``/chat/completions`` (cached input at ``cached_ratio`` = 0.2 of the price, context
  creation at the full price, storage ignored), i.e.
  ``(uncached + 0.2 * cached + created) / prompt``;
- **hindsight**: the cheapest way to serve the same calls, computed offline from the
  recorded call sequence by :func:`hindsight` (it knows the future: which calls continue
  which, and how often a prefix recurs);
- **exact**: every completion's server transcript equals what the framework passed to the
  model (captured with the frameworks' own callbacks), compared as multisets so that
  concurrent calls (``batch``) need no ordering.

The same patterns also play against a Responses-API model (:data:`RESPONSES_MODEL`,
doubao-seed-1.6) in :data:`RESPONSES_MODES`, where cost vs plain **includes storage**
(``(uncached + 0.2 * cached + prefix creation + storage) / prompt``; see :func:`measure`
for how storage is billed), with the chains started (a caching turn without a parent,
or a prefix cache) and continued (``previous_response_id`` set) per mode.

``python -m benchmarks.bench_patterns [--smoke] [--responses] [PATTERN ...]`` prints the
Context-API table (or, with ``--responses``, the Responses API one); ``python -m
benchmarks`` puts both tables' rows in RESULTS.md. ``mode="auto"`` is measured when the
installed ``ark_context`` accepts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import math
import re
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks._harness import out_dir, row

SECTION = "Patterns: input cost of real framework usage vs plain calls"
MODEL = "ep-bench-patterns"
#: A Responses-API model (doubao-seed-1.6): every pattern is played against it too.
RESPONSES_MODEL = "doubao-seed-1-6-251015"
RESPONSES_SECTION = "Patterns on the Responses API: input cost incl. storage vs plain calls"
RESPONSES_MODES = ("auto", "session", "common_prefix")
KEY = "bench-patterns-key"
CACHED_RATIO = 0.2
#: The ttl the simulated ``auto`` prices storage with: the API's minimum, one hour (a
#: context in use stays alive, since every use restarts its clock).
AUTO_TTL = 3600

# -- text: prompts, documents, replies -------------------------------------------------------

_VOCAB = [
    "account",
    "balance",
    "invoice",
    "refund",
    "policy",
    "shipping",
    "parcel",
    "carrier",
    "warehouse",
    "delay",
    "contract",
    "clause",
    "renewal",
    "notice",
    "termination",
    "deposit",
    "tenant",
    "landlord",
    "repair",
    "battery",
    "charger",
    "voltage",
    "firmware",
    "update",
    "reset",
    "warranty",
    "screen",
    "sensor",
    "recipe",
    "flour",
    "yeast",
    "oven",
    "proof",
    "dough",
    "crust",
    "butter",
    "sugar",
    "glaze",
    "river",
    "delta",
    "sediment",
    "flood",
    "basin",
    "rainfall",
    "gauge",
    "levee",
    "channel",
    "erosion",
    "orbit",
    "satellite",
    "antenna",
    "telemetry",
    "launch",
    "booster",
    "payload",
    "thrust",
    "apogee",
    "garden",
    "soil",
    "compost",
    "seedling",
    "prune",
    "mulch",
    "irrigation",
    "pest",
    "blossom",
    "harvest",
    "router",
    "digest",
    "context",
    "cache",
    "session",
    "prefix",
    "token",
    "budget",
    "window",
    "history",
]
_TOPICS = [_VOCAB[i : i + 10] for i in range(0, len(_VOCAB), 10)]
_FILLER = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "for",
    "with",
    "on",
    "that",
    "this",
    "is",
    "be",
    "as",
    "by",
    "it",
    "from",
    "at",
    "or",
    "are",
    "when",
    "each",
    "your",
    "must",
    "should",
    "always",
    "never",
    "only",
    "if",
    "then",
]


def _h(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def words(seed: int, n: int, pool: Sequence[str] = _VOCAB) -> str:
    """``n`` deterministic words (one emulator token each), half from ``pool``."""
    out = []
    x = seed or 1
    for i in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        out.append(pool[x % len(pool)] if i % 2 else _FILLER[(x >> 20) % len(_FILLER)])
    return " ".join(out)


def system_prompt(name: str, tokens: int) -> str:
    """A realistic-size instruction block (``tokens`` words) for one application."""
    return f"You are the {name} assistant. " + words(_h(name), tokens - 5) + "."


#: A small corpus: one document per topic, each with its topic's words, so that a query
#: about a topic retrieves that topic's documents.
DOCS = [
    f"Note {t}-{k}: " + words(_h(f"doc{t}{k}"), 90, _TOPICS[t]) + "."
    for t in range(len(_TOPICS))
    for k in range(2)
]


def query(i: int, tag: str = "q") -> str:
    topic = _TOPICS[(i * 5 + _h(tag)) % len(_TOPICS)]
    return f"Question {i} ({tag}): what about " + words(_h(f"{tag}{i}"), 12, topic) + "?"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, Mapping) and "text" in p
        )
    return str(content)


def responder(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> Any:
    """Scripted replies of 50-150 tokens, deterministic in the last message. ReAct prompts
    get a tool call, then (after an observation) an answer; JSON-schema prompts get JSON;
    a call with function tools (``structured_predict`` on a Responses-API model) calls the
    first one, with arguments for its schema's properties."""
    last = _text_of(messages[-1].get("content")) if messages else ""
    first = _text_of(messages[0].get("content")) if messages else ""
    seed = _h(last)
    n = 50 + seed % 100
    functions = [t for t in params.get("tools") or () if t.get("type") == "function"]
    answered = bool(messages) and messages[-1].get("type") == "function_call_output"
    if functions and not answered:
        from ark_context.emulator import FunctionCall

        props = (functions[0].get("parameters") or {}).get("properties") or {}
        args = {
            k: 1 + seed % 5 if v.get("type") == "integer" else words(seed + i, 4 if i else n - 20)
            for i, (k, v) in enumerate(props.items())
        }
        return FunctionCall(functions[0]["name"], args)
    if "Action Input" in first and "## Tools" in first:
        if last.startswith("Observation"):
            return (
                "Thought: I can answer without using any more tools. I'll use the user's "
                "language to answer\nAnswer: " + words(seed, n - 20)
            )
        topic = _TOPICS[seed % len(_TOPICS)][0]
        return (
            "Thought: The current language of the user is: English. I need to use a tool "
            f'to help me answer the question.\nAction: lookup\nAction Input: {{"topic": "{topic}"}}'
        )
    if any('"properties"' in _text_of(m.get("content")) for m in messages):  # a JSON schema
        return json.dumps(
            {"title": words(seed, 4), "rating": 1 + seed % 5, "summary": words(seed + 1, n - 20)}
        )
    return "Answer: " + words(seed, n) + "."


# -- embeddings (query-dependent, deterministic, no network) ----------------------------------

_DIM = 128
_WORD_RE = re.compile(r"[a-z0-9]+")


def hashing_vector(text: str) -> list[float]:
    """A normalised bag-of-words vector: each word adds 1 to one of ``_DIM`` slots."""
    v = [0.0] * _DIM
    for w in _WORD_RE.findall(text.lower()):
        if w not in _FILLER:
            v[_h(w) % _DIM] += 1.0
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def langchain_embeddings() -> Any:
    from langchain_core.embeddings import Embeddings

    class HashingEmbeddings(Embeddings):
        """LangChain embeddings over :func:`hashing_vector`."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [hashing_vector(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return hashing_vector(text)

    return HashingEmbeddings()


def llama_embedding() -> Any:
    from llama_index.core.base.embeddings.base import BaseEmbedding

    class HashingEmbedding(BaseEmbedding):
        """LlamaIndex embedding over :func:`hashing_vector` (not MockEmbedding, whose
        constant vector retrieves the same nodes for every query)."""

        def _get_query_embedding(self, query: str) -> list[float]:
            return hashing_vector(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return hashing_vector(text)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return hashing_vector(query)

    return HashingEmbedding(model_name="hashing-bow", embed_batch_size=64)


# -- capturing what the frameworks passed ------------------------------------------------------

_LC_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def _wire(role: str, content: Any) -> dict[str, str]:
    return {"role": role, "content": _text_of(content)}


class Captured:
    """Transcripts the frameworks passed to the model, one per LLM call."""

    def __init__(self) -> None:
        self.transcripts: list[list[dict[str, str]]] = []
        self.extra: dict[str, float] = {}

    def add(self, msgs: list[dict[str, str]]) -> None:
        self.transcripts.append(msgs)


def langchain_capture(cap: Captured) -> Any:
    from langchain_core.callbacks import BaseCallbackHandler

    class Capture(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            for batch in messages:
                cap.add([_wire(_LC_ROLES.get(m.type, m.type), m.content) for m in batch])

    return Capture()


def llama_capture(cap: Captured) -> Any:
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.events import BaseEvent
    from llama_index.core.instrumentation.events.llm import (
        LLMChatStartEvent,
        LLMCompletionStartEvent,
    )

    class Capture(BaseEventHandler):
        @classmethod
        def class_name(cls) -> str:
            return "BenchCapture"

        def handle(self, event: BaseEvent, **kw: Any) -> None:
            if isinstance(event, LLMChatStartEvent):
                cap.add([_wire(m.role.value, m.content) for m in event.messages])
            elif isinstance(event, LLMCompletionStartEvent):
                cap.add([_wire("user", event.prompt)])

    return Capture()


# -- one pattern, one mode --------------------------------------------------------------------


@dataclass
class Env:
    """What a pattern gets: model factories for one mode, bound to the emulator."""

    base_url: str
    mode: str
    smoke: bool
    cap: Captured
    model: str = MODEL

    def lc(self, **kw: Any) -> Any:
        from ark_context.stores import InMemoryStore
        from langchain_ark_context import ChatArkContext

        return ChatArkContext(
            model=self.model,
            api_key=KEY,
            base_url=self.base_url,
            mode=self.mode,
            store=InMemoryStore(),
            callbacks=[langchain_capture(self.cap)],
            **kw,
        )

    def li(self, **kw: Any) -> Any:
        from ark_context.stores import InMemoryStore
        from llama_index_ark_context import ArkContextLLM

        return ArkContextLLM(
            model=self.model,
            api_key=KEY,
            base_url=self.base_url,
            mode=self.mode,
            store=InMemoryStore(),
            **kw,
        )

    def n(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full


@dataclass
class Call:
    messages: list[dict[str, str]]
    reply: str
    prompt: int
    cached: int


@dataclass
class Run:
    calls: list[Call]
    created: list[int]  # prompt tokens of each context (or prefix cache) creation
    exact: bool
    mismatches: int
    extra: dict[str, float] = field(default_factory=dict)
    #: Responses API: cache storage billed, in full-price input tokens (see ``measure``)
    storage: float = 0.0
    #: Responses API: chains started (a caching turn without a parent, or a prefix cache)
    #: and turns that continued one (``previous_response_id`` set)
    started: int = 0
    continued: int = 0
    cached_ratio: float = CACHED_RATIO

    @property
    def plain_units(self) -> int:
        return sum(c.prompt for c in self.calls)

    @property
    def routed_units(self) -> float:
        uncached = sum(c.prompt - c.cached for c in self.calls)
        cached = sum(c.cached for c in self.calls)
        return uncached + self.cached_ratio * cached + sum(self.created) + self.storage


def _key(msgs: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([[m["role"], _text_of(m.get("content"))] for m in msgs])


def _collect_unclosed_sqlite() -> None:
    """Finalise the aiosqlite connections LlamaIndex's default chat memory never closes.

    Collected later, inside some other pattern's ``asyncio.run``, such a connection's
    finaliser hands aiosqlite's worker thread a future on that loop, which may be closed by
    the time the thread answers: "RuntimeError: Event loop is closed" on stderr, or not, by
    thread timing. Collected here, outside any loop, the finaliser has no loop to use and
    the thread stops quietly. Only when such a thread is alive (a full collection costs
    ~0.1 s)."""
    if any(t.name.endswith("(_connection_worker_thread)") for t in threading.enumerate()):
        gc.collect()


def measure(
    emu: Any, pattern: Callable[[Env], None], mode: str, smoke: bool, model: str = MODEL
) -> Run:
    """Play ``pattern`` in ``mode`` on a reset emulator and read its bill from the records.

    Responses API (``model`` caches through it): each ``/responses`` turn is a call
    (``input_tokens``, ``cached_tokens``); a prefix-cache turn (``caching.prefix``) counts
    as a creation at the full price. Storage is the emulator's bill over every caching
    response of the run, deleted and expired ones included: its ``cache_tokens`` times
    the started hours from its creation until its ``expire_at`` (or its deletion), priced
    at the catalog's ``storage_per_hour / input`` full-price tokens per token-hour
    (seed-1.6: 0.017 / 0.80)."""
    from llama_index.core.instrumentation import get_dispatcher

    from ark_context.costs import prices_for

    emu.reset()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with contextlib.suppress(ImportError):
        from langchain_core._api import LangChainDeprecationWarning

        warnings.filterwarnings("ignore", category=LangChainDeprecationWarning)
    cap = Captured()
    handler = llama_capture(cap)
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        pattern(Env(emu.base_url, mode, smoke, cap, model))
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not handler]
        _collect_unclosed_sqlite()
    calls: list[Call] = []
    created: list[int] = []
    started = continued = 0
    for r in emu.records():
        if r["path"].endswith("/responses"):
            if r.get("status") != 200 or not r.get("usage"):
                continue
            u = r["usage"]
            if r.get("previous_response_id"):
                continued += 1
            elif r.get("mode") is not None:
                started += 1
            if r.get("mode") == "prefix":
                created.append(u["input_tokens"])
                continue
            calls.append(
                Call(
                    [
                        {"role": m["role"], "content": _text_of(m.get("content"))}
                        for m in r["messages"]
                        if "role" in m
                    ],
                    r["reply"] or "",
                    u["input_tokens"],
                    u["input_tokens_details"]["cached_tokens"],
                )
            )
        elif r["path"].endswith("/context/create"):
            if r.get("status") == 200:
                created.append(r["usage"]["prompt_tokens"])
        elif r.get("reply") is not None:
            u = r["usage"]
            calls.append(
                Call(
                    [
                        {"role": m["role"], "content": _text_of(m.get("content"))}
                        for m in r["messages"]
                    ],
                    r["reply"],
                    u["prompt_tokens"],
                    u["prompt_tokens_details"]["cached_tokens"],
                )
            )
    served = Counter(_key(c.messages) for c in calls)
    passed = Counter(_key(t) for t in cap.transcripts)
    mismatches = sum(((served - passed) + (passed - served)).values())
    prices = prices_for(model)  # the Context API's runs hold no responses: no storage
    token_hours = emu.storage()["token_hours"]
    return Run(
        calls,
        created,
        mismatches == 0,
        mismatches,
        cap.extra,
        storage=token_hours * prices.storage_per_hour / prices.input,
        started=started,
        continued=continued,
        cached_ratio=prices.cached_ratio,
    )


# -- the hindsight router -----------------------------------------------------------------------


@dataclass
class Plan:
    cost: float
    contexts: int


def _tokens(msgs: Sequence[Mapping[str, Any]]) -> int:
    from ark_context.emulator._tokens import message_tokens

    return sum(message_tokens(m) for m in msgs)


def hindsight(calls: Sequence[Call], cached_ratio: float = CACHED_RATIO) -> Plan:
    """The cheapest input cost of serving ``calls`` (in order) with Ark contexts, knowing
    every call in advance. Storage is ignored, as in the cost-vs-plain figures.

    What it may do: a shared prefix context per distinct run of leading system messages
    (created once at full price; every call with that prefix reads it at ``cached_ratio``);
    a session context seeded with a call's history before its trailing turn (created at
    full price), which then holds that call's transcript plus reply, so one later call
    extending it reads all of it from the cache and moves it on (a mutable context serves
    one continuation; a second branch needs its own). It is an optimum over a tree: the
    calls of one prefix group form a forest (parent = the latest earlier call whose
    answered transcript is the longest prefix of this call's), solved bottom-up.
    """
    r = cached_ratio
    n = len(calls)
    size = [_tokens(c.messages) for c in calls]
    answered = [_key([*c.messages, {"role": "assistant", "content": c.reply}]) for c in calls]
    held = [size[i] + _tokens([{"role": "assistant", "content": calls[i].reply}]) for i in range(n)]
    prefix_len = []
    seed = []
    for c in calls:
        k = 0
        while k < len(c.messages) and c.messages[k]["role"] == "system":
            k += 1
        prefix_len.append(k)
        last_ai = max((j for j, m in enumerate(c.messages) if m["role"] == "assistant"), default=-1)
        start = last_ai + 1 if last_ai >= 0 else k
        seed.append(_tokens(c.messages[:start]))
    # parent: the latest earlier call whose transcript + reply is the longest prefix
    by_key: dict[str, list[int]] = {}
    parent: list[int | None] = [None] * n
    for i, c in enumerate(calls):
        best: int | None = None
        for cut in range(len(c.messages) - 1, 0, -1):
            if c.messages[cut - 1]["role"] != "assistant":
                continue
            hits = by_key.get(_key(c.messages[:cut]))
            if hits:
                best = hits[-1]
                break
        parent[i] = best
        by_key.setdefault(answered[i], []).append(i)
    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(parent):
        if p is not None:
            children[p].append(i)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(calls):
        groups.setdefault(_key(c.messages[: prefix_len[i]]), []).append(i)

    def solve(shared: bool) -> list[tuple[Plan, Plan]]:
        # memo[i] = (best with no session context handed to i, best with one handed to i)
        memo: list[tuple[Plan, Plan]] = [(Plan(0, 0), Plan(0, 0))] * n
        for i in reversed(range(n)):  # children come after their parents
            kids = children[i]
            free = sum(memo[c][0].cost for c in kids)
            free_ctx = sum(memo[c][0].contexts for c in kids)
            gain, gain_ctx = 0.0, 0
            for c in kids:
                g = memo[c][0].cost - memo[c][1].cost
                if g > gain:
                    gain, gain_ctx = g, memo[c][1].contexts - memo[c][0].contexts
            s_tokens = _tokens(calls[i].messages[: prefix_len[i]]) if shared else 0
            plain = Plan(size[i] - (1 - r) * s_tokens + free, free_ctx)
            options = [plain]
            if seed[i] > 0:
                options.append(Plan(size[i] + r * seed[i] + free - gain, free_ctx + gain_ctx + 1))
            no_ctx = min(options, key=lambda p: p.cost)
            with_ctx = no_ctx
            p = parent[i]
            if p is not None:
                reuse = Plan(size[i] - (1 - r) * held[p] + free - gain, free_ctx + gain_ctx)
                if reuse.cost < no_ctx.cost:
                    with_ctx = reuse
            memo[i] = (no_ctx, with_ctx)
        return memo

    plain_memo, shared_memo = solve(False), solve(True)
    total = Plan(0.0, 0)
    for members in groups.values():
        roots = [i for i in members if parent[i] is None]
        a = Plan(
            sum(plain_memo[i][0].cost for i in roots), sum(plain_memo[i][0].contexts for i in roots)
        )
        s_tokens = _tokens(calls[members[0]].messages[: prefix_len[members[0]]])
        chosen = a
        if s_tokens:
            b = Plan(
                s_tokens + sum(shared_memo[i][0].cost for i in roots),
                1 + sum(shared_memo[i][0].contexts for i in roots),
            )
            chosen = b if b.cost < a.cost else a
        total = Plan(total.cost + chosen.cost, total.contexts + chosen.contexts)
    return total


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def simulate_auto(calls: Sequence[Call], model: Any = None) -> Plan:
    """Replay ``calls`` (in order) through the ``auto`` decision rules of
    :mod:`ark_context.adaptive`, reading and writing their evidence records in an
    ``InMemoryStore`` as a routing policy would (:class:`~ark_context.adaptive.Evidence`).
    An offline model: exact token counts, no concurrency, contexts never expire.
    Returns the input cost (storage ignored, like the other figures) and contexts made."""
    import time

    from ark_context.adaptive import CallFacts, Evidence, decide
    from ark_context.costs import CostModel, Prices
    from ark_context.stores import InMemoryStore

    model = model or CostModel(Prices(cached_ratio=CACHED_RATIO), ttl=AUTO_TTL)
    r = model.prices.cached_ratio
    store = InMemoryStore()
    namespace = _digest("namespace")
    sessions: dict[str, int] = {}  # live session contexts: transcript -> tokens held
    shared: set[str] = set()
    cost, made = 0.0, 0
    start = time.time()
    for n, c in enumerate(calls):
        now = start + n
        msgs = c.messages
        k = 0
        while k < len(msgs) and msgs[k]["role"] == "system":
            k += 1
        group = _key(msgs[:k])
        s_tokens = _tokens(msgs[:k])
        last_ai = max((j for j, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
        seed = _tokens(msgs[: last_ai + 1 if last_ai >= 0 else k])
        cuts = [cut for cut in range(len(msgs) - 1, 0, -1) if msgs[cut - 1]["role"] == "assistant"]
        hit_key, hit_tokens = None, 0
        for cut in cuts:
            key = _key(msgs[:cut])
            if key in sessions:
                hit_key, hit_tokens = key, sessions[key]
                break
        answered = [_digest(_key(msgs[:cut])) for cut in cuts]
        ev = Evidence.parse(store.get_many(Evidence.keys(namespace, _digest(group), answered)))
        facts = CallFacts(
            prefix_tokens=s_tokens,
            history_tokens=seed,
            session_hit_tokens=hit_tokens,
            shared_live=group in shared and s_tokens > 0,
            continues=ev.continues,
            depth=ev.depth,
            has_history=last_ai >= 0,
        )
        d = decide(facts, ev.group, model, ev.namespace)
        p = c.prompt
        after = _key([*msgs, {"role": "assistant", "content": c.reply}])
        held = p + _tokens([{"role": "assistant", "content": c.reply}])
        if d.plan == "reuse_session":
            assert hit_key is not None
            del sessions[hit_key]
            cost += p - (1 - r) * hit_tokens
            sessions[after] = held
        elif d.plan == "create_session":
            cost += p + r * seed
            made += 1
            sessions[after] = held
        elif d.plan == "use_prefix":
            cost += p - (1 - r) * s_tokens
        elif d.plan == "create_prefix":
            cost += s_tokens + p - (1 - r) * s_tokens
            made += 1
            shared.add(group)
        else:
            cost += p
        puts = ev.writes(
            facts,
            d,
            namespace,
            _digest(group),
            _digest(after),
            answered_tokens=held,
            now=now,
            window=AUTO_TTL,
            prefix_tokens=s_tokens,
        )
        store.apply(puts=puts)
    return Plan(cost, made)


# -- the patterns ---------------------------------------------------------------------------


def lc_lcel(env: Env) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages(
        [("system", system_prompt("release notes writer", 260)), ("human", "{q}")]
    )
    chain = prompt | env.lc() | StrOutputParser()
    for i in range(env.n(10, 3)):
        chain.invoke({"q": query(i, "lcel")})


def lc_batch(env: Env) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages(
        [("system", system_prompt("ticket classifier", 220)), ("human", "{q}")]
    )
    chain = prompt | env.lc() | StrOutputParser()
    n = env.n(20, 4)
    chain.batch([{"q": query(i, "batch")} for i in range(n // 2)])
    asyncio.run(chain.abatch([{"q": query(i, "abatch")} for i in range(n // 2, n)]))


def lc_rag_system(env: Env) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore(langchain_embeddings())
    store.add_texts(DOCS)
    retriever = store.as_retriever(search_kwargs={"k": 2})
    prompt = ChatPromptTemplate.from_messages(
        [
            (
                "system",
                system_prompt("support knowledge base", 160)
                + "\nAnswer only from these notes:\n{context}",
            ),
            ("human", "{q}"),
        ]
    )

    def join(docs: list[Any]) -> str:
        return "\n\n".join(d.page_content for d in docs)

    chain = {"context": retriever | join, "q": RunnablePassthrough()} | prompt | env.lc()
    chain = chain | StrOutputParser()
    for i in range(env.n(10, 3)):
        chain.invoke(query(i, "rag"))


def lc_message_history(env: Env) -> None:
    from langchain_core.chat_history import InMemoryChatMessageHistory
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.runnables.history import RunnableWithMessageHistory

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", system_prompt("travel planner", 300)),
            MessagesPlaceholder("history"),
            ("human", "{input}"),
        ]
    )
    histories: dict[str, InMemoryChatMessageHistory] = {}
    chat = RunnableWithMessageHistory(
        prompt | env.lc(),
        lambda sid: histories.setdefault(sid, InMemoryChatMessageHistory()),
        input_messages_key="input",
        history_messages_key="history",
    )
    for s in range(env.n(2, 1)):
        for t in range(env.n(8, 3)):
            cfg: Any = {"configurable": {"session_id": f"user-{s}"}}
            chat.invoke({"input": query(t, f"trip{s}")}, cfg)


def lc_langgraph(env: Env) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, MessagesState, StateGraph

    llm = env.lc()
    system = SystemMessage(system_prompt("home energy coach", 280))

    def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke([system, *state["messages"]])]}

    graph = StateGraph(MessagesState)
    graph.add_node("chat", node)
    graph.add_edge(START, "chat")
    graph.add_edge("chat", END)
    app = graph.compile(checkpointer=InMemorySaver())
    cfg: Any = {"configurable": {"thread_id": "t1"}}
    for t in range(env.n(10, 3)):
        app.invoke({"messages": [HumanMessage(query(t, "graph"))]}, cfg)


def lc_trim_messages(env: Env) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages

    trimmer = trim_messages(
        max_tokens=9,
        strategy="last",
        token_counter=len,  # messages, not tokens: keep the last 9
        include_system=True,
        start_on="human",
    )
    chain = trimmer | env.lc()
    history: list[Any] = [SystemMessage(system_prompt("fitness coach", 240))]
    for t in range(env.n(30, 8)):
        history.append(HumanMessage(query(t, "trim")))
        history.append(AIMessage(chain.invoke(history).content))


def lc_edits_regenerate(env: Env) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    llm = env.lc()
    history: list[Any] = [SystemMessage(system_prompt("legal drafting aide", 350))]
    for t in range(env.n(8, 4)):
        history.append(HumanMessage(query(t, "edit")))
        history.append(AIMessage(llm.invoke(history).content))
    # edit message 3 (the second question) and carry on from there
    history = [*history[:3], HumanMessage(query(99, "edited"))]
    for t in range(env.n(3, 1)):
        history.append(AIMessage(llm.invoke(history).content))
        history.append(HumanMessage(query(t, "after-edit")))
    # regenerate the last reply twice
    for _ in range(2):
        llm.invoke(history)


def lc_astream_events(env: Env) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    llm = env.lc()

    async def play() -> None:
        history: list[Any] = [SystemMessage(system_prompt("tutor", 200))]
        for t in range(env.n(6, 3)):
            history.append(HumanMessage(query(t, "events")))
            text = ""
            async for ev in llm.astream_events(history, version="v2"):
                if ev["event"] == "on_chat_model_stream":
                    text += str(ev["data"]["chunk"].content)
            history.append(AIMessage(text))

    asyncio.run(play())


def lc_usage_callbacks(env: Env) -> None:
    from langchain_core.callbacks import get_usage_metadata_callback
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    llm = env.lc()
    system = SystemMessage(system_prompt("math tutor", 180))
    with get_usage_metadata_callback() as cb:
        history: list[Any] = [system]
        for t in range(env.n(10, 3)):
            history.append(HumanMessage(query(t, "usage")))
            history.append(AIMessage(llm.invoke(history).content))
        llm.batch([[system, HumanMessage(query(i, "usage-batch"))] for i in range(env.n(5, 2))])
    usage = cb.usage_metadata.get(env.model, {})
    env.cap.extra["callback_input_tokens"] = float(usage.get("input_tokens", 0))


def _li_index(env: Env) -> Any:
    from llama_index.core import Document, VectorStoreIndex

    return VectorStoreIndex.from_documents(
        [Document(text=t) for t in DOCS], embed_model=llama_embedding()
    )


def li_query_engine(env: Env) -> None:
    engine = _li_index(env).as_query_engine(llm=env.li(), similarity_top_k=2)
    for i in range(env.n(10, 3)):
        engine.query(query(i, "qe"))


def _li_chat(env: Env, make: Callable[[Any, Any], Any], turns: int, tag: str) -> None:
    engine = make(env.li(), _li_index(env))
    for t in range(env.n(turns, 3)):
        engine.chat(query(t, tag))


def li_simple_chat(env: Env) -> None:
    from llama_index.core.chat_engine import SimpleChatEngine

    _li_chat(
        env,
        lambda llm, _i: SimpleChatEngine.from_defaults(
            llm=llm, system_prompt=system_prompt("gardening helper", 250)
        ),
        8,
        "simple",
    )


def li_context_chat(env: Env) -> None:
    from llama_index.core.chat_engine import ContextChatEngine

    _li_chat(
        env,
        lambda llm, index: ContextChatEngine.from_defaults(
            retriever=index.as_retriever(similarity_top_k=2),
            llm=llm,
            system_prompt=system_prompt("documentation guide", 200),
        ),
        8,
        "ctx",
    )


def li_condense_plus_context(env: Env) -> None:
    from llama_index.core.chat_engine import CondensePlusContextChatEngine

    _li_chat(
        env,
        lambda llm, index: CondensePlusContextChatEngine.from_defaults(
            retriever=index.as_retriever(similarity_top_k=2),
            llm=llm,
            system_prompt=system_prompt("research librarian", 200),
        ),
        8,
        "cpc",
    )


def li_condense_question(env: Env) -> None:
    from llama_index.core.chat_engine import CondenseQuestionChatEngine

    _li_chat(
        env,
        lambda llm, index: CondenseQuestionChatEngine.from_defaults(
            query_engine=index.as_query_engine(llm=llm, similarity_top_k=2), llm=llm
        ),
        8,
        "cq",
    )


def li_memory_buffer(env: Env) -> None:
    from llama_index.core.chat_engine import SimpleChatEngine
    from llama_index.core.memory import ChatMemoryBuffer

    llm = env.li()
    engine = SimpleChatEngine.from_defaults(
        llm=llm,
        system_prompt=system_prompt("language partner", 220),
        memory=ChatMemoryBuffer.from_defaults(token_limit=900, llm=llm),
    )
    for t in range(env.n(20, 6)):
        engine.chat(query(t, "buffer"))


def li_react_agent(env: Env) -> None:
    from llama_index.core.agent import ReActAgent
    from llama_index.core.tools import FunctionTool

    def lookup(topic: str) -> str:
        """Look up the team's notes about a topic."""
        return next((d for d in DOCS if topic in d), DOCS[0])

    agent = ReActAgent(tools=[FunctionTool.from_defaults(fn=lookup)], llm=env.li())

    async def play() -> None:
        for i in range(env.n(5, 2)):
            await agent.run(user_msg=query(i, "react"))

    asyncio.run(play())


def li_structured_predict(env: Env) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.core.prompts import ChatPromptTemplate
    from pydantic import BaseModel

    class Review(BaseModel):
        title: str
        rating: int
        summary: str

    llm = env.li()
    prompt = ChatPromptTemplate(
        message_templates=[
            ChatMessage(role="system", content=system_prompt("catalogue reviewer", 180)),
            ChatMessage(role="user", content="Review this product. Notes:\n{notes}"),
        ]
    )
    for i in range(env.n(5, 2)):
        llm.structured_predict(Review, prompt, notes=query(i, "review"))


PATTERNS: list[tuple[str, Callable[[Env], None]]] = [
    ("LangChain LCEL prompt | llm | parser", lc_lcel),
    ("LangChain batch + abatch, one system prompt", lc_batch),
    ("LangChain RAG: retrieved text in the system message", lc_rag_system),
    ("LangChain RunnableWithMessageHistory", lc_message_history),
    ("LangGraph chatbot + InMemorySaver", lc_langgraph),
    ("LangChain trim_messages (last 9)", lc_trim_messages),
    ("LangChain edit + regenerate", lc_edits_regenerate),
    ("LangChain astream_events chat", lc_astream_events),
    ("LangChain usage callback: chat + batch", lc_usage_callbacks),
    ("LlamaIndex query engine", li_query_engine),
    ("LlamaIndex SimpleChatEngine", li_simple_chat),
    ("LlamaIndex ContextChatEngine", li_context_chat),
    ("LlamaIndex CondensePlusContextChatEngine", li_condense_plus_context),
    ("LlamaIndex CondenseQuestionChatEngine", li_condense_question),
    ("LlamaIndex ChatMemoryBuffer(token_limit)", li_memory_buffer),
    ("LlamaIndex ReActAgent", li_react_agent),
    ("LlamaIndex structured_predict", li_structured_predict),
]
#: Chats that only append: at default settings they must stay <= 0.35x plain.
APPEND_ONLY = (
    "LangChain RunnableWithMessageHistory",
    "LangGraph chatbot + InMemorySaver",
    "LangChain astream_events chat",
    "LlamaIndex SimpleChatEngine",
)
SMOKE_PATTERNS = (
    "LangChain LCEL prompt | llm | parser",
    "LangChain trim_messages (last 9)",
    "LlamaIndex SimpleChatEngine",
    "LlamaIndex ContextChatEngine",
)


def modes() -> list[str]:
    """Today's modes, plus ``auto`` when this ``ark_context`` accepts it."""
    from ark_context import ArkContextParams

    found = ["session", "common_prefix"]
    try:
        ArkContextParams(model=MODEL, api_key=KEY, mode="auto")
    except Exception:
        return found
    return [*found, "auto"]


def _setup_llama_index() -> None:
    from llama_index.core import Settings

    Settings.tokenizer = lambda text: text.split()  # no tiktoken download
    Settings.embed_model = llama_embedding()


@dataclass
class Played:
    """One pattern played once per mode."""

    name: str
    calls: int
    runs: dict[str, Run]

    def ratio(self, mode: str) -> float:
        run = self.runs[mode]
        return run.routed_units / run.plain_units if run.plain_units else math.nan

    @property
    def exact(self) -> bool:
        return all(run.exact for run in self.runs.values())


@dataclass
class Result(Played):
    oracle: Plan
    simulated: Plan

    @property
    def oracle_ratio(self) -> float:
        plain = next(iter(self.runs.values())).plain_units
        return self.oracle.cost / plain if plain else math.nan

    @property
    def simulated_ratio(self) -> float:
        plain = next(iter(self.runs.values())).plain_units
        return self.simulated.cost / plain if plain else math.nan


def _wanted(smoke: bool, only: Iterable[str] | None) -> set[str] | None:
    return set(only) if only else (set(SMOKE_PATTERNS) if smoke else None)


def play_all(smoke: bool, only: Iterable[str] | None = None) -> tuple[list[str], list[Result]]:
    from ark_context.emulator import run_emulator

    _setup_llama_index()
    wanted = _wanted(smoke, only)
    ms = modes()
    results: list[Result] = []
    with run_emulator(responder=responder) as emu:
        for name, fn in PATTERNS:
            if wanted is not None and name not in wanted:
                continue
            runs = {m: measure(emu, fn, m, smoke) for m in ms}
            first = runs[ms[0]]
            results.append(
                Result(
                    name, len(first.calls), runs, hindsight(first.calls), simulate_auto(first.calls)
                )
            )
    return ms, results


def play_responses(smoke: bool, only: Iterable[str] | None = None) -> list[Played]:
    """The same patterns against :data:`RESPONSES_MODEL`, once per :data:`RESPONSES_MODES`."""
    from ark_context.emulator import run_emulator

    _setup_llama_index()
    wanted = _wanted(smoke, only)
    played: list[Played] = []
    with run_emulator(responder=responder) as emu:
        for name, fn in PATTERNS:
            if wanted is not None and name not in wanted:
                continue
            runs = {m: measure(emu, fn, m, smoke, RESPONSES_MODEL) for m in RESPONSES_MODES}
            played.append(Played(name, len(runs["auto"].calls), runs))
    return played


def responses_table(played: Sequence[Played]) -> str:
    ms = RESPONSES_MODES
    lines = [
        "| pattern | calls | cost vs plain incl. storage ("
        + " / ".join(ms)
        + ") | of which storage ("
        + " / ".join(ms)
        + ") | chains started, continued ("
        + " / ".join(ms)
        + ") | exact |",
        "|---|---|---|---|---|---|",
    ]
    for p in played:
        cost = " / ".join(f"{p.ratio(m):.3f}" for m in ms)
        store = " / ".join(
            f"{p.runs[m].storage / p.runs[m].plain_units:.3f}" if p.runs[m].plain_units else "-"
            for m in ms
        )
        chains = " / ".join(f"{p.runs[m].started}, {p.runs[m].continued}" for m in ms)
        exact = "yes" if p.exact else "**NO**"
        lines.append(
            f"| {p.name.replace('|', '&#124;')} | {p.calls} | {cost} | {store} | {chains} | {exact} |"
        )
    return "\n".join(lines)


def responses_rows(played: Sequence[Played]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in played:
        for m in RESPONSES_MODES:
            run_ = p.runs[m]
            rows.append(
                row(
                    RESPONSES_SECTION,
                    f"{p.name}: {m}",
                    p.ratio(m),
                    "x plain",
                    target="<= 1.0" if m == "auto" else None,
                    note=(
                        f"chains started {run_.started}, continued {run_.continued}; "
                        f"storage {run_.storage / run_.plain_units if run_.plain_units else 0:.3f}"
                        " x plain"
                        + (f"; {run_.mismatches} transcripts differ" if run_.mismatches else "")
                    ),
                )
            )
        rows.append(
            row(
                RESPONSES_SECTION,
                f"{p.name}: transcripts that differ from what the framework passed",
                sum(run_.mismatches for run_ in p.runs.values()),
                "calls",
                target="== 0",
                note="all modes; emulator record vs the frameworks' own callbacks",
            )
        )
    return rows


def table(ms: Sequence[str], results: Sequence[Result]) -> str:
    head = (
        "| pattern | calls | contexts made ("
        + " / ".join(ms)
        + ") | needed (hindsight) | cost vs plain ("
        + " / ".join(ms)
        + ") | hindsight | auto rules, simulated (contexts) | exact |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in results:
        made = " / ".join(str(len(r.runs[m].created)) for m in ms)
        cost = " / ".join(f"{r.ratio(m):.2f}" for m in ms)
        exact = "yes" if r.exact else "**NO**"
        lines.append(
            f"| {r.name.replace('|', '&#124;')} | {r.calls} | {made} | {r.oracle.contexts} | {cost} | "
            f"{r.oracle_ratio:.2f} | {r.simulated_ratio:.2f} ({r.simulated.contexts}) | {exact} |"
        )
    return "\n".join(lines)


def run(smoke: bool) -> list[dict[str, Any]]:
    ms, results = play_all(smoke)
    played = play_responses(smoke)
    text = table(ms, results)
    (out_dir() / ("patterns-smoke.md" if smoke else "patterns.md")).write_text(text + "\n")
    rtext = responses_table(played)
    name = "patterns-responses-smoke.md" if smoke else "patterns-responses.md"
    (out_dir() / name).write_text(rtext + "\n")
    rows: list[dict[str, Any]] = []
    for r in results:
        rows.append(
            row(
                SECTION,
                f"{r.name}: hindsight router",
                r.oracle_ratio,
                "x plain",
                note=f"{r.calls} calls; {r.oracle.contexts} contexts",
            )
        )
        rows.append(
            row(
                SECTION,
                f"{r.name}: auto rules, simulated",
                r.simulated_ratio,
                "x plain",
                target="<= 1.0",
                note=(
                    f"ark_context.adaptive's decisions replayed offline on the recorded calls; "
                    f"contexts {r.simulated.contexts}; minus hindsight "
                    f"{r.simulated_ratio - r.oracle_ratio:+.2f}"
                ),
            )
        )
        for m in ms:
            run_ = r.runs[m]
            auto = m == "auto"
            rows.append(
                row(
                    SECTION,
                    f"{r.name}: {m}",
                    r.ratio(m),
                    "x plain",
                    target=("<= 0.35" if r.name in APPEND_ONLY else "<= 1.0") if auto else None,
                    note=(
                        f"contexts {len(run_.created)} (hindsight {r.oracle.contexts}); "
                        f"hindsight {r.oracle_ratio:.2f}"
                        + (f"; {run_.mismatches} transcripts differ" if run_.mismatches else "")
                    ),
                )
            )
            if auto:
                rows.append(
                    row(
                        SECTION,
                        f"{r.name}: auto minus hindsight",
                        r.ratio(m) - r.oracle_ratio,
                        "x plain",
                        target="<= 0.10",
                    )
                )
        rows.append(
            row(
                SECTION,
                f"{r.name}: transcripts that differ from what the framework passed",
                sum(run_.mismatches for run_ in r.runs.values()),
                "calls",
                target="== 0",
                note="all modes; emulator record vs the frameworks' own callbacks",
            )
        )
        usage_runs = [
            (m, run_) for m, run_ in r.runs.items() if "callback_input_tokens" in run_.extra
        ]
        for m, run_ in usage_runs:
            billed = sum(c.prompt for c in run_.calls) + sum(run_.created)
            rows.append(
                row(
                    SECTION,
                    f"{r.name}: callback input tokens / billed, {m}",
                    run_.extra["callback_input_tokens"] / billed if billed else math.nan,
                    "x",
                    note="get_usage_metadata_callback total vs the emulator's bill",
                )
            )
    return rows + responses_rows(played)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    smoke = "--smoke" in args
    only = [a for a in args if not a.startswith("--")] or None
    if "--responses" in args:
        print(responses_table(play_responses(smoke, only)))
        return 0
    ms, results = play_all(smoke, only)
    print(table(ms, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
