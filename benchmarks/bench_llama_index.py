"""LlamaIndex adapter: per-call cost of ``ArkContextLLM.chat`` next to ``OpenAILike.chat``.

Both LLMs send through the same in-process ``httpx.MockTransport`` (no sockets), which
answers with the same fixed completion, so the figures compare client-side work only:
message conversion, callbacks/instrumentation, request building, HTTP plumbing and
response parsing. ``ArkContextLLM`` runs in ``common_prefix`` mode with a system prompt,
so after the first call every call is a reuse hit (one ``POST /context/chat/completions``,
checked on every timed call); ``OpenAILike`` posts ``/chat/completions``. Sync and async
are measured in the same run, interleaved per repeat.

Import time: ``import llama_index_ark_context`` against ``import llama_index.core.llms``,
each in fresh interpreters (interleaved, median).
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from benchmarks._harness import completion_json, import_times_ms, median, row

SECTION = "LlamaIndex adapter"
MODEL = "ep-bench-llama"
REPLY = "A fixed answer from the mock transport, long enough to look like a reply. " * 3
SYSTEM = "You are a careful assistant. Answer briefly and cite the context. " * 8


def _completion() -> bytes:
    return completion_json(MODEL, REPLY, prompt=120, completion=40, cached=100)


class _Server:
    """The mock's handler: counts requests per path."""

    def __init__(self) -> None:
        self.paths: dict[str, int] = {}
        self._completion = _completion()
        self._created = json.dumps(
            {
                "id": "ctx-bench-1",
                "model": MODEL,
                "mode": "common_prefix",
                "ttl": 86400,
                "usage": {"prompt_tokens": 100, "completion_tokens": 0, "total_tokens": 100},
            }
        ).encode()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths[path] = self.paths.get(path, 0) + 1
        body = self._created if path.endswith("/context/create") else self._completion
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})


def _llms(server: _Server) -> tuple[Any, Any, list[Any]]:
    from llama_index.llms.openai_like import OpenAILike

    from ark_context.stores import InMemoryStore
    from llama_index_ark_context import ArkContextLLM

    transport = httpx.MockTransport(server)
    clients = [httpx.Client(transport=transport), httpx.AsyncClient(transport=transport)]
    ark = ArkContextLLM(
        model=MODEL,
        api_key="bench-key",
        base_url="http://bench.invalid/api/v3",
        mode="common_prefix",
        store=InMemoryStore(),
        http_client=clients[0],
        http_async_client=clients[1],
        max_retries=0,
    )
    oai = OpenAILike(
        model=MODEL,
        api_key="bench-key",
        api_base="http://bench.invalid/v1",
        is_chat_model=True,
        context_window=32768,
        http_client=clients[0],
        async_http_client=clients[1],
        max_retries=0,
    )
    return ark, oai, clients


def _sync_samples(fns: dict[str, Callable[[], Any]], number: int, repeats: int) -> dict[str, float]:
    for fn in fns.values():
        for _ in range(10):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - t0) / number * 1e6)
            gc.enable()
    return {k: median(v) for k, v in samples.items()}


async def _async_samples(
    fns: dict[str, Callable[[], Awaitable[Any]]], number: int, repeats: int
) -> dict[str, float]:
    for fn in fns.values():
        for _ in range(10):
            await fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(number):
                await fn()
            samples[name].append((time.perf_counter() - t0) / number * 1e6)
            gc.enable()
    return {k: median(v) for k, v in samples.items()}


def _check_reuse(resp: Any) -> None:
    outcome = resp.additional_kwargs.get("context_outcome")
    if outcome != "reused" or resp.message.content != REPLY:
        raise RuntimeError(
            f"expected a reused common_prefix context and the mock's reply; got {outcome!r} "
            "(the measurement would not be the path it claims)"
        )


def run(smoke: bool) -> list[dict[str, Any]]:
    from llama_index.core.llms import ChatMessage

    number, repeats = (50, 3) if smoke else (200, 7)
    server = _Server()
    ark, oai, clients = _llms(server)
    messages = [
        ChatMessage(role="system", content=SYSTEM),
        ChatMessage(role="user", content="What is in the quarterly report? " * 5),
    ]
    first = ark.chat(messages)  # creates the shared prefix context
    if first.additional_kwargs.get("context_outcome") != "created":
        raise RuntimeError(
            f"first call should create the prefix context: {first.additional_kwargs}"
        )

    def ark_chat() -> None:
        _check_reuse(ark.chat(messages))

    def oai_chat() -> None:
        oai.chat(messages)

    sync = _sync_samples({"oai": oai_chat, "ark": ark_chat}, number, repeats)

    async def ark_achat() -> None:
        _check_reuse(await ark.achat(messages))

    async def oai_achat() -> None:
        await oai.achat(messages)

    async def both() -> dict[str, float]:
        try:
            return await _async_samples({"oai": oai_achat, "ark": ark_achat}, number, repeats)
        finally:
            await clients[1].aclose()

    asy = asyncio.run(both())
    clients[0].close()
    if server.paths.get("/api/v3/context/create") != 1:
        raise RuntimeError(f"expected exactly one context creation: {server.paths}")

    note = (
        f"per call, same httpx.MockTransport and reply, common_prefix reuse hit checked on "
        f"every call; median of {repeats} x {number} calls, interleaved"
    )
    rows = [
        row(SECTION, "OpenAILike.chat", sync["oai"], "us"),
        row(
            SECTION,
            "ArkContextLLM.chat",
            sync["ark"],
            "us",
            anchor="OpenAILike.chat",
            target="<= 0.5x",
            note=note,
        ),
        row(SECTION, "OpenAILike.achat", asy["oai"], "us"),
        row(
            SECTION,
            "ArkContextLLM.achat",
            asy["ark"],
            "us",
            anchor="OpenAILike.achat",
            target="<= 0.5x",
            note=note,
        ),
    ]
    base, ours = import_times_ms(
        ["import llama_index.core.llms", "import llama_index_ark_context"],
        repeats=2 if smoke else 15,  # ~1 s imports: noisy, so more samples
    )
    rows.append(row(SECTION, "import llama_index.core.llms", base, "ms"))
    rows.append(
        row(
            SECTION,
            "import llama_index_ark_context",
            ours,
            "ms",
            anchor="import llama_index.core.llms",
            target="<= 1.1x",
            note="fresh interpreters, interleaved, median; start-up excluded",
        )
    )
    for r in rows:
        if r["anchor"]:
            anchor = next(a for a in rows if a["name"] == r["anchor"])
            r["ratio"] = r["value"] / anchor["value"]
    return rows


if __name__ == "__main__":
    import sys

    for r in run(smoke="--smoke" in sys.argv):
        ratio = f"  ratio {r['ratio']:.2f}" if r["ratio"] is not None else ""
        print(f"{r['name']:<36} {r['value']:10.1f} {r['unit']}{ratio}")
