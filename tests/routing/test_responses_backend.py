"""The Responses backend's requests, driven through the shared flows with a scripted
client (no sockets): what each kind of turn sends, the chain gap, and a gone parent."""

from __future__ import annotations

from typing import Any

import pytest

from ark_context._exceptions import ArkResponseGoneError
from ark_context.routing.responses import estimate_tokens
from ark_context.routing.responses_router import ResponsesRouter
from ark_context.stores import InMemoryStore

NOW = 1_800_000_000.0
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


class ScriptedResponses:
    """Plays ``client.responses``: records each request, answers with a Response dict."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next: BaseException | None = None

    def create(self, **kw: Any) -> dict[str, Any]:
        self.requests.append(kw)
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        n = len(self.requests)
        return {
            "id": f"resp_{n}",
            "model": kw["model"],
            "status": "completed",
            "expire_at": kw.get("expire_at"),
            "output": [{"type": "message", "content": [{"type": "output_text", "text": f"r{n}"}]}],
            "usage": {"input_tokens": 10 * n, "input_tokens_details": {"cached_tokens": 5 * n}},
        }


class ScriptedClient:
    def __init__(self) -> None:
        self.responses = ScriptedResponses()


def make(**kw: Any) -> tuple[ResponsesRouter, ScriptedResponses, list[float]]:
    slept: list[float] = []
    r = ResponsesRouter(
        model="doubao-seed-1-6-251015",
        api_key="k",
        base_url="http://127.0.0.1:1/api/v3",
        store=InMemoryStore(),
        clock=lambda: NOW,
        sleep=slept.append,
        **kw,
    )
    client = ScriptedClient()
    r.backend._client = client  # type: ignore[assignment]
    return r, client.responses, slept


SYSTEM = {"role": "system", "content": "Be brief."}


def test_first_turn_then_chained_turn() -> None:
    r, api, _ = make(ttl=7200)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    params = {"tools": TOOLS, "thinking": {"type": "disabled"}, "stop": ["x"]}
    first = r.chat(history, params)
    req = api.requests[0]
    assert "previous_response_id" not in req and "instructions" not in req
    assert req["caching"] == {"type": "enabled"} and "store" not in req
    assert req["expire_at"] == int(NOW) + 7200
    assert [i["role"] for i in req["input"]] == ["system", "user"]
    assert req["tools"][0]["name"] == "f" and req["thinking"] == {"type": "disabled"}
    assert first.route.dropped == ("stop",) and first.metadata()["dropped_params"] == ["stop"]
    history += [first.result.wire_message(), {"role": "user", "content": "more"}]
    second = r.chat(history, params)
    req2 = api.requests[1]
    assert req2["previous_response_id"] == "resp_1" and "tools" not in req2
    assert req2["thinking"] == {"type": "disabled"} and req2["expire_at"] == req["expire_at"]
    assert [i["role"] for i in req2["input"]] == ["user"]
    assert second.route.outcome == "reused" and second.route.context_id == "resp_1"


def test_uncached_json_schema_and_plain_store_false() -> None:
    r, api, _ = make()
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    rc = r.chat([SYSTEM, {"role": "user", "content": "hi"}], {"response_format": fmt})
    req = api.requests[0]
    assert req["store"] is False and "caching" not in req and "expire_at" not in req
    assert req["text"]["format"]["type"] == "json_schema"
    assert (rc.route.outcome, rc.route.reason, rc.route.expire_at) == (
        "bypassed",
        "json_schema",
        None,
    )


def test_chaining_waits_out_the_gap_after_the_parent_completed() -> None:
    r, _, slept = make(chain_gap=30.0)
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(history)
    assert slept == []
    r.chat([*history, first.result.wire_message(), {"role": "user", "content": "again"}])
    assert len(slept) == 1 and 29.0 < slept[0] <= 30.0


def test_a_gone_parent_is_rebuilt_once_from_the_history() -> None:
    r, api, _ = make()
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "hi"}]
    first = r.chat(history)
    history += [first.result.wire_message(), {"role": "user", "content": "again"}]
    api.fail_next = ArkResponseGoneError("gone", status_code=404)
    rc = r.chat(history)
    assert (rc.route.outcome, rc.route.reason) == ("recreated", "gone")
    rebuilt = api.requests[-1]
    assert "previous_response_id" not in rebuilt and len(rebuilt["input"]) == 4


def test_bad_params_fail_before_any_request() -> None:
    r, api, _ = make()
    with pytest.raises(ValueError, match="presence_penalty"):
        r.chat([{"role": "user", "content": "hi"}], {"presence_penalty": 1.0})
    with pytest.raises(ValueError, match="set by the router"):
        r.chat([{"role": "user", "content": "hi"}], {"model": "x"})
    assert api.requests == []


def test_token_estimate_is_conservative() -> None:
    text = "The quick brown fox, again. " * 50
    assert (
        estimate_tokens([{"role": "system", "content": text}]) == 7 * 50
    )  # 5 words, 2 punctuation marks
    assert estimate_tokens([{"role": "system", "content": "你好" * 10}]) == 10


@pytest.mark.parametrize(
    ("model", "params", "words"),
    [
        ("kimi-k2-250905", {"thinking": {"type": "enabled"}}, "no thinking field"),
        ("deepseek-v3-1-250821", {"reasoning_effort": "low"}, "reasoning_effort"),
        (
            "doubao-seed-1-6-251015",
            {"thinking": {"type": "disabled"}, "reasoning_effort": "high"},
            "minimal",
        ),
        ("doubao-seed-1-6-lite-251015", {"response_format": {"type": "json_object"}}, "structured"),
    ],
)
def test_settings_a_model_does_not_take_fail_before_the_network(
    model: str, params: dict[str, Any], words: str
) -> None:
    r, api, _ = make()
    r.model = r.backend.model = model
    with pytest.raises(ValueError, match=words):
        r.chat([{"role": "user", "content": "hi"}], params)
    assert api.requests == []
