"""The emulator's API semantics, in-process through httpx.ASGITransport (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ark_context.emulator import Emulator, message_tokens
from tests.emulator.conftest import asgi_client

SYSTEM = {"role": "system", "content": "You are a test."}
MODEL = "ep-test"


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock)


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("model", MODEL)
    body.setdefault("messages", [SYSTEM])
    r = await client.post("/context/create", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def chat(client: httpx.AsyncClient, cid: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": MODEL, "context_id": cid, "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return await client.post("/context/chat/completions", json=body)


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "param", "type"}
    assert err["message"].endswith(f"Request id: {r.headers['x-request-id']}")
    return err


# ---------------------------------------------------------------- create


async def test_create_response_shape_and_usage(client: httpx.AsyncClient):
    sys_msg = {"role": "system", "content": "你是李雷,你只会说“我是李雷”"}
    out = await create(
        client,
        messages=[sys_msg],
        ttl=3600,
        truncation_strategy={"type": "last_history_tokens", "last_history_tokens": 4096},
    )
    assert out["id"].startswith("ctx-")
    _prefix, stamp, rand = out["id"].split("-")
    assert len(stamp) == 14 and stamp.isdigit() and rand
    assert out["model"] == MODEL
    assert out["mode"] == "session"
    assert out["ttl"] == 3600
    assert out["truncation_strategy"] == {
        "type": "last_history_tokens",
        "last_history_tokens": 4096,
    }
    assert out["usage"] == {
        "prompt_tokens": 18,
        "completion_tokens": 0,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


async def test_create_ids_are_unique(client: httpx.AsyncClient):
    ids = {(await create(client))["id"] for _ in range(20)}
    assert len(ids) == 20


async def test_create_defaults_and_string_ttl(client: httpx.AsyncClient):
    out = await create(client, ttl="7200")
    assert out["ttl"] == 7200
    out = await create(client)
    assert out["ttl"] == 86400
    assert out["truncation_strategy"]["type"] == "rolling_tokens"


async def test_common_prefix_create_has_no_truncation(client: httpx.AsyncClient):
    out = await create(client, mode="common_prefix")
    assert out["mode"] == "common_prefix"
    assert "truncation_strategy" not in out


@pytest.mark.parametrize("ttl", [3599, 604801, 0, -5, "abc", "3600.5", True, [3600]])
async def test_ttl_out_of_range_or_malformed_is_400(client: httpx.AsyncClient, ttl: Any):
    r = await client.post(
        "/context/create", json={"model": MODEL, "messages": [SYSTEM], "ttl": ttl}
    )
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "InvalidParameter"
    assert err["param"] == "ttl"
    assert err["type"] == "BadRequest"


@pytest.mark.parametrize("ttl", [3600, 604800, "604800"])
async def test_ttl_bounds_are_inclusive(client: httpx.AsyncClient, ttl: Any):
    await create(client, ttl=ttl)


async def test_truncation_strategy_with_common_prefix_is_400(client: httpx.AsyncClient):
    r = await client.post(
        "/context/create",
        json={
            "model": MODEL,
            "messages": [SYSTEM],
            "mode": "common_prefix",
            "truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 100},
        },
    )
    assert r.status_code == 400
    assert error_of(r)["param"] == "truncation_strategy"


@pytest.mark.parametrize(
    ("strategy", "param"),
    [
        ({"type": "last_history_tokens", "last_history_tokens": 0}, "last_history_tokens"),
        ({"type": "last_history_tokens", "last_history_tokens": 32768}, "last_history_tokens"),
        ({"type": "rolling_tokens", "rolling_tokens": "yes"}, "rolling_tokens"),
        ({"type": "rolling_tokens", "max_window_tokens": 0}, "max_window_tokens"),
        ({"type": "sliding"}, "type"),
        ("last_history_tokens", "truncation_strategy"),
    ],
)
async def test_bad_truncation_strategy_is_400(client: httpx.AsyncClient, strategy: Any, param: str):
    r = await client.post(
        "/context/create",
        json={"model": MODEL, "messages": [SYSTEM], "truncation_strategy": strategy},
    )
    assert r.status_code == 400
    assert error_of(r)["param"].endswith(param)


async def test_missing_type_in_truncation_is_missing_parameter(client: httpx.AsyncClient):
    r = await client.post(
        "/context/create",
        json={"model": MODEL, "messages": [SYSTEM], "truncation_strategy": {}},
    )
    assert error_of(r)["code"] == "MissingParameter.truncation_strategy.type"


@pytest.mark.parametrize("field", ["model", "messages"])
async def test_create_missing_fields(client: httpx.AsyncClient, field: str):
    body: dict[str, Any] = {"model": MODEL, "messages": [SYSTEM]}
    del body[field]
    r = await client.post("/context/create", json=body)
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == f"MissingParameter.{field}"
    assert err["param"] == field


async def test_explicit_nulls_count_as_unset(client: httpx.AsyncClient, emu: Emulator):
    # what the official SDK sends for unset fields
    r = await client.post(
        "/context/create",
        json={
            "model": MODEL,
            "mode": "session",
            "messages": [{"role": "system", "content": "s", "name": None}],
            "ttl": None,
            "truncation_strategy": None,
        },
    )
    assert r.status_code == 200
    cid = r.json()["id"]
    assert r.json()["ttl"] == 86400
    body = {
        "context_id": cid,
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        **dict.fromkeys(
            [
                "frequency_penalty",
                "function_call",
                "logit_bias",
                "logprobs",
                "max_tokens",
                "presence_penalty",
                "stop",
                "stream",
                "stream_options",
                "temperature",
                "tools",
                "top_logprobs",
                "top_p",
                "user",
                "repetition_penalty",
                "n",
                "tool_choice",
                "response_format",
            ]
        ),
    }
    r = await client.post("/context/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    # the null name was not stored
    assert emu.contexts()[0]["messages"][0] == {"role": "system", "content": "s"}
    r = await client.post("/context/create", json={"model": MODEL, "messages": None})
    assert error_of(r)["code"] == "MissingParameter.messages"


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hi",
        [{"role": "robot", "content": "x"}],
        [{"role": "user", "content": 5}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
        ["not a dict"],
    ],
)
async def test_bad_messages_are_400(client: httpx.AsyncClient, messages: Any):
    r = await client.post("/context/create", json={"model": MODEL, "messages": messages})
    assert r.status_code == 400
    assert error_of(r)["param"] == "messages"


async def test_message_without_content_is_missing_parameter(client: httpx.AsyncClient):
    r = await client.post("/context/create", json={"model": MODEL, "messages": [{"role": "user"}]})
    assert error_of(r)["code"] == "MissingParameter.messages.content"


async def test_bad_mode_and_bad_json(client: httpx.AsyncClient):
    r = await client.post(
        "/context/create", json={"model": MODEL, "messages": [SYSTEM], "mode": "x"}
    )
    assert error_of(r)["param"] == "mode"
    r = await client.post("/context/create", content=b"{not json")
    assert r.status_code == 400 and error_of(r)["code"] == "InvalidParameter"
    r = await client.post("/context/create", json=[1, 2])
    assert r.status_code == 400


# ---------------------------------------------------------------- auth


async def test_missing_or_malformed_auth_is_401(client: httpx.AsyncClient):
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ):
        r = await client.post(
            "/context/create", json={"model": MODEL, "messages": [SYSTEM]}, headers=headers
        )
        assert r.status_code == 401
        err = error_of(r)
        assert err["code"] == "AuthenticationError"
        assert err["type"] == "Unauthorized"
        assert err["param"] == ""


async def test_configured_keys_only():
    emu = Emulator(api_keys={"good"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url="http://emu/api/v3"
    ) as c:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        r = await c.post("/chat/completions", json=body, headers={"Authorization": "Bearer bad"})
        assert r.status_code == 401
        assert "bad" not in r.text
        r = await c.post("/chat/completions", json=body, headers={"Authorization": "Bearer good"})
        assert r.status_code == 200


def test_api_keys_must_be_a_collection():
    from ark_context.emulator import EmulatorError

    with pytest.raises(EmulatorError):
        Emulator(api_keys="one-key")
    with pytest.raises(EmulatorError):
        Emulator(api_keys={""})


# ---------------------------------------------------------------- request ids


async def test_every_response_has_a_request_id(client: httpx.AsyncClient):
    ok = await client.post(
        "/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    )
    bad = await client.post("/chat/completions", json={"model": MODEL})
    unauth = await client.post("/chat/completions", json={}, headers={"Authorization": ""})
    unknown = await client.get("/models")
    ids = [r.headers["x-request-id"] for r in (ok, bad, unauth, unknown)]
    assert all(ids) and len(set(ids)) == 4
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "NotFound"


async def test_client_request_id_is_echoed(client: httpx.AsyncClient):
    r = await client.post(
        "/chat/completions", json={"model": MODEL}, headers={"X-Client-Request-Id": "my-id-123"}
    )
    assert r.headers["x-request-id"] == "my-id-123"
    assert r.headers["x-client-request-id"] == "my-id-123"
    assert error_of(r)["message"].endswith("Request id: my-id-123")


# ---------------------------------------------------------------- session semantics


async def test_session_appends_turns_and_reports_cache(client: httpx.AsyncClient, emu: Emulator):
    cid = (await create(client))["id"]
    sys_tokens = message_tokens(SYSTEM)
    r1 = await chat(client, cid, "hello")
    assert r1.status_code == 200
    body = r1.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert len(body["choices"]) == 1
    user_tokens = message_tokens({"role": "user", "content": "hello"})
    reply1 = body["choices"][0]["message"]["content"]
    assert (
        reply1
        == f"[saw 2 messages, {sys_tokens + user_tokens} tokens, {sys_tokens} cached] echo: hello"
    )
    assert body["usage"]["prompt_tokens"] == sys_tokens + user_tokens
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == sys_tokens
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )

    r2 = await chat(client, cid, "again")
    transcript = [
        SYSTEM,
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": reply1},
        {"role": "user", "content": "again"},
    ]
    cached = sum(message_tokens(m) for m in transcript[:3])
    usage = r2.json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == cached
    assert usage["prompt_tokens"] == cached + message_tokens(transcript[3])
    assert r2.json()["choices"][0]["message"]["content"].startswith("[saw 4 messages")

    recs = emu.completions()
    assert recs[1]["messages"] == transcript
    assert recs[1]["from_context"] == 3
    assert recs[1]["sent"] == [transcript[3]]
    assert recs[1]["applied"] is True
    ctx = emu.contexts()[0]
    assert ctx["messages"] == [
        *transcript,
        {"role": "assistant", "content": r2.json()["choices"][0]["message"]["content"]},
    ]
    assert ctx["turns"] == 2


async def test_session_keeps_multiple_sent_messages_in_order(
    client: httpx.AsyncClient, emu: Emulator
):
    cid = (await create(client))["id"]
    msgs = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    r = await client.post(
        "/context/chat/completions", json={"model": MODEL, "context_id": cid, "messages": msgs}
    )
    assert r.status_code == 200
    assert emu.contexts()[0]["messages"][:4] == [SYSTEM, *msgs]


async def test_common_prefix_never_changes(client: httpx.AsyncClient, emu: Emulator):
    cid = (await create(client, mode="common_prefix"))["id"]
    for text in ("a", "b"):
        r = await chat(client, cid, text)
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["content"].startswith("[saw 2 messages")
        assert r.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == message_tokens(SYSTEM)
    ctx = emu.contexts()[0]
    assert ctx["messages"] == [SYSTEM]
    assert ctx["turns"] == 0
    assert all(rec["applied"] is False for rec in emu.completions())


async def test_plain_chat_has_no_cache(client: httpx.AsyncClient, emu: Emulator):
    msgs = [SYSTEM, {"role": "user", "content": "hi"}]
    r = await client.post("/chat/completions", json={"model": MODEL, "messages": msgs})
    assert r.status_code == 200
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] == sum(message_tokens(m) for m in msgs)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    rec = emu.completions()[0]
    assert rec["context_id"] is None and rec["mode"] is None
    assert rec["messages"] == msgs and rec["from_context"] == 0


async def test_plain_chat_accepts_tools_and_trailing_assistant(client: httpx.AsyncClient):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "pre"}]
    r = await client.post("/chat/completions", json={"model": MODEL, "messages": msgs, "tools": []})
    assert r.status_code == 200


async def test_a_plain_chat_tool_call_counts_its_generated_tokens(clock: FakeClock):
    """A tool call's name and arguments are output the model generated: counted in
    ``completion_tokens``, as ``/responses`` counts a function_call item."""
    from ark_context.emulator import FunctionCall, count_tokens

    call = FunctionCall("lookup", {"topic": "caching prices"})
    emu = Emulator(clock=clock, responder=lambda messages, params: call)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    msgs = [{"role": "user", "content": "what does caching cost?"}]
    async with asgi_client(emu) as client:
        r = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": msgs, "tools": [tool]}
        )
    assert r.status_code == 200, r.text
    body = r.json()
    fn = body["choices"][0]["message"]["tool_calls"][0]["function"]
    expected = count_tokens(fn["name"]) + count_tokens(fn["arguments"])
    assert body["usage"]["completion_tokens"] == expected > 0


# ---------------------------------------------------------------- context chat errors


async def test_last_message_assistant_is_400(client: httpx.AsyncClient, emu: Emulator):
    cid = (await create(client))["id"]
    r = await client.post(
        "/context/chat/completions",
        json={
            "model": MODEL,
            "context_id": cid,
            "messages": [{"role": "assistant", "content": "x"}],
        },
    )
    assert r.status_code == 400
    assert error_of(r)["param"] == "messages"
    assert emu.contexts()[0]["turns"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tools", [{"type": "function", "function": {"name": "f"}}]),
        ("response_format", {"type": "json_object"}),
        ("thinking", {"type": "enabled"}),
        ("tool_choice", "auto"),
    ],
)
async def test_unsupported_parameters_on_context_chat(
    client: httpx.AsyncClient, field: str, value: Any
):
    cid = (await create(client))["id"]
    r = await chat(client, cid, "hi", **{field: value})
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "InvalidParameter.UnsupportedParameter"
    assert err["param"] == field


async def test_service_tier_auto_is_rejected(client: httpx.AsyncClient):
    cid = (await create(client))["id"]
    assert (await chat(client, cid, "x", service_tier="auto")).status_code == 400
    assert (await chat(client, cid, "x", service_tier="default")).status_code == 200


@pytest.mark.parametrize("field", ["model", "messages", "context_id"])
async def test_context_chat_missing_fields(client: httpx.AsyncClient, field: str):
    cid = (await create(client))["id"]
    body: dict[str, Any] = {
        "model": MODEL,
        "context_id": cid,
        "messages": [{"role": "user", "content": "x"}],
    }
    body[field] = None
    r = await client.post("/context/chat/completions", json=body)
    assert r.status_code == 400
    assert error_of(r)["code"] == f"MissingParameter.{field}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 2.5),
        ("temperature", "hot"),
        ("top_p", 1.5),
        ("presence_penalty", -3),
        ("frequency_penalty", 3),
        ("top_logprobs", 21),
        ("max_tokens", -1),
        ("max_tokens", "10"),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", 5),
        ("stream", "yes"),
    ],
)
async def test_parameter_ranges(client: httpx.AsyncClient, field: str, value: Any):
    cid = (await create(client))["id"]
    r = await chat(client, cid, "x", **{field: value})
    assert r.status_code == 400
    assert error_of(r)["param"] == field


async def test_model_mismatch_is_400(client: httpx.AsyncClient):
    cid = (await create(client))["id"]
    r = await client.post(
        "/context/chat/completions",
        json={
            "model": "ep-other",
            "context_id": cid,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert r.status_code == 400 and error_of(r)["param"] == "model"


async def test_unknown_context_is_404(client: httpx.AsyncClient):
    r = await chat(client, "ctx-20250101000000-nothere", "x")
    assert r.status_code == 404
    err = error_of(r)
    assert err["code"] == "NotFound.Context"
    assert err["type"] == "NotFound"
    assert err["message"].startswith(
        "The specified context ctx-20250101000000-nothere is not found or expired"
    )


async def test_prompt_over_model_window_is_out_of_context():
    emu = Emulator(model_window=50)
    async with asgi_client(emu) as c:
        cid = (await create(c, mode="common_prefix"))["id"]
        long = " ".join(["word"] * 60)
        r = await chat(c, cid, long)
        assert r.status_code == 400
        assert error_of(r)["code"] == "OutofContextError"
        r = await c.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": long}]},
        )
        assert error_of(r)["code"] == "OutofContextError"
        r = await c.post(
            "/context/create",
            json={"model": MODEL, "messages": [{"role": "system", "content": long}]},
        )
        assert error_of(r)["code"] == "OutofContextError"


# ---------------------------------------------------------------- ttl and clock


async def test_context_expires_after_ttl_of_idleness(
    client: httpx.AsyncClient, emu: Emulator, clock: FakeClock
):
    cid = (await create(client, ttl=3600))["id"]
    clock.t += 3600  # exactly ttl idle: still alive
    assert (await chat(client, cid, "a")).status_code == 200
    clock.t += 3000
    assert (await chat(client, cid, "b")).status_code == 200  # use restarted the ttl
    emu.advance_clock(3601)
    r = await chat(client, cid, "c")
    assert r.status_code == 404
    assert cid in error_of(r)["message"]
    assert emu.contexts() == []


async def test_failed_request_does_not_restart_ttl(client: httpx.AsyncClient, emu: Emulator):
    cid = (await create(client, ttl=3600))["id"]
    emu.advance_clock(3000)
    assert (await chat(client, cid, "x", temperature=9)).status_code == 400
    emu.advance_clock(700)
    assert (await chat(client, cid, "y")).status_code == 404


async def test_forget_contexts_is_a_restart(client: httpx.AsyncClient, emu: Emulator):
    cid = (await create(client))["id"]
    assert emu.forget_contexts() == 1
    assert (await chat(client, cid, "x")).status_code == 404


def test_advance_clock_rejects_negative():
    from ark_context.emulator import EmulatorError

    with pytest.raises(EmulatorError):
        Emulator().advance_clock(-1)


# ---------------------------------------------------------------- replies


async def test_max_tokens_cuts_reply(client: httpx.AsyncClient, emu: Emulator):
    cid = (await create(client))["id"]
    r = await chat(client, cid, "hello", max_tokens=3)
    choice = r.json()["choices"][0]
    assert choice["message"]["content"] == "[saw 2"
    assert choice["finish_reason"] == "length"
    assert r.json()["usage"]["completion_tokens"] == 3
    # the session stores the reply as the client saw it
    assert emu.contexts()[0]["messages"][-1] == {"role": "assistant", "content": "[saw 2"}


async def test_stop_cuts_before_the_stop_string(client: httpx.AsyncClient):
    cid = (await create(client))["id"]
    r = await chat(client, cid, "hello", stop=["echo", "never"])
    choice = r.json()["choices"][0]
    assert choice["message"]["content"].endswith("cached] ")
    assert "echo" not in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    r = await chat(client, cid, "hello", stop="saw")
    assert r.json()["choices"][0]["message"]["content"] == "["


async def test_custom_responder_sees_effective_prompt_and_params():
    seen: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    def responder(messages: Any, params: Any) -> str:
        seen.append((list(messages), dict(params)))
        return f"reply {len(seen)}"

    emu = Emulator(responder=responder)
    async with asgi_client(emu) as c:
        cid = (await create(c))["id"]
        r = await chat(c, cid, "one", temperature=0.5)
        assert r.json()["choices"][0]["message"]["content"] == "reply 1"
        await chat(c, cid, "two")
    messages, params = seen[1]
    assert messages == [
        SYSTEM,
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "reply 1"},
        {"role": "user", "content": "two"},
    ]
    assert seen[0][1]["temperature"] == 0.5
    assert "messages" not in params
    assert params["prompt_info"]["from_context"] == 3
    assert params["prompt_info"]["context_id"] == cid
    assert params["prompt_info"]["mode"] == "session"


async def test_responder_returning_non_text_is_a_500_and_nothing_is_appended():
    emu = Emulator(responder=lambda m, p: None)  # type: ignore[arg-type,return-value]
    async with asgi_client(emu) as c:
        cid = (await create(c))["id"]
        r = await chat(c, cid, "x")
        assert r.status_code == 500
        assert error_of(r)["code"] == "InternalServiceError"
        assert emu.contexts()[0]["turns"] == 0
        assert emu.contexts()[0]["in_progress"] is False


# ---------------------------------------------------------------- streaming


def sse_events(text: str) -> list[Any]:
    out: list[Any] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: ")
        data = block[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def test_stream_chunks_usage_and_done(client: httpx.AsyncClient, emu: Emulator):
    cid = (await create(client))["id"]
    r = await chat(client, cid, "hello world", stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-request-id"]
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["object"] == "chat.completion.chunk"
    content = events[:-2]
    assert len(content) > 3
    assert content[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in content[1:])
    assert [c["choices"][0]["finish_reason"] for c in content] == [None] * (len(content) - 1) + [
        "stop"
    ]
    assert len({c["id"] for c in events[:-1]}) == 1
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    rec = emu.completions()[0]
    assert text == rec["reply"]
    assert usage_chunk["usage"] == rec["usage"]
    assert emu.contexts()[0]["messages"][-1] == {"role": "assistant", "content": text}
    assert emu.contexts()[0]["in_progress"] is False


async def test_stream_without_usage_option(client: httpx.AsyncClient):
    r = await client.post(
        "/chat/completions",
        json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "a b"}]},
    )
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    assert all(e["choices"] for e in events[:-1])
    assert all("usage" not in e for e in events[:-1])


async def test_stream_length_finish(client: httpx.AsyncClient):
    r = await client.post(
        "/chat/completions",
        json={
            "model": MODEL,
            "stream": True,
            "max_tokens": 2,
            "messages": [{"role": "user", "content": "a"}],
        },
    )
    events = sse_events(r.text)
    assert "".join(e["choices"][0]["delta"]["content"] for e in events[:-1]) == "[saw"
    assert events[-2]["choices"][0]["finish_reason"] == "length"


async def test_empty_reply_streams_one_chunk(client: httpx.AsyncClient):
    r = await client.post(
        "/chat/completions",
        json={
            "model": MODEL,
            "stream": True,
            "max_tokens": 0,
            "messages": [{"role": "user", "content": "a"}],
        },
    )
    events = sse_events(r.text)
    assert len(events) == 2
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[0]["choices"][0]["finish_reason"] == "length"


async def test_chunk_tokens_groups_pieces():
    emu = Emulator(chunk_tokens=4)
    async with asgi_client(emu) as c:
        r = await c.post(
            "/chat/completions",
            json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
    events = sse_events(r.text)[:-1]
    # reply "[saw 1 messages, 4 tokens, 0 cached] echo: x" has 15 tokens -> 4 chunks
    assert len(events) == 4
