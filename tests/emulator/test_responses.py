"""The emulator's Responses API, in-process through httpx.ASGITransport (no sockets): chains,
branching, storage, session and prefix caching, every documented failing rule, lifetimes,
function calling, reasoning and structured output."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ark_context.emulator import Emulator, FunctionCall, message_tokens
from tests.emulator.conftest import asgi_client

MODEL = "doubao-seed-1-6-251015"
SYSTEM = {"role": "system", "content": "You are a careful assistant."}
T0 = 1_700_000_000.0
INSTRUCTIONS_MESSAGE = (
    "The parameter `instructions` specified in the request are not valid: "
    "caching is not supported for instructions."
)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["location", "days"],
    },
}


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def emu() -> Emulator:
    return Emulator(clock=FakeClock())


async def post(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    body.setdefault("model", MODEL)
    return await client.post("/responses", json=body)


async def ok(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await post(client, **body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def error(client: httpx.AsyncClient, status: int = 400, **body: Any) -> dict[str, Any]:
    r = await post(client, **body)
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["message"].endswith(f"Request id: {r.headers['x-request-id']}")
    return err


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def text_of(resp: dict[str, Any]) -> str:
    return next(o for o in resp["output"] if o["type"] == "message")["content"][0]["text"]


def cached(resp: dict[str, Any]) -> int:
    return int(resp["usage"]["input_tokens_details"]["cached_tokens"])


def tokens(*messages: dict[str, Any]) -> int:
    return sum(message_tokens(m) for m in messages)


CACHING = {"type": "enabled"}


# ---------------------------------------------------------------- shape, tokens, chains


async def test_plain_response_shape_usage_and_record(client: httpx.AsyncClient, emu: Emulator):
    out = await ok(client, input=[SYSTEM, user("你好, world")])
    assert out["object"] == "response" and out["id"].startswith("resp_")
    assert out["status"] == "completed" and out["model"] == MODEL
    assert out["created_at"] == int(T0) and out["expire_at"] == int(T0) + 259200
    assert out["store"] is True and out["caching"] == {"type": "disabled"}
    (message,) = out["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["id"].startswith("msg_")
    text = message["content"][0]["text"]
    prompt = tokens(SYSTEM, user("你好, world"))
    assert text == f"[saw 2 messages, {prompt} tokens, 0 cached] echo: 你好, world"
    usage = out["usage"]
    assert usage["input_tokens"] == prompt
    assert usage["output_tokens"] == tokens({"content": text}) - 3
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    rec = emu.response_records()[-1]
    assert rec["messages"] == [SYSTEM, user("你好, world")]
    assert rec["response_id"] == out["id"] and rec["reply"] == text and rec["applied"]
    # deterministic: the same request counts the same
    again = await ok(client, input=[SYSTEM, user("你好, world")])
    assert again["usage"] == usage


async def test_string_input_is_one_user_message(client: httpx.AsyncClient, emu: Emulator):
    await ok(client, input="hi")
    assert emu.response_records()[-1]["messages"] == [user("hi")]


async def test_chain_continues_with_inputs_and_outputs(client: httpx.AsyncClient, emu: Emulator):
    first = await ok(client, input=[SYSTEM, user("one")])
    second = await ok(client, input="two", previous_response_id=first["id"])
    assert second["previous_response_id"] == first["id"]
    seen = emu.response(second["id"])["messages"]  # type: ignore[index]
    assert seen == [SYSTEM, user("one"), {"role": "assistant", "content": text_of(first)},
                    user("two")]  # fmt: skip
    assert second["usage"]["input_tokens"] == tokens(*seen)
    assert cached(second) == 0  # no caching asked: a chain alone caches nothing


async def test_branches_see_only_their_own_ancestors(client: httpx.AsyncClient, emu: Emulator):
    root = await ok(client, input=[SYSTEM, user("root")])
    a = await ok(client, input="branch a", previous_response_id=root["id"])
    b = await ok(client, input="branch b", previous_response_id=root["id"])
    a2 = await ok(client, input="a again", previous_response_id=a["id"])
    seen_b = emu.response(b["id"])["messages"]  # type: ignore[index]
    seen_a2 = emu.response(a2["id"])["messages"]  # type: ignore[index]
    assert user("branch a") not in seen_b and seen_b[-1] == user("branch b")
    assert user("branch b") not in seen_a2 and user("branch a") in seen_a2


async def test_store_false_is_neither_retrievable_nor_chainable(client: httpx.AsyncClient):
    out = await ok(client, input="secret", store=False)
    assert out["store"] is False
    assert (await client.get(f"/responses/{out['id']}")).status_code == 404
    err = await error(client, 404, input="next", previous_response_id=out["id"])
    assert err["code"] == "NotFound.Response" and err["param"] == "previous_response_id"
    err = await error(client, input="x", store=False, caching=CACHING)
    assert err["param"] == "store"


async def test_chain_across_models_is_refused(client: httpx.AsyncClient):
    first = await ok(client, input="x")
    err = await error(client, input="y", model="deepseek-v3-2-251201",
                      previous_response_id=first["id"])  # fmt: skip
    assert err["param"] == "model"


# ---------------------------------------------------------------- session caching


async def test_session_cache_grows_with_every_caching_turn(client: httpx.AsyncClient):
    t1 = await ok(client, input=[SYSTEM, user("one")], caching=CACHING)
    assert cached(t1) == 0 and t1["caching"] == {"type": "enabled"}
    t2 = await ok(client, input="two", previous_response_id=t1["id"], caching=CACHING)
    reply1 = {"role": "assistant", "content": text_of(t1)}
    assert cached(t2) == tokens(SYSTEM, user("one"), reply1)
    t3 = await ok(client, input="three", previous_response_id=t2["id"], caching=CACHING)
    reply2 = {"role": "assistant", "content": text_of(t2)}
    assert cached(t3) == tokens(SYSTEM, user("one"), reply1, user("two"), reply2)
    assert cached(t3) < t3["usage"]["input_tokens"]


async def test_one_turn_without_caching_stops_writes_for_the_rest(client: httpx.AsyncClient):
    t1 = await ok(client, input=[SYSTEM, user("one")], caching=CACHING)
    t2 = await ok(client, input="two", previous_response_id=t1["id"])  # no caching
    t3 = await ok(client, input="three", previous_response_id=t2["id"], caching=CACHING)
    t4 = await ok(client, input="four", previous_response_id=t3["id"], caching=CACHING)
    first_part = tokens(SYSTEM, user("one"), {"role": "assistant", "content": text_of(t1)})
    assert cached(t2) == cached(t3) == cached(t4) == first_part


async def test_thinking_must_match_the_previous_turn(client: httpx.AsyncClient):
    off = {"type": "disabled"}
    t1 = await ok(client, input=[SYSTEM, user("one")], caching=CACHING, thinking=off)
    same = await ok(client, input="x", previous_response_id=t1["id"], caching=CACHING,
                    thinking=off)  # fmt: skip
    other = await ok(client, input="x", previous_response_id=t1["id"], caching=CACHING,
                     thinking={"type": "enabled"})  # fmt: skip
    absent = await ok(client, input="x", previous_response_id=t1["id"], caching=CACHING)
    assert cached(same) > 0
    assert cached(other) == 0 and cached(absent) == 0
    # a mismatched turn does not write either: its successor reads only the first turn
    after = await ok(client, input="y", previous_response_id=other["id"], caching=CACHING,
                     thinking={"type": "enabled"})  # fmt: skip
    assert cached(after) == cached(same)


async def test_reasoning_is_never_cached_nor_chained(client: httpx.AsyncClient, emu: Emulator):
    on = {"type": "enabled"}
    t1 = await ok(client, input=[SYSTEM, user("think")], caching=CACHING, thinking=on)
    reasoning, message = t1["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert message["type"] == "message"
    summary = reasoning["summary"][0]
    assert summary["type"] == "summary_text" and summary["text"]
    assert (
        t1["usage"]["output_tokens_details"]["reasoning_tokens"]
        == tokens({"content": summary["text"]}) - 3
    )
    assert t1["usage"]["output_tokens"] > t1["usage"]["output_tokens_details"]["reasoning_tokens"]
    t2 = await ok(client, input="next", previous_response_id=t1["id"], caching=CACHING,
                  thinking=on)  # fmt: skip
    assert cached(t2) == tokens(SYSTEM, user("think"), {"role": "assistant",
                                                         "content": text_of(t1)})  # fmt: skip
    seen = emu.response(t2["id"])["messages"]  # type: ignore[index]
    assert all(summary["text"] not in json.dumps(m) for m in seen)
    # GET leaves reasoning out
    got = (await client.get(f"/responses/{t1['id']}")).json()
    assert [o["type"] for o in got["output"]] == ["message"]


async def test_instructions_with_caching_fail_with_the_documented_message(
    client: httpx.AsyncClient,
):
    err = await error(client, input="x", instructions="Be brief.", caching=CACHING)
    assert err["code"] == "InvalidParameter" and err["param"] == "instructions"
    assert err["message"].startswith(INSTRUCTIONS_MESSAGE + " Request id: ")
    # once instructions were used, a later caching turn fails too
    plain = await ok(client, input="x", instructions="Be brief.")
    err = await error(client, input="y", previous_response_id=plain["id"], caching=CACHING)
    assert err["param"] == "instructions"


async def test_instructions_turn_reads_nothing_and_is_not_inherited(
    client: httpx.AsyncClient, emu: Emulator
):
    t1 = await ok(client, input=[SYSTEM, user("one")], caching=CACHING)
    t2 = await ok(client, input="two", previous_response_id=t1["id"], instructions="Rules.")
    assert cached(t2) == 0
    seen = emu.response(t2["id"])["messages"]  # type: ignore[index]
    assert seen[0] == {"role": "system", "content": "Rules."}
    t3 = await ok(client, input="three", previous_response_id=t2["id"])
    assert {"role": "system", "content": "Rules."} not in emu.response(t3["id"])["messages"]  # type: ignore[index]


async def test_tools_only_in_the_first_caching_turn_and_inherited(client: httpx.AsyncClient):
    t1 = await ok(client, input=[SYSTEM, user("weather?")], caching=CACHING, tools=[WEATHER])
    assert t1["tools"] == [WEATHER]
    err = await error(client, input="x", previous_response_id=t1["id"], caching=CACHING,
                      tools=[WEATHER])  # fmt: skip
    assert err["param"] == "tools" and "first turn" in err["message"]
    t2 = await ok(client, input="in Beijing", previous_response_id=t1["id"], caching=CACHING,
                  tool_choice={"type": "function", "name": "get_weather"})  # fmt: skip
    assert t2["tools"] == [WEATHER]
    assert t2["output"][0]["type"] == "function_call"


async def test_non_function_tools_are_refused_with_caching(client: httpx.AsyncClient):
    err = await error(client, input="x", caching=CACHING, tools=[{"type": "web_search"}])
    assert err["param"] == "tools"
    out = await ok(client, input="x", tools=[{"type": "web_search"}])
    assert out["status"] == "completed"


async def test_json_schema_only_before_a_caching_turn(client: httpx.AsyncClient):
    schema = {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}
    first = await ok(client, input=[SYSTEM, user("x")], caching=CACHING, text={"format": schema})
    err = await error(client, input="y", previous_response_id=first["id"],
                      text={"format": schema})  # fmt: skip
    assert err["param"] == "text.format" and "json_schema" in err["message"]
    obj = await ok(client, input="y", previous_response_id=first["id"],
                   text={"format": {"type": "json_object"}})  # fmt: skip
    assert isinstance(json.loads(text_of(obj)), dict)
    plain = await ok(client, input="x")
    assert (await post(client, input="y", previous_response_id=plain["id"],
                       text={"format": schema})).status_code == 200  # fmt: skip


async def test_structured_output_follows_the_schema(client: httpx.AsyncClient):
    jsonschema = pytest.importorskip("jsonschema")
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "kind": {"enum": ["a", "b"]},
            "ref": {"$ref": "#/$defs/inner"},
        },
        "required": ["name", "age", "tags", "kind", "ref"],
        "additionalProperties": False,
        "$defs": {"inner": {"type": "object", "properties": {"ok": {"type": "boolean"}},
                            "required": ["ok"]}},
    }  # fmt: skip
    out = await ok(client, input="describe",
                   text={"format": {"type": "json_schema", "name": "p", "schema": schema}})  # fmt: skip
    value = json.loads(text_of(out))
    jsonschema.validate(value, schema)
    assert out["text"] == {"format": {"type": "json_schema", "name": "p", "schema": schema}}


async def test_chat_shaped_json_schema_is_refused(client: httpx.AsyncClient):
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    err = await error(client, input="x", text={"format": fmt})
    assert "flat" in err["message"]


async def test_partial_and_effort_rules(client: httpx.AsyncClient):
    err = await error(client, input=[user("x"), {"role": "assistant", "content": "Once",
                                                 "partial": True}], caching=CACHING)  # fmt: skip
    assert err["param"] == "input"
    err = await error(client, input="x", thinking={"type": "disabled"},
                      reasoning={"effort": "high"})  # fmt: skip
    assert err["param"] == "reasoning.effort"
    assert (await post(client, input="x", thinking={"type": "disabled"},
                       reasoning={"effort": "minimal"})).status_code == 200  # fmt: skip


# ---------------------------------------------------------------- prefix caching


def long_system(n_tokens: int) -> dict[str, Any]:
    """A system message of exactly ``n_tokens`` tokens (3 of them overhead)."""
    return {"role": "system", "content": " ".join(["w"] * (n_tokens - 3))}


async def test_prefix_cache_needs_more_than_1024_tokens(client: httpx.AsyncClient):
    prefix = {"type": "enabled", "prefix": True}
    err = await error(client, input=[long_system(1024)], caching=prefix)
    assert err["param"] == "input" and "1025" in err["message"]
    out = await ok(client, input=[long_system(1025)], caching=prefix)
    assert out["output"] == []
    assert out["usage"]["input_tokens"] == 1025 and out["usage"]["output_tokens"] == 0
    assert out["usage"]["total_tokens"] == 1025
    assert out["caching"] == {"type": "enabled", "prefix": True}


async def test_prefix_cache_cannot_stream(client: httpx.AsyncClient):
    prefix = {"type": "enabled", "prefix": True}
    err = await error(client, input=[long_system(2000)], caching=prefix, stream=True)
    assert err["param"] == "stream"


async def test_prefix_id_is_fixed_and_reused(client: httpx.AsyncClient, emu: Emulator):
    off = {"type": "disabled"}
    p = await ok(client, input=[long_system(1100)], caching={"type": "enabled", "prefix": True},
                 thinking=off)  # fmt: skip
    for q in ("first", "second"):
        out = await ok(client, input=q, previous_response_id=p["id"], thinking=off)
        assert cached(out) == 1100
        assert emu.response(out["id"])["messages"][-1] == user(q)  # type: ignore[index]
    mismatch = await ok(client, input="x", previous_response_id=p["id"])
    assert cached(mismatch) == 0
    session = await ok(client, input="s1", previous_response_id=p["id"], thinking=off,
                       caching=CACHING)  # fmt: skip
    on_top = await ok(client, input="s2", previous_response_id=session["id"], thinking=off)
    assert cached(on_top) > 1100


# ---------------------------------------------------------------- limits


async def test_chain_item_limit(client: httpx.AsyncClient, emu: Emulator):
    assert Emulator().max_chain_items == 1000
    emu.max_chain_items = 5
    t1 = await ok(client, input=[SYSTEM, user("a")])  # 3 items with the reply
    t2 = await ok(client, input="b", previous_response_id=t1["id"])  # 5 items
    err = await error(client, input="c", previous_response_id=t2["id"])
    assert err["param"] == "previous_response_id" and "5" in err["message"]


async def test_cache_over_the_window_fails_instead_of_truncating(client: httpx.AsyncClient,
                                                                  emu: Emulator):  # fmt: skip
    emu.response_window = 1000
    big = long_system(600)
    err = await error(client, input=[big], caching=CACHING, max_output_tokens=500)
    assert err["code"] == "OutofContextError" and "never" in err["message"]
    assert (await post(client, input=[big], max_output_tokens=500)).status_code == 200
    err = await error(client, input=[long_system(1001)])
    assert err["code"] == "OutofContextError"


async def test_max_output_tokens_covers_reasoning_and_marks_incomplete(
    client: httpx.AsyncClient, emu: Emulator
):
    out = await ok(client, input="tell me a long story", thinking={"type": "enabled"},
                   max_output_tokens=8)  # fmt: skip
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": "length"}
    assert out["usage"]["output_tokens"] <= 8
    # an incomplete response is stored and chainable
    assert (await client.get(f"/responses/{out['id']}")).status_code == 200


# ---------------------------------------------------------------- expire_at


async def test_expire_at_default_and_limits(client: httpx.AsyncClient):
    now = int(T0)
    assert (await ok(client, input="x"))["expire_at"] == now + 259200
    assert (await ok(client, input="x", expire_at=now + 604800))["expire_at"] == now + 604800
    err = await error(client, input="x", expire_at=now + 604801)
    assert err["param"] == "expire_at"
    err = await error(client, input="x", expire_at=now)
    assert err["param"] == "expire_at"
    assert (await ok(client, input="x", caching=CACHING,
                     expire_at=now + 259200))["expire_at"] == now + 259200  # fmt: skip
    err = await error(client, input="x", caching=CACHING, expire_at=now + 259201)
    assert err["param"] == "expire_at" and "caching" in err["message"]


async def test_expire_settings_are_configurable():
    emu = Emulator(clock=FakeClock(), expire_default=3600, caching_expire_max=7200)
    async with asgi_client(emu) as c:
        out = (await c.post("/responses", json={"model": MODEL, "input": "x"})).json()
        assert out["expire_at"] == int(T0) + 3600
        r = await c.post("/responses", json={"model": MODEL, "input": "x", "caching": CACHING,
                                              "expire_at": int(T0) + 7201})  # fmt: skip
        assert r.status_code == 400


async def test_expire_at_is_a_fixed_deadline(client: httpx.AsyncClient, emu: Emulator):
    t1 = await ok(client, input="x", expire_at=int(T0) + 7200)
    emu.advance_clock(7000)
    t2 = await ok(client, input="y", previous_response_id=t1["id"])  # use does not extend it
    emu.advance_clock(200)
    assert (await client.get(f"/responses/{t1['id']}")).status_code == 404
    err = await error(client, 404, input="z", previous_response_id=t1["id"])
    assert err["code"] == "NotFound.Response"
    # its child is stored on its own deadline, but cannot continue a chain whose start expired
    assert (await client.get(f"/responses/{t2['id']}")).status_code == 200
    err = await error(client, 404, input="z", previous_response_id=t2["id"])
    assert t1["id"] in err["message"]


# ---------------------------------------------------------------- delete


async def test_delete_then_gone(client: httpx.AsyncClient):
    out = await ok(client, input="x")
    r = await client.delete(f"/responses/{out['id']}")
    assert r.status_code == 200
    assert r.json() == {"id": out["id"], "object": "response", "deleted": True}
    assert (await client.get(f"/responses/{out['id']}")).status_code == 404
    assert (await client.delete(f"/responses/{out['id']}")).status_code == 404
    err = await error(client, 404, input="y", previous_response_id=out["id"])
    assert err["code"] == "NotFound.Response"


async def test_deleting_a_middle_turn_drops_it_and_recomputes_the_rest(
    client: httpx.AsyncClient, emu: Emulator
):
    turns = [await ok(client, input=[SYSTEM, user("t1")], caching=CACHING)]
    for i in range(2, 6):
        turns.append(await ok(client, input=f"t{i}", previous_response_id=turns[-1]["id"],
                              caching=CACHING))  # fmt: skip
    await client.delete(f"/responses/{turns[2]['id']}")  # turn 3
    t6 = await ok(client, input="t6", previous_response_id=turns[4]["id"], caching=CACHING)
    seen = emu.response(t6["id"])["messages"]  # type: ignore[index]
    assert user("t3") not in seen and user("t4") in seen and user("t5") in seen
    two_turns = tokens(SYSTEM, user("t1"), {"role": "assistant", "content": text_of(turns[0])},
                       user("t2"), {"role": "assistant", "content": text_of(turns[1])})  # fmt: skip
    assert cached(t6) == two_turns
    t7 = await ok(client, input="t7", previous_response_id=t6["id"], caching=CACHING)
    assert cached(t7) == tokens(*seen, {"role": "assistant", "content": text_of(t6)})


async def test_first_turn_deleted_takes_the_tools_with_it(client: httpx.AsyncClient):
    t1 = await ok(client, input=[SYSTEM, user("a")], caching=CACHING, tools=[WEATHER])
    t2 = await ok(client, input="b", previous_response_id=t1["id"], caching=CACHING)
    await client.delete(f"/responses/{t1['id']}")
    t3 = await ok(client, input="c", previous_response_id=t2["id"], caching=CACHING)
    assert t3["tools"] is None
    err = await error(client, input="d", previous_response_id=t3["id"], caching=CACHING,
                      tools=[WEATHER])  # fmt: skip
    assert err["param"] == "tools"


# ---------------------------------------------------------------- function calling


async def test_scripted_function_call_round_trip(emu: Emulator, client: httpx.AsyncClient):
    def responder(messages: Any, params: Any) -> Any:
        if messages[-1].get("type") == "function_call_output":
            return "It is " + json.loads(messages[-1]["output"])["sky"]
        return FunctionCall("get_weather", {"location": "北京", "days": 1})

    emu.responder = responder
    t1 = await ok(client, input=[user("weather in Beijing?")], tools=[WEATHER])
    (call,) = t1["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert call["call_id"].startswith("call_") and call["id"].startswith("fc_")
    assert json.loads(call["arguments"]) == {"location": "北京", "days": 1}
    output = {"type": "function_call_output", "call_id": call["call_id"],
              "output": json.dumps({"sky": "sunny"})}  # fmt: skip
    t2 = await ok(client, input=[output], previous_response_id=t1["id"], tools=[WEATHER])
    assert text_of(t2) == "It is sunny"
    seen = emu.response(t2["id"])["messages"]  # type: ignore[index]
    assert seen[1] == {"type": "function_call", "call_id": call["call_id"],
                       "name": "get_weather", "arguments": call["arguments"]}  # fmt: skip
    assert seen[2] == output


async def test_function_output_needs_its_call(client: httpx.AsyncClient):
    err = await error(client, input=[{"type": "function_call_output", "call_id": "call_x",
                                      "output": "{}"}])  # fmt: skip
    assert err["param"] == "input" and "call_x" in err["message"]


async def test_tool_choice_naming_a_function_calls_it(client: httpx.AsyncClient):
    jsonschema = pytest.importorskip("jsonschema")
    out = await ok(client, input="weather?", tools=[WEATHER],
                   tool_choice={"type": "function", "name": "get_weather"})  # fmt: skip
    (call,) = out["output"]
    jsonschema.validate(json.loads(call["arguments"]), WEATHER["parameters"])
    err = await error(client, input="x", tools=[WEATHER],
                      tool_choice={"type": "function", "name": "nope"})  # fmt: skip
    assert err["param"] == "tool_choice"
    auto = await ok(client, input="x", tools=[WEATHER], tool_choice="auto")
    assert auto["output"][0]["type"] == "message"


async def test_responder_calling_an_undeclared_function_is_a_500(emu: Emulator,
                                                                 client: httpx.AsyncClient):  # fmt: skip
    emu.responder = lambda m, p: FunctionCall("launch", {})
    r = await post(client, input="x", tools=[WEATHER])
    assert r.status_code == 500
    assert emu.responses() == []


async def test_chat_shaped_tool_is_refused(client: httpx.AsyncClient):
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    err = await error(client, input="x", tools=[tool])
    assert "flat" in err["message"]


# ---------------------------------------------------------------- streaming


def events_of(r: httpx.Response) -> tuple[list[dict[str, Any]], bool]:
    events, done = [], False
    for block in r.text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: ")
        data = block[len("data: ") :]
        if data == "[DONE]":
            done = True
            continue
        events.append(json.loads(data))
    return events, done


async def test_stream_event_sequence(client: httpx.AsyncClient, emu: Emulator):
    r = await post(client, input=[SYSTEM, user("stream please")], stream=True,
                   thinking={"type": "enabled"})  # fmt: skip
    assert r.headers["content-type"].startswith("text/event-stream")
    events, done = events_of(r)
    assert done
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:5] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.reasoning_summary_part.added",
                         "response.reasoning_summary_text.delta"]  # fmt: skip
    assert kinds[-1] == "response.completed"
    i_msg = kinds.index("response.content_part.added")
    assert kinds[i_msg - 1] == "response.output_item.added"
    assert kinds.index("response.reasoning_summary_part.done") < i_msg
    tail = ["response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.completed"]  # fmt: skip
    assert kinds[-4:] == tail
    assert all("usage" not in e.get("response", {}) or e["response"]["usage"] is None
               for e in events[:-1])  # fmt: skip
    final = events[-1]["response"]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == text_of(final) == emu.response_records()[-1]["reply"]
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
    assert events[0]["response"]["id"] == final["id"] and events[0]["response"]["status"] == (
        "in_progress"
    )


async def test_stream_function_call_arguments(emu: Emulator, client: httpx.AsyncClient):
    emu.responder = lambda m, p: FunctionCall("get_weather", {"location": "x", "days": 2})
    r = await post(client, input="w?", tools=[WEATHER], stream=True)
    events, _ = events_of(r)
    args = "".join(e["delta"] for e in events
                   if e["type"] == "response.function_call_arguments.delta")  # fmt: skip
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert json.loads(args) == {"location": "x", "days": 2} and done["arguments"] == args


# ---------------------------------------------------------------- faults


async def test_status_faults_on_create(client: httpx.AsyncClient, emu: Emulator):
    emu.inject_fault("/responses", "status", status=429)
    r = await post(client, input="x")
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert emu.responses() == []  # not processed
    emu.inject_fault("/responses", "status", status=500, apply=True)
    r = await post(client, input="x")
    assert r.status_code == 500
    (stored,) = emu.responses()  # processed, then failed: an id the client never saw
    rec = emu.response_records()[-1]
    assert rec["applied"] and rec["response_id"] == stored["id"] and rec["status"] == 500


async def test_drop_fault_applies_by_default(client: httpx.AsyncClient, emu: Emulator):
    emu.inject_fault("/responses", "drop")
    with pytest.raises(ConnectionResetError):
        await post(client, input="x")
    assert len(emu.responses()) == 1
    assert emu.response_records()[-1]["status"] is None


async def test_cut_stream_and_mid_stream_error(client: httpx.AsyncClient, emu: Emulator):
    emu.inject_fault("/responses", "cut_stream", after_chunks=3)
    with pytest.raises(ConnectionResetError):
        await post(client, input="x", stream=True)
    assert len(emu.responses()) == 1  # stored before the first event
    emu.inject_fault("/responses", "stream_error", status=500, after_chunks=4)
    r = await post(client, input="y", stream=True)
    events, done = events_of(r)
    assert len(events) == 5 and events[-1]["type"] == "error"
    assert events[-1]["sequence_number"] == 4
    assert events[-1]["code"] == "InternalServiceError" and done
    assert not any(e["type"] == "response.completed" for e in events)
    failed_id = events[0]["response"]["id"]
    assert (await client.get(f"/responses/{failed_id}")).status_code == 404
    assert len(emu.responses()) == 1


async def test_latency_fault_uses_the_injected_sleep():
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    emu = Emulator(clock=FakeClock(), sleep=sleep, latency=0.5)
    emu.inject_fault("/responses", "latency", seconds=2.0)
    async with asgi_client(emu) as c:
        assert (await c.post("/responses", json={"model": MODEL, "input": "x"})).status_code == 200
    assert slept == [2.5]


async def test_faults_on_retrieve(client: httpx.AsyncClient, emu: Emulator):
    out = await ok(client, input="x")
    emu.inject_fault("/responses/{id}", "status", status=503)
    assert (await client.get(f"/responses/{out['id']}")).status_code == 503
    assert (await client.get(f"/responses/{out['id']}")).status_code == 200


# ---------------------------------------------------------------- input items, auth


async def test_input_items_cover_the_chain_with_paging(client: httpx.AsyncClient):
    t1 = await ok(client, input=[SYSTEM, user("one")])
    t2 = await ok(client, input=[user("two"), user("three")], previous_response_id=t1["id"])
    r = await client.get(f"/responses/{t2['id']}/input_items")
    body = r.json()
    assert body["object"] == "list" and body["has_more"] is False
    roles = [(i["role"], i["content"][0]["text"]) for i in body["data"]]
    assert roles == [("user", "three"), ("user", "two"), ("assistant", text_of(t1)),
                     ("user", "one"), ("system", SYSTEM["content"])]  # fmt: skip
    assert body["data"][2]["content"][0]["type"] == "output_text"
    assert body["first_id"] == body["data"][0]["id"] and body["last_id"] == body["data"][-1]["id"]
    ids: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"order": "asc", "limit": 2}
        if after:
            params["after"] = after
        page = (await client.get(f"/responses/{t2['id']}/input_items", params=params)).json()
        ids += [i["id"] for i in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert ids == [i["id"] for i in reversed(body["data"])]
    before = (await client.get(f"/responses/{t2['id']}/input_items",
                               params={"order": "asc", "before": ids[3], "limit": 2})).json()  # fmt: skip
    assert [i["id"] for i in before["data"]] == ids[1:3]
    bad = await client.get(f"/responses/{t2['id']}/input_items", params={"limit": 101})
    assert bad.status_code == 400


async def test_input_images_are_bare_unless_included(client: httpx.AsyncClient):
    image = {"type": "input_image", "image_url": "https://example.com/a.png"}
    out = await ok(client, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is this"}, image]}])  # fmt: skip
    url = f"/responses/{out['id']}/input_items"
    bare = (await client.get(url)).json()["data"][0]["content"]
    assert bare[1] == {"type": "input_image"}
    full = (await client.get(url, params={"include[]": "message.input_image.image_url"})).json()
    assert full["data"][0]["content"][1] == image


async def test_auth_is_required(emu: Emulator):
    async with asgi_client(emu, headers=None) as c:
        r = await c.post("/responses", json={"model": MODEL, "input": "x"})
        assert r.status_code == 401
        assert (await c.get("/responses/resp_x")).status_code == 401


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "model": None}, "model"),
        ({}, "input"),
        ({"input": []}, "input"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "thinking": {"type": "sometimes"}}, "thinking.type"),
        ({"input": "x", "caching": {"type": "maybe"}}, "caching.type"),
        ({"input": "x", "caching": {"type": "disabled", "prefix": True}}, "caching.prefix"),
        ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"input": "x", "previous_response_id": 7}, "previous_response_id"),
    ],
)
async def test_bad_requests_name_the_field(client: httpx.AsyncClient, body: dict[str, Any],
                                           param: str):  # fmt: skip
    err = await error(client, **body)
    assert err["param"] == param


# ---------------------------------------------------------------- inspection


async def test_storage_in_token_hours(client: httpx.AsyncClient, emu: Emulator):
    out = await ok(client, input=[SYSTEM, user("x")], caching=CACHING, expire_at=int(T0) + 7200)
    snap = emu.response(out["id"])
    assert snap is not None and snap["wrote_cache"]
    held = snap["cache_tokens"]
    assert held == out["usage"]["input_tokens"] + tokens({"content": text_of(out)})
    assert snap["token_hours"] == 2 * held
    plain = await ok(client, input="not cached")
    assert emu.response(plain["id"])["token_hours"] == 0  # type: ignore[index]
    assert emu.storage() == {"responses": 2, "cached_tokens": held, "token_hours": 2 * held}
    emu.advance_clock(1800)
    await client.delete(f"/responses/{out['id']}")  # billed for the started hour only
    assert emu.storage()["token_hours"] == held and emu.storage()["cached_tokens"] == 0


async def test_every_request_is_recorded(client: httpx.AsyncClient, emu: Emulator):
    out = await ok(client, input="x")
    await client.get(f"/responses/{out['id']}")
    await client.get(f"/responses/{out['id']}/input_items")
    await client.delete(f"/responses/{out['id']}")
    await post(client, input="y", previous_response_id=out["id"])
    paths = [(r["path"], r["status"]) for r in emu.records()]
    assert paths == [("/responses", 200), ("/responses/{id}", 200),
                     ("/responses/{id}/input_items", 200), ("/responses/{id}", 200),
                     ("/responses", 404)]  # fmt: skip
    assert emu.records("/responses/{id}")[1]["applied"] is True  # the delete


async def test_admin_endpoints(client: httpx.AsyncClient, emu: Emulator):
    out = await ok(client, input="x", caching=CACHING)
    async with asgi_client(emu, base_url="http://emu") as admin:
        listed = (await admin.get("/_emulator/responses")).json()["responses"]
        assert [r["id"] for r in listed] == [out["id"]]
        one = (await admin.get(f"/_emulator/responses/{out['id']}")).json()
        assert one["messages"] == [user("x")]
        assert (await admin.get("/_emulator/responses/resp_nope")).status_code == 404
        storage = (await admin.get("/_emulator/storage")).json()
        assert storage["cached_tokens"] == one["cache_tokens"] > 0
        assert (await admin.delete("/_emulator/responses")).json() == {"forgotten": 1}
        assert (await admin.post("/_emulator/reset")).json() == {"reset": True}
    assert emu.responses() == [] and emu.records() == []


async def test_responses_and_contexts_share_one_record_log(client: httpx.AsyncClient,
                                                           emu: Emulator):  # fmt: skip
    await client.post("/chat/completions", json={"model": "ep-x", "messages": [user("a")]})
    await ok(client, input="b")
    chat, resp = emu.records()
    assert chat["messages"] == [user("a")] and resp["messages"] == [user("b")]
    assert set(chat) == set(resp)


async def test_a_response_is_in_progress_while_it_streams():
    seen: list[tuple[bool, int]] = []
    emu: Emulator

    async def sleep(_: float) -> None:
        (snap,) = emu.responses()
        try:
            emu.retrieve_response(snap["id"])
            seen.append((snap["in_progress"], 200))
        except Exception as e:  # the emulator's ApiError
            seen.append((snap["in_progress"], getattr(e, "status", 0)))

    emu = Emulator(clock=FakeClock(), sleep=sleep, chunk_delay=0.01)
    async with asgi_client(emu) as c:
        r = await c.post("/responses", json={"model": MODEL, "input": "x", "stream": True})
        assert r.status_code == 200
        events, _ = events_of(r)
        assert seen and all(s == (True, 403) for s in seen)
        got = await c.get(f"/responses/{events[0]['response']['id']}")
        assert got.status_code == 200  # idle again once the stream ended


async def test_chain_gap_setting_refuses_chaining_too_soon():
    clock = FakeClock()
    emu = Emulator(clock=clock, chain_gap=0.1)
    async with asgi_client(emu) as c:
        first = (await c.post("/responses", json={"model": MODEL, "input": "x"})).json()
        body = {"model": MODEL, "input": "y", "previous_response_id": first["id"]}
        clock.t += 0.05
        r = await c.post("/responses", json=body)
        assert r.status_code == 400 and "100 ms" in r.json()["error"]["message"]
        clock.t += 0.06
        assert (await c.post("/responses", json=body)).status_code == 200
    assert Emulator().chain_gap == 0.0
