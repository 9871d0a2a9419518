"""Bad input and bad answers through both adapters' public entry points: each gets a clear,
typed ``ark_context`` error, never a bare ``KeyError``/``TypeError``/``AttributeError``.

Input errors are raised before any network call: every test runs inside a ``respx`` mock,
and the tests that expect no request assert that no request was attempted (sockets are
disabled in unit tests too). Server answers that are not the Ark protocol (malformed JSON,
other JSON, HTML pages, a wrong content type, truncated or garbage SSE) come from respx
routes, and the test also checks that no turn was recorded for them (the next call creates
a fresh context instead of reusing one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from langchain_core.exceptions import (
    ContextOverflowError,
    LangChainException,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
)
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from llama_index.core.base.llms.types import AudioBlock, ImageBlock, TextBlock
from llama_index.core.base.llms.types import ChatMessage as LIMessage
from pydantic import BaseModel

from ark_context import (
    ArkAuthenticationError,
    ArkConfigError,
    ArkConnectionError,
    ArkContextOverflowError,
    ArkError,
    ArkInputError,
    ArkProtocolError,
    ArkServerError,
    ArkStreamError,
    ArkUnsupportedError,
    InMemoryStore,
)
from langchain_ark_context import ChatArkContext
from llama_index_ark_context import ArkContextLLM

BASE = "http://ark.test/api/v3"
KEY = "sk-bad-input-7d2e61"
ADAPTERS = ("langchain", "llama_index")
METHODS = ("sync", "async", "stream", "astream")
BARE = (KeyError, TypeError, AttributeError, IndexError)
CTX = {
    "id": "ctx-bad-input",
    "model": "ep-bad",
    "mode": "session",
    "ttl": 3600,
    "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
}
GOOD = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "model": "ep-bad",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}
GOOD_SSE = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"fine"},'
    b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ARK_API_KEY", "ARK_BASE_URL", "ARK_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def net() -> Iterator[respx.MockRouter]:
    """Every request is recorded and fails loudly: tests assert ``net.calls.call_count == 0``."""
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(side_effect=AssertionError("a request reached the network"))
        yield mock


def build(adapter: str, **settings: Any) -> Any:
    """A model with the router's and clients' backoff sleeps made instant."""
    cls = ChatArkContext if adapter == "langchain" else ArkContextLLM
    # session mode: these tests are about what reaches a session context
    kw: dict[str, Any] = {"model": "ep-bad", "api_key": KEY, "base_url": BASE, "mode": "session"}
    kw.update(settings)
    kw.setdefault("store", InMemoryStore())
    llm = cls(**kw)
    return llm


def instant(llm: Any) -> Any:
    router = llm.ark_router()

    async def asleep(_s: float) -> None:
        return None

    router._sleep = router.client._sleep = lambda _s: None
    router._async_sleep = router.async_client._sleep = asleep
    return llm


def lc_messages(conv: list[tuple[str, Any]]) -> list[Any]:
    kinds: dict[str, Callable[[Any], Any]] = {
        "system": SystemMessage,
        "user": HumanMessage,
        "assistant": AIMessage,
    }
    return [m if not isinstance(m, tuple) else kinds[m[0]](m[1]) for m in conv]


def li_messages(conv: list[Any]) -> list[Any]:
    return [m if not isinstance(m, tuple) else LIMessage(role=m[0], content=m[1]) for m in conv]


def run(llm: Any, method: str, messages: list[Any], **kw: Any) -> str:
    """Call one public entry point to the end (streams are consumed); return the text."""
    if isinstance(llm, ChatArkContext):
        if method == "sync":
            return llm.invoke(messages, **kw).content
        if method == "async":
            return asyncio.run(llm.ainvoke(messages, **kw)).content
        if method == "stream":
            return "".join(c.content for c in llm.stream(messages, **kw))

        async def lc_astream() -> str:
            return "".join([c.content async for c in llm.astream(messages, **kw)])

        return asyncio.run(lc_astream())
    if method == "sync":
        return llm.chat(messages, **kw).message.content
    if method == "async":
        return asyncio.run(llm.achat(messages, **kw)).message.content
    if method == "stream":
        return "".join(r.delta or "" for r in llm.stream_chat(messages, **kw))

    async def li_astream() -> str:
        return "".join([r.delta or "" async for r in await llm.astream_chat(messages, **kw)])

    return asyncio.run(li_astream())


def expect(error: type[ArkError], fn: Callable[[], Any], *, match: str = "") -> ArkError:
    """``fn`` raises ``error`` (an ArkError, never a bare builtin), with a message."""
    with pytest.raises(ArkError) as info:
        fn()
    err = info.value
    assert isinstance(err, error), f"{type(err).__name__} is not {error.__name__}: {err}"
    assert not isinstance(err, BARE)
    assert str(err) and match.lower() in str(err).lower(), str(err)
    assert KEY not in str(err)
    return err


def messages_for(adapter: str, conv: list[Any]) -> list[Any]:
    return lc_messages(conv) if adapter == "langchain" else li_messages(conv)


# -- settings -----------------------------------------------------------------------------------

SETTINGS = [
    pytest.param({"ttl": 60}, "ttl", id="ttl-too-small"),
    pytest.param({"ttl": 604801}, "ttl", id="ttl-too-large"),
    pytest.param({"ttl": "1h"}, "ttl", id="ttl-not-int"),
    pytest.param({"mode": "sessions"}, "mode", id="unknown-mode"),
    pytest.param(
        {
            "mode": "common_prefix",
            "truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 512},
        },
        "truncation_strategy",
        id="truncation-in-common-prefix",
    ),
    pytest.param({"truncation_strategy": {"type": "fifo"}}, "truncation_strategy", id="trunc-type"),
    pytest.param(
        {"truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 0}},
        "last_history_tokens",
        id="trunc-range",
    ),
    pytest.param({"base_url": "ark.cn-beijing.volces.com/api/v3"}, "base_url", id="no-scheme"),
    pytest.param({"base_url": "ftp://ark.test/api/v3"}, "base_url", id="bad-scheme"),
    pytest.param({"base_url": "http://"}, "base_url", id="no-host"),
    pytest.param({"stop": ["a", "b", "c", "d", "e"]}, "stop", id="five-stops"),
    pytest.param({"prefix_messages": 0}, "prefix_messages", id="prefix-zero"),
    pytest.param({"api_key": 12345}, "api_key", id="key-not-str"),
]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(("settings", "names"), SETTINGS)
def test_bad_setting_is_a_config_error_naming_it(
    adapter: str, settings: dict[str, Any], names: str, net: respx.MockRouter
) -> None:
    expect(ArkConfigError, lambda: build(adapter, **settings), match=names)
    assert net.calls.call_count == 0


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_base_url_from_env_without_scheme(
    adapter: str, monkeypatch: pytest.MonkeyPatch, net: respx.MockRouter
) -> None:
    monkeypatch.setenv("ARK_BASE_URL", "ark.cn-beijing.volces.com/api/v3")
    expect(ArkConfigError, lambda: build(adapter, base_url=""), match="ARK_BASE_URL")


CALL_TIME_SETTINGS = [
    pytest.param({"timeout": -1.0}, "timeout", id="negative-timeout"),
    pytest.param({"timeout": 0.0}, "timeout", id="zero-timeout"),
    pytest.param({"max_retries": -1}, "max_retries", id="negative-retries"),
    pytest.param({"default_headers": {"Authorization": "Bearer x"}}, "api_key", id="auth-header"),
    pytest.param({"api_key": None}, "ARK_API_KEY", id="missing-key"),
    pytest.param({"api_key": ""}, "ARK_API_KEY", id="empty-key"),
    pytest.param({"api_key": "two words"}, "ARK_API_KEY", id="key-with-space"),
    pytest.param({"model": ""}, "ARK_MODEL", id="missing-model"),
]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("settings", "names"), CALL_TIME_SETTINGS)
def test_setting_checked_at_call_time_fails_before_the_network(
    adapter: str, method: str, settings: dict[str, Any], names: str, net: respx.MockRouter
) -> None:
    llm = build(adapter, **settings)
    msgs = messages_for(adapter, [("system", "s"), ("user", "hi")])
    expect(ArkConfigError, lambda: run(llm, method, msgs), match=names)
    assert net.calls.call_count == 0


# -- messages -----------------------------------------------------------------------------------


def _lc_bad() -> list[Any]:
    surrogate = "half a pair: \ud83d"
    return [
        pytest.param([], ArkInputError, "empty", id="empty"),
        pytest.param(
            [("user", "q"), ("assistant", "a")], ArkInputError, "assistant", id="last-assistant"
        ),
        pytest.param(
            [("system", "only a system prompt"), ("assistant", "a")],
            ArkInputError,
            "assistant",
            id="system-then-assistant",
        ),
        pytest.param(
            [("user", "q"), ToolMessage("42", tool_call_id="t1")],
            ArkInputError,
            "no earlier assistant message made",
            id="tool-message",
        ),
        pytest.param(
            [("user", "q"), FunctionMessage(name="f", content="{}")],
            ArkUnsupportedError,
            "tool",
            id="function-message",
        ),
        pytest.param(
            [
                ("user", "q"),
                AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": ""}]),
                ("user", "and?"),
            ],
            ArkInputError,
            "without an id",
            id="ai-tool-calls",
        ),
        pytest.param(
            [HumanMessage(content=[{"type": "image_url", "image_url": {"url": "http://x/y.png"}}])],
            ArkUnsupportedError,
            "text only",
            id="image-block",
        ),
        pytest.param(
            [
                HumanMessage(
                    content=[{"type": "text", "text": "ok"}, {"type": "audio", "data": "x"}]
                )
            ],
            ArkUnsupportedError,
            "text only",
            id="audio-block",
        ),
        pytest.param(
            [ChatMessage(role="critic", content="q")], ArkInputError, "role", id="unknown-role"
        ),
        pytest.param([("user", surrogate)], ArkInputError, "surrogate", id="lone-surrogate"),
        pytest.param(
            [("system", "fine"), ("user", "q" * 300 + surrogate)],
            ArkInputError,
            "surrogate",
            id="long-lone-surrogate",
        ),
        pytest.param(
            [HumanMessage("q", name="n\udc00")], ArkInputError, "surrogate", id="surrogate-in-name"
        ),
    ]


def _li_bad() -> list[Any]:
    surrogate = "half a pair: \ud83d"
    return [
        pytest.param([], ArkInputError, "empty", id="empty"),
        pytest.param(
            [("user", "q"), ("assistant", "a")], ArkInputError, "assistant", id="last-assistant"
        ),
        pytest.param(
            [("system", "only a system prompt"), ("assistant", "a")],
            ArkInputError,
            "assistant",
            id="system-then-assistant",
        ),
        pytest.param(
            [("user", "q"), ("tool", "42")], ArkInputError, "without a tool call id", id="tool-role"
        ),
        pytest.param(
            [("user", "q"), ("function", "{}")], ArkUnsupportedError, "tool", id="function-role"
        ),
        pytest.param(
            [
                ("user", "q"),
                LIMessage(role="assistant", content="", additional_kwargs={"tool_calls": [{}]}),
                ("user", "and?"),
            ],
            ArkInputError,
            "has no id",
            id="assistant-tool-calls",
        ),
        pytest.param(
            [LIMessage(role="user", blocks=[ImageBlock(url="http://x/y.png")])],
            ArkUnsupportedError,
            "text only",
            id="image-block",
        ),
        pytest.param(
            [LIMessage(role="user", blocks=[TextBlock(text="ok"), AudioBlock(audio=b"RIFF")])],
            ArkUnsupportedError,
            "text only",
            id="audio-block",
        ),
        pytest.param([("user", surrogate)], ArkInputError, "surrogate", id="lone-surrogate"),
        pytest.param(
            [("system", "fine"), ("user", "q" * 300 + surrogate)],
            ArkInputError,
            "surrogate",
            id="long-lone-surrogate",
        ),
        pytest.param(
            [LIMessage(role="user", content="q", additional_kwargs={"name": "n\udc00"})],
            ArkInputError,
            "surrogate",
            id="surrogate-in-name",
        ),
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("conv", "error", "words"), _lc_bad())
def test_langchain_bad_messages_fail_before_the_network(
    method: str, conv: list[Any], error: type[ArkError], words: str, net: respx.MockRouter
) -> None:
    llm = build("langchain")
    expect(error, lambda: run(llm, method, lc_messages(conv)), match=words)
    assert net.calls.call_count == 0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("conv", "error", "words"), _li_bad())
def test_llama_index_bad_messages_fail_before_the_network(
    method: str, conv: list[Any], error: type[ArkError], words: str, net: respx.MockRouter
) -> None:
    llm = build("llama_index")
    expect(error, lambda: run(llm, method, li_messages(conv)), match=words)
    assert net.calls.call_count == 0


def test_llama_index_non_messages(net: respx.MockRouter) -> None:
    """LlamaIndex's own callback layer validates ``messages`` before the adapter runs (a
    pydantic ValidationError, i.e. a ValueError); the adapter's converter, used by the
    undecorated paths, raises the typed error."""
    from pydantic import ValidationError

    from llama_index_ark_context.base import to_wire_messages

    with pytest.raises(ValidationError):
        build("llama_index").chat(["not a message"])
    expect(ArkUnsupportedError, lambda: to_wire_messages(["not a message"]), match="ChatMessage")
    assert net.calls.call_count == 0


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_completion_entry_points_check_text_too(adapter: str, net: respx.MockRouter) -> None:
    llm = build(adapter)
    if adapter == "langchain":
        expect(ArkInputError, lambda: llm.invoke("bad \udfff"), match="surrogate")
    else:
        expect(ArkInputError, lambda: llm.complete("bad \udfff"), match="surrogate")
        expect(ArkInputError, lambda: "".join(r.delta for r in llm.stream_complete("\udfff")))
    assert net.calls.call_count == 0


def test_langchain_tools_and_structured_output_bind_without_the_network(
    net: respx.MockRouter,
) -> None:
    class Answer(BaseModel):
        text: str

    llm = build("langchain")
    llm.bind_tools([Answer])
    llm.bind_tools([{"type": "function", "function": {"name": "f"}}], tool_choice="f")
    llm.with_structured_output(Answer)
    llm.with_structured_output(Answer, include_raw=True, method="json_mode")
    expect(ArkInputError, lambda: llm.bind_tools([{"type": "web_search"}]), match="function tools")
    expect(ArkInputError, lambda: llm.bind_tools([Answer], tool_choice="g"), match="not bound")
    assert net.calls.call_count == 0


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("field", ["tools", "tool_choice", "response_format", "thinking"])
def test_malformed_tool_fields_per_call_fail_before_the_network(
    adapter: str, method: str, field: str, net: respx.MockRouter
) -> None:
    # Well-formed tool fields go plain on a Context API model (bypassed: tools); ones no
    # Ark API can take fail before the network, naming the field.
    llm = build(adapter)
    msgs = messages_for(adapter, [("user", "hi")])
    expect(ArkInputError, lambda: run(llm, method, msgs, **{field: [{"x": 1}]}), match=field)
    assert net.calls.call_count == 0


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        pytest.param({"request_id": "two\nlines"}, "request_id", id="request-id-newline"),
        pytest.param({"request_id": 7}, "request_id", id="request-id-int"),
        pytest.param({"stop": [None]}, "null", id="none-in-stop"),
        pytest.param({"logit_bias": {"1": object()}}, "JSON", id="not-json"),
    ],
)
def test_bad_call_parameters_fail_before_the_network(
    adapter: str, kwargs: dict[str, Any], words: str, net: respx.MockRouter
) -> None:
    llm = build(adapter)
    msgs = messages_for(adapter, [("user", "hi")])
    expect(ArkInputError, lambda: run(llm, "sync", msgs, **kwargs), match=words)
    assert net.calls.call_count == 0


# -- answers that are not the Ark protocol ------------------------------------------------------

HTML = {"content-type": "text/html; charset=utf-8"}
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}

BAD_ANSWERS = [
    # (id, response kwargs, error for a plain call, error for a stream)
    (
        "malformed-json",
        {"content": b'{"id": "x", "choices": [', "headers": JSON},
        ArkProtocolError,
        ArkProtocolError,
    ),
    ("other-json", {"json": {"status": "ok"}}, ArkProtocolError, ArkProtocolError),
    (
        "choices-not-a-list",
        {"json": {"id": "x", "choices": "abc"}},
        ArkProtocolError,
        ArkProtocolError,
    ),
    ("empty-body", {"content": b""}, ArkProtocolError, ArkStreamError),
    (
        "html-200",
        {"content": b"<html><body>Sign in</body></html>", "headers": HTML},
        ArkProtocolError,
        ArkProtocolError,
    ),
    (
        "html-404",
        {"status_code": 404, "content": b"<html>Not Found</html>", "headers": HTML},
        ArkProtocolError,
        ArkProtocolError,
    ),
    (
        "text-400",
        {"status_code": 400, "content": b"bad request", "headers": {"content-type": "text/plain"}},
        ArkProtocolError,
        ArkProtocolError,
    ),
    (
        "json-400-not-ark",
        {"status_code": 400, "json": {"detail": "nope"}},
        ArkProtocolError,
        ArkProtocolError,
    ),
    (
        "html-502",
        {"status_code": 502, "content": b"<html>Bad Gateway</html>", "headers": HTML},
        ArkServerError,
        ArkServerError,
    ),
    (
        "sse-truncated",
        {"content": GOOD_SSE.split(b"data: [DONE]")[0], "headers": SSE},
        ArkProtocolError,
        ArkStreamError,
    ),
    (
        "sse-garbage",
        {"content": b"data: not json\n\ndata: [DONE]\n\n", "headers": SSE},
        ArkProtocolError,
        ArkStreamError,
    ),
    (
        "sse-not-a-chunk",
        {"content": b"data: [1, 2]\n\ndata: [DONE]\n\n", "headers": SSE},
        ArkProtocolError,
        ArkStreamError,
    ),
    (
        "sse-half-event",
        {"content": GOOD_SSE[:40], "headers": SSE},
        ArkProtocolError,
        ArkStreamError,
    ),
    ("stream-answered-with-json", {"json": GOOD}, None, ArkProtocolError),
]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("answer", "plain_error", "stream_error"),
    [pytest.param(a[1], a[2], a[3], id=a[0]) for a in BAD_ANSWERS],
)
def test_answer_that_is_not_ark_is_a_typed_error_and_records_nothing(
    adapter: str,
    method: str,
    answer: dict[str, Any],
    plain_error: type[ArkError] | None,
    stream_error: type[ArkError],
) -> None:
    streaming = method in ("stream", "astream")
    error = stream_error if streaming else plain_error
    llm = instant(build(adapter))
    msgs = messages_for(adapter, [("system", "s"), ("user", "hi")])
    with respx.mock(base_url=BASE) as mock:
        create = mock.post("/context/create").respond(200, json=CTX)
        chat = mock.post("/context/chat/completions").respond(**answer)
        if error is None:  # a JSON completion for a non-stream call is simply fine
            assert run(llm, method, msgs) == "fine"
            return
        err = expect(error, lambda: run(llm, method, msgs))
        if isinstance(llm, ChatArkContext) and isinstance(err, ArkServerError):
            assert isinstance(err, ModelAPIError)  # the LangChain twin
        # Not the protocol: never retried (a 5xx is: once by the router, on a new context).
        assert chat.call_count == (2 if error is ArkServerError else 1)
        creates = create.call_count
        # Nothing was recorded: the same conversation again seeds a fresh context.
        if streaming:
            chat.respond(200, content=GOOD_SSE, headers=SSE)
        else:
            chat.respond(200, json=GOOD)
        assert run(llm, method, msgs) == "fine"
        assert create.call_count == creates + 1


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", ["stream", "astream"])
def test_error_event_inside_a_stream_is_the_typed_api_error(adapter: str, method: str) -> None:
    llm = instant(build(adapter))
    msgs = messages_for(adapter, [("system", "s"), ("user", "hi")])
    event = b'data: {"error": {"code": "OutofContextError", "message": "too long"}}\n\n'
    with respx.mock(base_url=BASE) as mock:
        mock.post("/context/create").respond(200, json=CTX)
        mock.post("/context/chat/completions").respond(200, content=event, headers=SSE)
        err = expect(ArkContextOverflowError, lambda: run(llm, method, msgs), match="too long")
    if adapter == "langchain":
        assert isinstance(err, ContextOverflowError)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
def test_wrong_key_is_an_authentication_error_without_the_key(adapter: str, method: str) -> None:
    body = {
        "error": {
            "code": "AuthenticationError",
            "message": f"The API key {KEY} in the request is invalid.",  # a server echoing it
            "type": "Unauthorized",
        }
    }
    llm = instant(build(adapter))
    msgs = messages_for(adapter, [("user", "hi")])
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(401, json=body)
        err = expect(ArkAuthenticationError, lambda: run(llm, method, msgs), match="invalid")
        assert route.call_count == 1  # never retried
    assert KEY not in repr(err) and KEY not in str(err.body)  # type: ignore[attr-defined]
    if adapter == "langchain":
        assert isinstance(err, ModelAuthenticationError) and isinstance(err, LangChainException)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
def test_connection_refused_is_typed(adapter: str, method: str) -> None:
    """A transport failure before sending is an ArkConnectionError (retried, then raised)."""
    llm = instant(build(adapter, max_retries=1))
    msgs = messages_for(adapter, [("user", "hi")])
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
        err = expect(ArkConnectionError, lambda: run(llm, method, msgs), match="connect")
        assert route.call_count == 2  # max_retries=1: nothing was sent, so retrying is safe
    assert err.sent is False  # type: ignore[attr-defined]
    if adapter == "langchain":
        assert isinstance(err, ModelConnectionError)
