"""Per-call overhead of the HTTP client next to raw httpx and the official SDK.

Everything runs over one in-process ``httpx.MockTransport`` (no sockets), so the
figures are pure client-side cost: building the request, httpx's own machinery, and
parsing the answer. Rows:

* one non-streaming ``/context/chat/completions`` call, sync and async: raw
  ``httpx`` ``post`` + ``json()`` (anchor), ``ArkContextClient.chat`` (target <= 1.3x),
  and the official SDK ``volcengine-ark-runtime`` ``Ark(...).context.completions.create``
  given an ``httpx`` client on the same transport;
* one 200-chunk stream, per chunk: raw ``httpx`` ``iter_lines`` + ``json.loads`` of each
  ``data:`` line (anchor), ``ArkContextClient.chat_stream``, and the SDK's stream.

* one non-streaming ``POST /responses`` (``client.responses.create``), sync and async:
  raw ``httpx`` ``post`` + ``json()`` (anchor, target <= 1.3x) and the official SDK's
  ``client.responses.create`` on the same transport and canned body.

Import time of ``ark_context`` is measured by ``bench_imports.py``.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx

from benchmarks._harness import atime_per_call, row, time_per_call

BASE = "http://ark.bench/api/v3"
URL = BASE + "/context/chat/completions"
KEY = "sk-bench-not-a-real-key"
MESSAGES = [{"role": "user", "content": "What did I say my name was?"}]
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-0217",
        "object": "chat.completion",
        "created": 1733885013,
        "model": "ep-20241211-bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "You said your name is Ada Lovelace."},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 28,
            "completion_tokens": 9,
            "total_tokens": 37,
            "prompt_tokens_details": {"cached_tokens": 18},
        },
    }
).encode()
JSON_HEADERS = {"content-type": "application/json", "x-request-id": "bench-1"}
SSE_HEADERS = {"content-type": "text/event-stream", "x-request-id": "bench-1"}
N_CHUNKS = 200


def _events() -> list[bytes]:
    out = []
    for i in range(N_CHUNKS):
        chunk = {
            "id": "chatcmpl-0217",
            "object": "chat.completion.chunk",
            "created": 1733885013,
            "model": "ep-20241211-bench",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": f"tok{i} "}}],
        }
        out.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    usage = {"id": "chatcmpl-0217", "choices": [], "usage": json.loads(COMPLETION)["usage"]}
    out.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


EVENTS = _events()


def _handler(request: httpx.Request) -> httpx.Response:
    if b'"stream":true' in request.content.replace(b" ", b""):
        return httpx.Response(200, content=iter(EVENTS), headers=SSE_HEADERS)
    return httpx.Response(200, content=COMPLETION, headers=JSON_HEADERS)


async def _aiter_events() -> Any:
    for e in EVENTS:
        yield e


def _ahandler(request: httpx.Request) -> httpx.Response:
    if b'"stream":true' in request.content.replace(b" ", b""):
        return httpx.Response(200, content=_aiter_events(), headers=SSE_HEADERS)
    return httpx.Response(200, content=COMPLETION, headers=JSON_HEADERS)


def _sdk() -> tuple[Any, Any] | None:
    return _sdk_clients(_handler, _ahandler)


def _sdk_clients(handler: Any, ahandler: Any = None) -> tuple[Any, Any] | None:
    """The official SDK's sync and async clients on mock transports (None if absent)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from volcenginesdkarkruntime import Ark, AsyncArk
    except ImportError:
        return None
    sync = Ark(
        base_url=BASE,
        api_key=KEY,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    aio = AsyncArk(
        base_url=BASE,
        api_key=KEY,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(ahandler or handler)),
    )
    return sync, aio


def _sync_rows(n: int, repeats: int) -> list[dict[str, Any]]:
    from ark_context import ArkContextClient

    section = "Client: one context chat call (sync)"
    http = httpx.Client(transport=httpx.MockTransport(_handler))
    auth = {"Authorization": f"Bearer {KEY}"}

    def raw() -> Any:
        body = {"context_id": "ctx-1", "model": "ep-1", "messages": MESSAGES}
        return http.post(URL, json=body, headers=auth).json()

    ours_client = ArkContextClient(api_key=KEY, base_url=BASE, http_client=http)

    def ours() -> Any:
        return ours_client.chat(context_id="ctx-1", model="ep-1", messages=MESSAGES)

    assert ours().usage.cached_tokens == 18  # type: ignore[union-attr]
    base = time_per_call(raw, number=n, repeats=repeats, warmup=50)
    mine = time_per_call(ours, number=n, repeats=repeats, warmup=50)
    rows = [
        row(section, "raw httpx post + json()", base, "us", note="httpx.MockTransport, in process"),
        row(
            section,
            "ArkContextClient.chat",
            mine,
            "us",
            anchor="raw httpx post + json()",
            target="<= 1.3x",
            note="builds the body, maps errors, validates a ChatCompletion",
        ),
    ]
    sdk = _sdk()
    if sdk is not None:
        ark = sdk[0]

        def official() -> Any:
            return ark.context.completions.create(
                context_id="ctx-1", model="ep-1", messages=MESSAGES
            )

        official()
        rows.append(
            row(
                section,
                "volcengine Ark SDK context.completions.create",
                time_per_call(official, number=n, repeats=repeats, warmup=50),
                "us",
                anchor="raw httpx post + json()",
                note="official SDK with http_client= on the same transport",
            )
        )
    return rows


def _async_rows(n: int, repeats: int) -> list[dict[str, Any]]:
    from ark_context import AsyncArkContextClient

    section = "Client: one context chat call (async)"

    async def main() -> list[dict[str, Any]]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(_ahandler))
        auth = {"Authorization": f"Bearer {KEY}"}

        async def raw() -> Any:
            body = {"context_id": "ctx-1", "model": "ep-1", "messages": MESSAGES}
            return (await http.post(URL, json=body, headers=auth)).json()

        client = AsyncArkContextClient(api_key=KEY, base_url=BASE, http_client=http)

        async def ours() -> Any:
            return await client.chat(context_id="ctx-1", model="ep-1", messages=MESSAGES)

        base = await atime_per_call(raw, number=n, repeats=repeats, warmup=50)
        mine = await atime_per_call(ours, number=n, repeats=repeats, warmup=50)
        rows = [
            row(section, "raw httpx AsyncClient post + json()", base, "us"),
            row(
                section,
                "AsyncArkContextClient.chat",
                mine,
                "us",
                anchor="raw httpx AsyncClient post + json()",
                target="<= 1.3x",
            ),
        ]
        sdk = _sdk()
        if sdk is not None:
            ark = sdk[1]

            async def official() -> Any:
                return await ark.context.completions.create(
                    context_id="ctx-1", model="ep-1", messages=MESSAGES
                )

            rows.append(
                row(
                    section,
                    "volcengine AsyncArk SDK context.completions.create",
                    await atime_per_call(official, number=n, repeats=repeats, warmup=50),
                    "us",
                    anchor="raw httpx AsyncClient post + json()",
                )
            )
        return rows

    return asyncio.run(main())


def _stream_rows(n: int, repeats: int) -> list[dict[str, Any]]:
    from ark_context import ArkContextClient

    section = f"Client: streaming, per chunk of a {N_CHUNKS}-chunk reply (sync)"
    http = httpx.Client(transport=httpx.MockTransport(_handler))
    auth = {"Authorization": f"Bearer {KEY}"}
    per = N_CHUNKS + 1  # content chunks + the usage chunk

    def raw() -> int:
        body = {"context_id": "ctx-1", "model": "ep-1", "messages": MESSAGES, "stream": True}
        count = 0
        with http.stream("POST", URL, json=body, headers=auth) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    data = line[6:]
                    if data == "[DONE]":
                        break
                    json.loads(data)
                    count += 1
        return count

    client = ArkContextClient(api_key=KEY, base_url=BASE, http_client=http)

    def ours() -> int:
        with client.chat_stream(context_id="ctx-1", model="ep-1", messages=MESSAGES) as s:
            return sum(1 for _ in s)

    assert raw() == per and ours() == per
    base = time_per_call(raw, number=n, repeats=repeats, warmup=3) / per
    mine = time_per_call(ours, number=n, repeats=repeats, warmup=3) / per
    rows = [
        row(
            section,
            "raw httpx iter_lines + json.loads",
            base,
            "us",
            note="one network chunk per event",
        ),
        row(
            section,
            "ArkContextClient.chat_stream",
            mine,
            "us",
            anchor="raw httpx iter_lines + json.loads",
            note="incremental SSE parser + a validated ChatCompletionChunk per event",
        ),
    ]
    sdk = _sdk()
    if sdk is not None:
        ark = sdk[0]

        def official() -> int:
            stream: Iterator[Any] = ark.context.completions.create(
                context_id="ctx-1",
                model="ep-1",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            return sum(1 for _ in stream)

        assert official() == per
        rows.append(
            row(
                section,
                "volcengine Ark SDK stream",
                time_per_call(official, number=n, repeats=repeats, warmup=3) / per,
                "us",
                anchor="raw httpx iter_lines + json.loads",
            )
        )
    return rows


RESPONSES_URL = BASE + "/responses"
RESPONSE = json.dumps(
    {
        "id": "resp_0217bench",
        "object": "response",
        "created_at": 1760168211,
        "model": "doubao-seed-1-6-251015",
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "previous_response_id": "resp_0217prev",
        "instructions": None,
        "max_output_tokens": 32768,
        "thinking": {"type": "disabled"},
        "service_tier": "default",
        "temperature": None,
        "top_p": None,
        "text": None,
        "tools": None,
        "tool_choice": None,
        "parallel_tool_calls": None,
        "output": [
            {
                "type": "message",
                "id": "msg_0217",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "Your name is Ada.", "annotations": None}
                ],
            }
        ],
        "usage": {
            "input_tokens": 116,
            "input_tokens_details": {"cached_tokens": 104},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 123,
        },
        "caching": {"type": "enabled"},
        "store": True,
        "expire_at": 1760427411,
    }
).encode()
RESPONSES_ARGS: dict[str, Any] = {
    "model": "doubao-seed-1-6-251015",
    "input": [{"role": "user", "content": "What did I say my name was?"}],
    "previous_response_id": "resp_0217prev",
    "caching": {"type": "enabled"},
    "thinking": {"type": "disabled"},
}


def _responses_handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=RESPONSE, headers=JSON_HEADERS)


def _responses_rows(n: int, repeats: int) -> list[dict[str, Any]]:
    """``responses.create``: raw httpx, ours and the official SDK, sync and async."""
    from ark_context import ArkContextClient, AsyncArkContextClient

    auth = {"Authorization": f"Bearer {KEY}"}
    sync_http = httpx.Client(transport=httpx.MockTransport(_responses_handler))
    ours = ArkContextClient(api_key=KEY, base_url=BASE, http_client=sync_http).responses
    assert ours.create(**RESPONSES_ARGS).usage.cached_tokens == 104  # type: ignore[union-attr]
    sdk = _sdk_clients(_responses_handler)
    fns: dict[str, Any] = {
        "raw": lambda: sync_http.post(RESPONSES_URL, json=RESPONSES_ARGS, headers=auth).json(),
        "ours": lambda: ours.create(**RESPONSES_ARGS),
    }
    if sdk is not None:
        fns["sdk"] = lambda: sdk[0].responses.create(**RESPONSES_ARGS)
    sync = {k: time_per_call(f, number=n, repeats=repeats, warmup=50) for k, f in fns.items()}

    async def main() -> dict[str, float]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(_responses_handler))
        aours = AsyncArkContextClient(api_key=KEY, base_url=BASE, http_client=http).responses

        async def raw() -> Any:
            return (await http.post(RESPONSES_URL, json=RESPONSES_ARGS, headers=auth)).json()

        afns: dict[str, Any] = {"raw": raw, "ours": lambda: aours.create(**RESPONSES_ARGS)}
        if sdk is not None:
            afns["sdk"] = lambda: sdk[1].responses.create(**RESPONSES_ARGS)
        return {
            k: await atime_per_call(f, number=n, repeats=repeats, warmup=50)
            for k, f in afns.items()
        }

    rows = []
    for label, times in (("sync", sync), ("async", asyncio.run(main()))):
        section = f"Client: one responses.create call ({label})"
        anchor = "raw httpx post + json()"
        rows.append(
            row(section, anchor, times["raw"], "us", note="httpx.MockTransport, in process")
        )
        rows.append(
            row(
                section,
                "client.responses.create",
                times["ours"],
                "us",
                anchor=anchor,
                target="<= 1.3x",
                note="checks the caching rules, drops unset fields, validates a Response",
            )
        )
        if "sdk" in times:
            rows.append(
                row(
                    section,
                    "volcengine Ark SDK responses.create",
                    times["sdk"],
                    "us",
                    anchor=anchor,
                    note="official SDK with http_client= on the same transport",
                )
            )
    return rows


def run(smoke: bool) -> list[dict[str, Any]]:
    n, repeats = (100, 3) if smoke else (1500, 7)
    stream_n = 5 if smoke else 40
    return [
        *_sync_rows(n, repeats),
        *_async_rows(n, repeats),
        *_stream_rows(stream_n, repeats),
        *_responses_rows(n, repeats),
    ]


if __name__ == "__main__":
    for r in run(smoke=False):
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") else ""
        print(f"{r['section']:<55} {r['name']:<52} {r['value']:9.2f} {r['unit']} {ratio}")
