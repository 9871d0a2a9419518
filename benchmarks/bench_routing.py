"""Routing overhead against history length: what the router adds to one call.

The router's own work per call is: validate the conversation, digest it, look up the
longest recorded prefix in the store, claim it, build the tail, and record the new
transcript after the reply. To time exactly that without a network, both sides go
through the same in-process ``httpx.MockTransport``:

* ``router.chat(history)``: a session-mode reuse hit (the context already holds every
  message but the newest user turn), so one ``POST /context/chat/completions`` with the
  tail is sent;
* ``ArkContextClient.chat(context_id, [new turn])``: the same request, sent directly.

``overhead = median(router) - median(client)``, measured in the same process and run.
Every timed router call is checked to be a ``reused`` route that sent one message, so the
figure cannot silently measure a different path. Each timed call uses its own
conversation, seeded beforehand through the router itself (public API only); the
conversations share their message texts, as a caller's successive turns do.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from benchmarks._harness import completion_json, median, row

SECTION = "Routing overhead (no network)"
MODEL = "ep-bench-routing"
REPLY = "Deterministic reply from the mock transport. " * 4
TARGET_US = "<= 200 us"


def _handler() -> Any:
    counter = {"ctx": 0}
    completion = completion_json(MODEL, REPLY, prompt=10, completion=5, cached=8)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/context/create"):
            counter["ctx"] += 1
            body = json.dumps(
                {
                    "id": f"ctx-bench-{counter['ctx']}",
                    "model": MODEL,
                    "mode": "session",
                    "ttl": 86400,
                    "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1},
                }
            ).encode()
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})
        return httpx.Response(200, content=completion, headers={"content-type": "application/json"})

    return handle


def _history(n: int, chars: int) -> list[dict[str, str]]:
    """``n`` user/assistant messages, alternating, each ``chars`` long (only the newest
    reply must equal the mock's reply, and the caller appends that one)."""
    body = ("lorem ipsum dolor sit amet " * (chars // 27 + 1))[:chars]
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i:05d} {body}"[:chars]}
        for i in range(n)
    ]


def _case(n_messages: int, chars: int, *, calls: int, repeats: int) -> dict[str, float]:
    """Median µs per call of router.chat and of the raw client for a history of
    ``n_messages`` (system prompt included) whose messages are ``chars`` long."""
    from ark_context import ArkContextClient, wire_message
    from ark_context.router import ContextRouter
    from ark_context.stores import InMemoryStore

    transport = httpx.MockTransport(_handler())
    http = httpx.Client(transport=transport)
    client = ArkContextClient(
        api_key="bench-key", base_url="http://bench.invalid/api/v3", http_client=http
    )
    router = ContextRouter(
        model=MODEL,
        api_key="bench-key",
        base_url="http://bench.invalid/api/v3",
        mode="session",
        store=InMemoryStore(),
        client=client,
    )
    # Conversation k: [system_k] + shared (ends with a user turn, odd count so it does).
    shared = _history(n_messages - 3, chars)  # system + shared + [reply, new user] = n
    assert shared[-1]["role"] == "user"
    new_turn = wire_message("user", "And what about the next step? " * max(1, chars // 31))
    total = calls * repeats + 5
    prefixes = []
    for k in range(total):
        prefix = [wire_message("system", f"You are bench assistant number {k}."), *shared]
        rc = router.chat(prefix)  # seeds a context and records prefix + reply
        prefixes.append([*prefix, {"role": "assistant", "content": rc.text}, new_turn])
    assert len(prefixes[0]) == n_messages, len(prefixes[0])

    import gc
    import time

    it = iter(prefixes)
    for _ in range(5):  # warm-up
        router.chat(next(it))
    router_samples: list[float] = []
    for _ in range(repeats):
        batch = [next(it) for _ in range(calls)]
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        routes = [router.chat(msgs).route for msgs in batch]
        router_samples.append((time.perf_counter() - t0) / calls * 1e6)
        gc.enable()
        bad = [r for r in routes if r.outcome != "reused" or r.sent_messages != 1]
        if bad:
            raise RuntimeError(
                f"expected reuse hits sending one message; got {bad[0]!r} "
                "(the measurement would not be the routing fast path)"
            )

    client_samples: list[float] = []
    for _ in range(5):
        client.chat(context_id="ctx-bench-1", model=MODEL, messages=[new_turn])
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        for _ in range(calls):
            client.chat(context_id="ctx-bench-1", model=MODEL, messages=[new_turn])
        client_samples.append((time.perf_counter() - t0) / calls * 1e6)
        gc.enable()
    http.close()
    size = sum(len(m["content"].encode()) for m in prefixes[0])
    return {"router": median(router_samples), "client": median(client_samples), "bytes": size}


def run(smoke: bool) -> list[dict[str, Any]]:
    cases = [
        ("10 messages", 10, 300),
        ("100 messages", 100, 300),
        ("1,000 messages", 1000, 300),
        ("200 messages, ~400 KB", 200, 2000),
    ]
    calls, repeats = (10, 3) if smoke else (60, 7)
    rows: list[dict[str, Any]] = []
    for label, n, chars in cases:
        c = _case(
            n, chars, calls=max(5, calls // 4) if n >= 1000 and smoke else calls, repeats=repeats
        )
        overhead = c["router"] - c["client"]
        note = (
            f"history of {n} messages ({c['bytes'] / 1000:.0f} KB of text); router.chat (reuse hit) "
            f"minus ArkContextClient.chat of the same 1-message tail, both over httpx.MockTransport "
            f"in one run; median of {repeats} x {calls} calls"
        )
        rows.append(row(SECTION, f"raw client.chat, {label}", c["client"], "us"))
        rows.append(
            row(
                SECTION,
                f"router.chat, {label}",
                c["router"],
                "us",
                anchor=f"raw client.chat, {label}",
            )
        )
        rows.append(
            row(
                SECTION,
                f"routing overhead, {label}",
                overhead,
                "us",
                target=TARGET_US if n == 200 else None,
                note=note,
            )
        )
    return rows
