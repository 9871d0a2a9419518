"""Every status / error code / broken answer maps to the right typed error (respx)."""

from __future__ import annotations

import functools
import logging
import pickle
from typing import Any

import httpx
import pytest
import respx

from ark_context import ArkContextClient, AsyncArkContextClient
from ark_context._exceptions import (
    ArkAPIError,
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkContextOverflowError,
    ArkError,
    ArkNotFoundError,
    ArkPermissionError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkServerError,
    ArkTimeoutError,
)
from tests.client.conftest import BASE, KEY, USER, MakeClient


@pytest.fixture
def client(client: MakeClient) -> MakeClient:
    """The shared factory, without retries by default: every error reaches the test once."""
    return functools.partial(client, max_retries=0)


SYSTEM = [{"role": "system", "content": "s"}]


def call(c: ArkContextClient, kind: str) -> Any:
    if kind == "context":
        return c.chat(context_id="ctx-1", model="ep-1", messages=USER)
    if kind == "plain":
        return c.chat_completions(model="ep-1", messages=USER)
    return c.create_context(model="ep-1", messages=SYSTEM)


PATHS = {
    "context": "/context/chat/completions",
    "plain": "/chat/completions",
    "create": "/context/create",
}


def err_body(code: str, message: str, param: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"code": code, "message": message, "type": "BadRequest"}
    if param:
        e["param"] = param
    return {"error": e}


CASES = [
    ("context", 401, "AuthenticationError", "The API key is invalid", ArkAuthenticationError),
    ("plain", 401, "InvalidAccountStatus", "account frozen", ArkAuthenticationError),
    (
        "context",
        403,
        "OperationDenied.InvalidState",
        "The specified context is in invalid state: InProgress",
        ArkContextBusyError,
    ),
    ("context", 403, "AccessDenied", "no access", ArkPermissionError),
    ("create", 403, "AccountOverdueError", "pay up", ArkPermissionError),
    ("create", 403, "OperationDenied.ServiceNotOpen", "not open", ArkPermissionError),
    ("context", 404, "InvalidEndpointOrModel.NotFound", "not here", ArkContextGoneError),
    ("context", 404, "NotFound.Context", "whatever", ArkContextGoneError),
    ("plain", 404, "InvalidEndpointOrModel.NotFound", "no such endpoint", ArkNotFoundError),
    ("create", 404, "InvalidEndpointOrModel.NotFound", "no such endpoint", ArkNotFoundError),
    ("context", 400, "InvalidParameter", "The context ctx-1 is not found", ArkContextGoneError),
    ("context", 400, "InvalidParameter", "context has expired", ArkContextGoneError),
    ("plain", 400, "InvalidParameter", "The context ctx-1 is not found", ArkBadRequestError),
    ("context", 400, "OutofContextError", "too long", ArkContextOverflowError),
    ("plain", 400, "InvalidParameter.ContextWindowExceeded", "too long", ArkContextOverflowError),
    ("context", 400, "MissingParameter.messages", "missing", ArkBadRequestError),
    ("context", 400, "InputTextSensitiveContentDetected", "nope", ArkBadRequestError),
    ("context", 400, "InvalidParameter.UnsupportedParameter", "tools", ArkBadRequestError),
    ("context", 429, "RateLimitExceeded.EndpointRPMExceeded", "slow", ArkRateLimitError),
    ("create", 429, "QuotaExceeded", "quota", ArkRateLimitError),
    ("context", 500, "InternalServiceError", "boom", ArkServerError),
    ("plain", 503, "ServiceUnavailable", "later", ArkServerError),
    ("context", 418, "Teapot", "short and stout", ArkAPIError),
]


@pytest.mark.parametrize(("kind", "status", "code", "message", "cls"), CASES)
def test_status_and_code_mapping(
    client: MakeClient, kind: str, status: int, code: str, message: str, cls: type
):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS[kind]).respond(
            status, json=err_body(code, message + " Request id: 20240101-abc", param="messages")
        )
        with pytest.raises(ArkAPIError) as info:
            call(client(), kind)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.code == code
    assert err.param == "messages"
    assert err.type == "BadRequest"
    assert err.request_id == "20240101-abc"
    assert code in str(err) and message in str(err)


def test_request_id_header_wins(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            400,
            json=err_body("MissingParameter", "x Request id: from-body"),
            headers={"X-Request-Id": "hdr-1"},
        )
        with pytest.raises(ArkBadRequestError) as info:
            call(client(), "context")
    assert info.value.request_id == "hdr-1"


def test_rate_limit_retry_after_parsed(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            429, json=err_body("RateLimitExceeded", "slow"), headers={"Retry-After": "12"}
        )
        with pytest.raises(ArkRateLimitError) as info:
            call(client(), "context")
    assert info.value.retry_after == 12.0
    assert info.value.retryable


def test_unwrapped_error_body(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            400, json={"code": "OutofContextError", "message": "long"}
        )
        with pytest.raises(ArkContextOverflowError):
            call(client(), "context")


def test_error_as_plain_string(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["plain"]).respond(400, json={"error": "bad thing"})
        with pytest.raises(ArkBadRequestError, match="bad thing"):
            call(client(), "plain")


HTML = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)


def test_html_5xx_is_a_retryable_server_error_with_excerpt(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            502, content=HTML, headers={"content-type": "text/html"}
        )
        with pytest.raises(ArkServerError) as info:
            call(client(), "context")
    assert "502 Bad Gateway" in str(info.value) and "text/html" in str(info.value)


def test_html_404_is_a_protocol_error_naming_base_url(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            404, content=HTML, headers={"content-type": "text/html"}
        )
        with pytest.raises(ArkProtocolError) as info:
            call(client(), "context")
    msg = str(info.value)
    assert "404" in msg and "text/html" in msg and "base_url" in msg
    assert not isinstance(info.value, ArkContextGoneError)


def test_html_200_is_a_protocol_error(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            200, content=HTML, headers={"content-type": "text/html"}
        )
        with pytest.raises(ArkProtocolError, match="text/html answer, not JSON") as info:
            call(client(), "context")
    assert "200" in str(info.value) and "Bad Gateway" in str(info.value)


def test_wrong_content_type(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["plain"]).respond(
            200, content=b"hello", headers={"content-type": "text/plain"}
        )
        with pytest.raises(ArkProtocolError, match="text/plain"):
            call(client(), "plain")


def test_malformed_json(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            200, content=b'{"id": "x", "choices": [', headers={"content-type": "application/json"}
        )
        with pytest.raises(ArkProtocolError, match="malformed JSON"):
            call(client(), "context")


def test_json_of_wrong_shape(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["create"]).respond(200, json={"mode": "session"})  # no id
        with pytest.raises(ArkProtocolError, match="unexpected shape"):
            call(client(), "create")


def test_empty_body(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["create"]).respond(
            200, content=b"", headers={"content-type": "application/json"}
        )
        with pytest.raises(ArkProtocolError, match="empty body"):
            call(client(), "create")


def test_long_body_excerpt_is_short(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["plain"]).respond(
            200, content=b"x" * 100_000, headers={"content-type": "text/plain"}
        )
        with pytest.raises(ArkProtocolError) as info:
            call(client(), "plain")
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("kind", ["context", "create"])
def test_error_inside_200_body(client: MakeClient, kind: str):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS[kind]).respond(200, json=err_body("OutofContextError", "too long"))
        with pytest.raises(ArkContextOverflowError):
            call(client(), kind)


@pytest.mark.parametrize(
    ("exc", "cls", "was_sent"),
    [
        (httpx.ConnectError("refused"), ArkConnectionError, False),
        (httpx.ConnectTimeout("slow connect"), ArkTimeoutError, False),
        (httpx.PoolTimeout("pool full"), ArkTimeoutError, False),
        (httpx.ReadTimeout("slow read"), ArkTimeoutError, True),
        (httpx.WriteTimeout("slow write"), ArkTimeoutError, True),
        (httpx.ReadError("reset"), ArkConnectionError, True),
        (httpx.WriteError("broken pipe"), ArkConnectionError, True),
        (httpx.RemoteProtocolError("server disconnected"), ArkConnectionError, True),
    ],
)
def test_transport_errors(client: MakeClient, exc: Exception, cls: type, was_sent: bool):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).mock(side_effect=exc)
        with pytest.raises(ArkConnectionError) as info:
            call(client(), "context")
    assert type(info.value) is cls
    assert info.value.sent is was_sent


def test_errors_pickle(client: MakeClient):
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(404, json=err_body("NotFound", "gone"))
        with pytest.raises(ArkContextGoneError) as info:
            call(client(), "context")
    again = pickle.loads(pickle.dumps(info.value))
    assert (
        type(again) is ArkContextGoneError and again.status_code == 404 and again.code == "NotFound"
    )


# -- the key never leaks ---------------------------------------------------------------


def _echo_key(request: httpx.Request) -> httpx.Response:
    auth = request.headers["authorization"]
    path = request.url.path
    if path.endswith("/context/create"):
        return httpx.Response(401, json=err_body("AuthenticationError", f"bad key {auth}"))
    if path.endswith("/chat/completions") and "context" not in path:
        return httpx.Response(
            500, content=f"<html>{auth}</html>".encode(), headers={"content-type": "text/html"}
        )
    return httpx.Response(
        200, content=f"<html>oops {auth}</html>".encode(), headers={"content-type": "text/html"}
    )


def _scan(err: BaseException) -> list[str]:
    found = []
    for label, text in [
        ("str", str(err)),
        ("repr", repr(err)),
        ("args", repr(err.args)),
        ("message", getattr(err, "message", "")),
        ("body", repr(getattr(err, "body", ""))),
        ("param", repr(getattr(err, "param", ""))),
        ("response", repr(getattr(err, "response", ""))),
    ]:
        if KEY in text:
            found.append(label)
    return found


def test_key_never_in_errors_or_logs(client: MakeClient, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="ark_context")
    errors: list[ArkError] = []
    with respx.mock(base_url=BASE) as mock:
        mock.post(url__regex=r".*").mock(side_effect=_echo_key)
        c = client(max_retries=2)
        for kind in ("context", "plain", "create"):
            with pytest.raises(ArkError) as info:
                call(c, kind)
            errors.append(info.value)
    with respx.mock(base_url=BASE) as mock:
        mock.post(url__regex=r".*").mock(side_effect=httpx.ConnectError(f"cannot reach, key={KEY}"))
        with pytest.raises(ArkConnectionError) as info:
            call(client(max_retries=1), "plain")
        errors.append(info.value)
    assert {type(e) for e in errors} == {
        ArkProtocolError,
        ArkServerError,
        ArkAuthenticationError,
        ArkConnectionError,
    }
    for e in errors:
        assert _scan(e) == [], f"{type(e).__name__} leaks the key via {_scan(e)}"
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text


async def test_async_mapping_matches_sync():
    with respx.mock(base_url=BASE) as mock:
        mock.post(PATHS["context"]).respond(
            403, json=err_body("OperationDenied.InvalidState", "busy")
        )
        mock.post(PATHS["plain"]).mock(side_effect=httpx.ReadTimeout("slow"))
        c = AsyncArkContextClient(api_key=KEY, base_url=BASE, max_retries=0)
        with pytest.raises(ArkContextBusyError):
            await c.chat(context_id="ctx-1", model="ep-1", messages=USER)
        with pytest.raises(ArkTimeoutError) as info:
            await c.chat_completions(model="ep-1", messages=USER)
        assert info.value.sent is True
