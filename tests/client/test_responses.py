"""client.responses (create, retrieve, delete, input items) against respx: bodies, parsing,
the retry rules of POST /responses, errors, and every local caching rule."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import respx

from ark_context import (
    ArkCachingRuleError,
    ArkContextClient,
    ArkInputError,
    AsyncArkContextClient,
    check_prefix_tokens,
)
from ark_context._exceptions import (
    ArkAPIError,
    ArkBadRequestError,
    ArkConfigError,
    ArkConnectionError,
    ArkContextGoneError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkResponseGoneError,
    ArkServerError,
    ArkTimeoutError,
    ArkUnsupportedError,
    ArkUnsupportedFieldError,
)
from ark_context._responses_models import CachingParam, FunctionCall, Reasoning, UnknownItem
from ark_context.policy import UNSUPPORTED_FIELDS, check_request_fields
from tests.client.fakes import AsyncFakeSleep, FakeSleep

BASE = "http://ark.test/api/v3"
KEY = "sk-responses-SECRET-4242"
MODEL = "doubao-seed-1-6-251015"
CACHE: CachingParam = {"type": "enabled"}


def mocked() -> respx.MockRouter:
    """A respx router for BASE; tests check ``route.called`` themselves."""
    return respx.mock(base_url=BASE, assert_all_called=False)


def client(sleep: FakeSleep | None = None, **kw: Any) -> ArkContextClient:
    return ArkContextClient(api_key=KEY, base_url=BASE, sleep=sleep or FakeSleep(), **kw)


def response_body(rid: str = "resp_1", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": 1760168211.0,
        "model": MODEL,
        "status": "completed",
        "output": [
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "hm"}],
            },
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello", "annotations": None}],
            },
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Beijing"}',
            },
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        ],
        "usage": {
            "input_tokens": 116,
            "input_tokens_details": {"cached_tokens": 104},
            "output_tokens": 232,
            "output_tokens_details": {"reasoning_tokens": 211},
            "total_tokens": 348,
        },
        "caching": CACHE,
        "store": True,
        "expire_at": 1760427411,
    }
    body.update(over)
    return body


def err(status: int, code: str, message: str = "x", **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message}}, headers=headers
    )


# -- bodies and parsing ------------------------------------------------------------------


@respx.mock(base_url=BASE)
def test_create_sends_only_set_fields_and_parses(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("/responses").respond(200, json=response_body())
    r = client().responses.create(
        model=MODEL,
        input="hi",
        caching={"type": "enabled"},
        temperature=None,
        instructions=None,
        thinking={"type": "enabled"},
        request_id="rq-1",
    )
    req = route.calls.last.request
    assert json.loads(req.content) == {
        "model": MODEL,
        "input": "hi",
        "caching": {"type": "enabled"},
        "thinking": {"type": "enabled"},
    }
    assert b"null" not in req.content
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["x-client-request-id"] == "rq-1"
    assert r.id == "resp_1" and r.created_at == 1760168211.0
    assert r.output_text == "Hello" and r.reasoning_text == "hm"
    assert [type(i) for i in r.output] == [Reasoning, type(r.output[1]), FunctionCall, UnknownItem]
    assert r.output[3].type == "web_search_call"  # unknown item kept, with its fields
    assert r.function_calls[0].name == "get_weather"
    assert r.usage is not None
    assert (r.usage.cached_tokens, r.usage.reasoning_tokens) == (104, 211)
    assert r.usage.uncached_input_tokens == 12
    assert r.request_bytes == len(req.content)


@respx.mock(base_url=BASE)
def test_minimal_answer_parses_with_absent_fields(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/responses").respond(200, json={"id": "resp_9", "created_at": 5})
    r = client().responses.create(model=MODEL, input=[{"role": "user", "content": "q"}])
    assert (r.id, r.output, r.usage, r.output_text) == ("resp_9", [], None, "")


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"thinking": {"type": None}}, "thinking.type"),
        ({"input": [{"role": "user", "content": None}]}, r"input\[0\].content"),
        ({"tools": [{"type": "function", "name": "f", "description": None}]}, "description"),
        ({"extra_body": {"service_tier": {"x": None}}}, "service_tier.x"),
    ],
)
def test_nested_null_is_rejected_before_the_network(fields: dict[str, Any], path: str) -> None:
    with mocked() as mock:
        route = mock.post("/responses").respond(200, json=response_body())
        args: dict[str, Any] = {"model": MODEL, "input": "q", **fields}
        with pytest.raises(ArkInputError, match=rf"{path} is None.*null"):
            client().responses.create(**args)
        assert not route.called


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"model": ""}, "model"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"caching": {"type": "on"}}, "caching.type"),
        ({"thinking": {"type": "maybe"}}, "thinking.type"),
        ({"reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"expire_at": "tomorrow"}, "expire_at"),
        ({"extra_body": {"model": "other"}}, "extra_body"),
        ({"request_id": "a\nb"}, "request_id"),
    ],
)
def test_bad_fields_fail_before_the_network(fields: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"model": MODEL, "input": "q", **fields}
    with mocked() as mock:
        route = mock.post("/responses").respond(200, json=response_body())
        with pytest.raises(ArkInputError, match=match):
            client().responses.create(**args)
        assert not route.called


# -- the caching rules -------------------------------------------------------------------

FN_TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
SCHEMA = {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}}
RULES = [
    ("instructions-with-caching", {"instructions": "Be brief."}, False, "role': 'system'"),
    ("store-false-with-caching", {"store": False}, False, "store"),
    (
        "non-function-tools-with-caching",
        {"tools": [{"type": "web_search"}]},
        False,
        "only function tools",
    ),
    (
        "tools-on-later-caching-turn",
        {"tools": [FN_TOOL], "previous_response_id": "resp_0"},
        False,
        "first turn",
    ),
    (
        "json-schema-in-caching-chain",
        {"text": SCHEMA, "previous_response_id": "resp_0"},
        False,
        "json_object",
    ),
    ("prefix-streamed", {"caching": {"type": "enabled", "prefix": True}}, True, "create()"),
    (
        "prefix-with-previous-response",
        {"caching": {"type": "enabled", "prefix": True}, "previous_response_id": "resp_0"},
        False,
        "previous_response_id",
    ),
    (
        "prefix-without-caching",
        {"caching": {"type": "disabled", "prefix": True}},
        False,
        "enabled",
    ),
    (
        "partial-with-caching",
        {
            "input": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "A", "partial": True},
            ]
        },
        False,
        r"input\[1\]",
    ),
    (
        "effort-with-thinking-disabled",
        {"caching": None, "thinking": {"type": "disabled"}, "reasoning": {"effort": "high"}},
        False,
        "minimal",
    ),
    ("expire-at-range", {"expire_at": int(time.time()) + 259200 + 3600}, False, "3 days"),
    ("expire-at-range", {"expire_at": int(time.time()) - 10}, False, "after now"),
    (
        "expire-at-range",
        {"caching": None, "expire_at": int(time.time()) + 604800 + 3600},
        False,
        "7 days",
    ),
    ("chain-too-long", {"input": [{"role": "user", "content": "q"}] * 1001}, False, "1000"),
]


@pytest.mark.parametrize(("rule", "fields", "stream", "hint"), RULES)
def test_each_caching_rule_fails_before_the_network(
    rule: str, fields: dict[str, Any], stream: bool, hint: str
) -> None:
    args: dict[str, Any] = {"model": MODEL, "input": "q", "caching": CACHE, **fields}
    with mocked() as mock:
        route = mock.post("/responses").respond(200, json=response_body())
        api = client().responses
        with pytest.raises(ArkCachingRuleError, match=hint) as info:
            if stream:
                api.stream(**args)
            else:
                api.create(**args)
        assert not route.called
    assert info.value.rule == rule
    assert rule in str(info.value)  # the message names the rule
    assert isinstance(info.value, ArkInputError) and info.value.sent is False


@pytest.mark.parametrize(
    "fields",
    [
        {"instructions": "Be brief.", "caching": {"type": "disabled"}},  # no caching: fine
        {"tools": [FN_TOOL]},  # function tools in the first caching turn
        {"tools": [FN_TOOL], "previous_response_id": "resp_0", "caching": None},
        {"text": {"format": {"type": "json_object"}}, "previous_response_id": "resp_0"},
        {"text": SCHEMA},  # json_schema in a first turn
        {"caching": {"type": "enabled", "prefix": True}, "thinking": {"type": "disabled"}},
        {"thinking": {"type": "disabled"}, "reasoning": {"effort": "minimal"}},
        {"expire_at": int(time.time()) + 259200 - 60},
        {"caching": None, "expire_at": int(time.time()) + 604800 - 60},
        {"input": [{"role": "assistant", "content": "A", "partial": True}], "caching": None},
    ],
)
def test_allowed_combinations_are_sent(fields: dict[str, Any]) -> None:
    args: dict[str, Any] = {"model": MODEL, "input": "q", "caching": CACHE, **fields}
    with mocked() as mock:
        route = mock.post("/responses").respond(200, json=response_body())
        client().responses.create(**args)
        assert route.call_count == 1


def test_errors_survive_pickling_with_rule_and_response_id() -> None:
    import pickle

    rule = pickle.loads(pickle.dumps(ArkCachingRuleError("store-false-with-caching", "m")))
    assert (type(rule), rule.rule, rule.message) == (
        ArkCachingRuleError,
        "store-false-with-caching",
        "m",
    )
    api = ArkRateLimitError("busy", status_code=429, code="ServerOverloaded")
    api.response_id = "resp_7"
    back = pickle.loads(pickle.dumps(api))
    assert (type(back), back.response_id, back.sent) == (ArkRateLimitError, "resp_7", True)


def test_prefix_token_check() -> None:
    check_prefix_tokens(1025)
    for bad in (1024, 0, True, 2000.0):
        with pytest.raises(ArkCachingRuleError, match="1025") as info:
            check_prefix_tokens(bad)  # type: ignore[arg-type]
        assert info.value.rule == "prefix-too-short"


# -- retries of POST /responses ----------------------------------------------------------


def _sequence(first: Any) -> list[Any]:
    return [first, httpx.Response(200, json=response_body())]


@pytest.mark.parametrize(
    ("first", "delay"),
    [
        (httpx.ConnectError("refused"), None),  # never left: safe
        (httpx.ConnectTimeout("connect"), None),
        (err(429, "RateLimitExceeded.EndpointRPMExceeded", **{"retry-after": "3"}), 3.0),
        (err(403, "OperationDenied.InvalidState"), None),
    ],
    ids=["connect-error", "connect-timeout", "429", "invalid-state"],
)
def test_create_retries_only_refused_requests(first: Any, delay: float | None) -> None:
    sleep = FakeSleep()
    with mocked() as mock:
        route = mock.post("/responses").mock(side_effect=_sequence(first))
        r = client(sleep).responses.create(model=MODEL, input="q", caching=CACHE)
        assert route.call_count == 2
    assert r.id == "resp_1" and len(sleep.delays) == 1
    if delay is not None:
        assert sleep.delays == [delay]


@pytest.mark.parametrize(
    ("first", "exc"),
    [
        (httpx.ReadTimeout("read"), ArkTimeoutError),
        (httpx.RemoteProtocolError("dropped"), ArkConnectionError),
        (httpx.WriteError("broken pipe"), ArkConnectionError),
        (err(500, "InternalServiceError"), ArkServerError),
        (err(503, "ServiceUnavailable"), ArkServerError),
        (err(400, "InvalidParameter"), ArkBadRequestError),
    ],
    ids=["read-timeout", "dropped", "write-error", "500", "503", "400"],
)
def test_create_never_retries_what_may_have_arrived(first: Any, exc: type[Exception]) -> None:
    sleep = FakeSleep()
    with mocked() as mock:
        route = mock.post("/responses").mock(side_effect=_sequence(first))
        with pytest.raises(exc) as info:
            client(sleep).responses.create(model=MODEL, input="q", caching=CACHE)
        assert route.call_count == 1
    assert info.value.sent is True  # type: ignore[attr-defined]
    assert sleep.delays == []


def test_create_gives_up_after_max_retries_on_429() -> None:
    sleep = FakeSleep()
    with mocked() as mock:
        route = mock.post("/responses").mock(return_value=err(429, "ServerOverloaded"))
        with pytest.raises(ArkRateLimitError):
            client(sleep, max_retries=2).responses.create(model=MODEL, input="q")
        assert route.call_count == 3


def test_failed_response_raises_with_its_id_and_is_not_retried() -> None:
    failed = response_body(
        "resp_f", status="failed", error={"code": "ServerOverloaded", "message": "busy"}
    )
    sleep = FakeSleep()
    with mocked() as mock:
        route = mock.post("/responses").respond(200, json=failed)
        with pytest.raises(ArkRateLimitError, match="busy") as info:
            client(sleep).responses.create(model=MODEL, input="q")
        assert route.call_count == 1  # the response exists: never resent
    assert info.value.response_id == "resp_f" and info.value.sent


def test_incomplete_response_is_returned() -> None:
    body = response_body(status="incomplete", incomplete_details={"reason": "length"})
    with mocked() as mock:
        mock.post("/responses").respond(200, json=body)
        r = client().responses.create(model=MODEL, input="q")
    assert r.status == "incomplete" and r.incomplete_details == {"reason": "length"}


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "exc", "match"),
    [
        (httpx.Response(200, html="<html>gateway</html>"), ArkProtocolError, "text/html"),
        (
            httpx.Response(
                200, content=b'{"id": "resp_1", "outp', headers={"content-type": "application/json"}
            ),
            ArkProtocolError,
            "malformed JSON",
        ),
        (httpx.Response(200, json={"object": "list"}), ArkProtocolError, "unexpected shape"),
        (
            httpx.Response(200, json={"error": {"code": "InvalidParameter", "message": "no"}}),
            ArkBadRequestError,
            "no",
        ),
        (httpx.Response(502, html="<html>bad gateway</html>"), ArkServerError, "non-Ark body"),
    ],
    ids=["html", "truncated-json", "other-json", "error-in-200", "html-502"],
)
def test_answers_that_are_not_the_protocol(answer: httpx.Response, exc: type, match: str) -> None:
    with mocked() as mock:
        mock.post("/responses").mock(return_value=answer)
        with pytest.raises(exc, match=match):
            client(max_retries=0).responses.create(model=MODEL, input="q")


@pytest.mark.parametrize(
    ("answer", "gone"),
    [
        (err(404, "NotFound.Response", "no such response"), True),
        (err(400, "InvalidParameter", "previous_response_id resp_old is not valid"), True),
        (err(400, "InvalidParameter", "the response has expired"), True),
        (
            err(
                400,
                "InvalidParameter",
                "The parameter `instructions` specified in the request are not valid: "
                "caching is not supported for instructions.",
            ),
            False,
        ),
    ],
)
def test_chain_gone_errors(answer: httpx.Response, gone: bool) -> None:
    with mocked() as mock:
        mock.post("/responses").mock(return_value=answer)
        with pytest.raises(ArkAPIError) as info:
            client().responses.create(model=MODEL, input="q", previous_response_id="resp_old")
    assert isinstance(info.value, ArkResponseGoneError) is gone
    assert isinstance(info.value, ArkContextGoneError) is gone  # one "state gone" for routers


def test_404_without_a_chain_is_not_gone() -> None:
    with mocked() as mock:
        mock.post("/responses").mock(
            return_value=err(404, "InvalidEndpointOrModel.NotFound", "model")
        )
        with pytest.raises(ArkAPIError) as info:
            client().responses.create(model=MODEL, input="q")
    assert not isinstance(info.value, ArkResponseGoneError)


# -- retrieve, delete, input items -------------------------------------------------------


def test_retrieve_is_idempotent_and_retried() -> None:
    sleep = FakeSleep()
    with mocked() as mock:
        route = mock.get("/responses/resp_1").mock(
            side_effect=[
                httpx.ReadTimeout("slow"),
                err(500, "InternalServiceError"),
                httpx.Response(200, json=response_body()),
            ]
        )
        r = client(sleep).responses.retrieve("resp_1")
        assert route.call_count == 3
    assert r.id == "resp_1" and len(sleep.delays) == 2


def test_ids_are_escaped_in_paths() -> None:
    with mocked() as mock:
        route = mock.get("/responses/a%2Fb").respond(200, json=response_body("a/b"))
        assert client().responses.retrieve("a/b").id == "a/b"
        assert route.called
    with pytest.raises(ArkInputError, match="response_id"):
        client().responses.retrieve("")


@pytest.mark.parametrize(
    ("answer", "deleted", "gone"),
    [
        (
            httpx.Response(200, json={"id": "resp_1", "object": "response", "deleted": True}),
            True,
            False,
        ),
        (
            httpx.Response(200, json={"id": "resp_1", "object": "response", "deleted": False}),
            False,
            False,
        ),
        (err(404, "NotFound", "response not found"), True, True),
    ],
)
def test_delete(answer: httpx.Response, deleted: bool, gone: bool) -> None:
    with mocked() as mock:
        route = mock.delete("/responses/resp_1").mock(return_value=answer)
        d = client().responses.delete("resp_1")
        assert route.call_count == 1
    assert (d.id, d.deleted, d.already_gone) == ("resp_1", deleted, gone)


def test_delete_retries_server_errors() -> None:
    sleep = FakeSleep()
    ok = httpx.Response(200, json={"id": "resp_1", "deleted": True})
    with mocked() as mock:
        route = mock.delete("/responses/resp_1").mock(
            side_effect=[err(503, "ServiceUnavailable"), ok]
        )
        assert client(sleep).responses.delete("resp_1").deleted
        assert route.call_count == 2


def _page(ids: list[str], has_more: bool) -> dict[str, Any]:
    data = [
        {"type": "message", "role": "user", "id": i, "content": [{"type": "input_text", "text": i}]}
        for i in ids
    ]
    return {
        "object": "list",
        "data": data,
        "first_id": ids[0],
        "last_id": ids[-1],
        "has_more": has_more,
    }


def test_input_items_one_page_with_query() -> None:
    with mocked() as mock:
        route = mock.get("/responses/resp_1/input_items").respond(200, json=_page(["m1"], False))
        page = client().responses.input_items(
            "resp_1", after="m0", limit=10, order="asc", include=["message.input_image.image_url"]
        )
    q = route.calls.last.request.url.params
    assert (q["after"], q["limit"], q["order"]) == ("m0", "10", "asc")
    assert q.get_list("include[]") == ["message.input_image.image_url"]
    assert [i.id for i in page.data] == ["m1"] and page.has_more is False


def test_all_input_items_follows_pages() -> None:
    pages = [
        httpx.Response(200, json=_page(["m1", "m2"], True)),
        httpx.Response(200, json=_page(["m3"], False)),
    ]
    with mocked() as mock:
        route = mock.get("/responses/resp_1/input_items").mock(side_effect=pages)
        items = client().responses.all_input_items("resp_1")
        first, second = (c.request.url.params for c in route.calls)
    assert [i.id for i in items] == ["m1", "m2", "m3"]
    assert "after" not in first and second["after"] == "m2"
    assert first["limit"] == "100" and first["order"] == "asc"


def test_all_input_items_stops_on_a_server_that_does_not_advance() -> None:
    with mocked() as mock:
        mock.get("/responses/resp_1/input_items").respond(200, json=_page(["m1"], True))
        with pytest.raises(ArkProtocolError, match="last_id"):
            client().responses.all_input_items("resp_1")


@pytest.mark.parametrize(
    "kw", [{"limit": 0}, {"limit": 101}, {"limit": True}, {"order": "up"}, {"after": ""}]
)
def test_input_items_bad_query(kw: dict[str, Any]) -> None:
    with pytest.raises(ArkInputError):
        client().responses.input_items("resp_1", **kw)


# -- async -------------------------------------------------------------------------------


async def test_async_create_retrieve_delete_and_retry_rules() -> None:
    sleep = AsyncFakeSleep()
    aclient = AsyncArkContextClient(api_key=KEY, base_url=BASE, sleep=sleep)
    with mocked() as mock:
        post = mock.post("/responses").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=response_body())]
        )
        r = await aclient.responses.create(model=MODEL, input="q", caching=CACHE)
        assert r.output_text == "Hello" and post.call_count == 2
        post.side_effect = [err(500, "InternalServiceError")]
        with pytest.raises(ArkServerError) as info:
            await aclient.responses.create(model=MODEL, input="q")
        assert info.value.sent and post.call_count == 3
        mock.get("/responses/resp_1").respond(200, json=response_body())
        assert (await aclient.responses.retrieve("resp_1")).id == "resp_1"
        mock.delete("/responses/resp_1").mock(return_value=err(404, "NotFound"))
        assert (await aclient.responses.delete("resp_1")).already_gone
        mock.get("/responses/resp_1/input_items").respond(200, json=_page(["m1"], False))
        assert [i.id for i in await aclient.responses.all_input_items("resp_1")] == ["m1"]
    assert len(sleep.delays) == 1


async def test_async_validation_raises_when_awaited() -> None:
    aclient = AsyncArkContextClient(api_key=KEY, base_url=BASE)
    pending = aclient.responses.create(model=MODEL, input="q", instructions="x", caching=CACHE)
    with pytest.raises(ArkCachingRuleError):
        await pending


# -- the one list of unsupported Context API fields --------------------------------------


@pytest.mark.parametrize("field", UNSUPPORTED_FIELDS)
def test_unsupported_fields_one_list_one_type(field: str) -> None:
    with pytest.raises(ArkUnsupportedFieldError, match=field) as info:
        check_request_fields({field: {"x": 1}}, "chat")
    err_ = info.value
    # one type that every caller's contract accepts: a setting and a call argument
    assert isinstance(err_, ArkUnsupportedError) and isinstance(err_, ArkConfigError)
    assert isinstance(err_, ArkInputError) and isinstance(err_, NotImplementedError)
    check_request_fields({field: None})  # None = unset


def test_context_chat_rejects_function_call_before_the_network() -> None:
    with mocked() as mock:
        route = mock.post("/context/chat/completions").respond(200, json={})
        with pytest.raises(ArkUnsupportedFieldError, match="function_call"):
            client().chat(
                context_id="ctx-1",
                model="ep-1",
                messages=[{"role": "user", "content": "q"}],
                function_call={"name": "f"},
            )
        assert not route.called
