"""ChatArkContext: message translation, payload seam, usage shapes, streaming, errors,
secrets. The real router and client run over an in-process ``httpx.MockTransport``
(no sockets); integration tests repeat the important cases against the emulator."""

from __future__ import annotations

import json
import threading
from typing import Any
from uuid import UUID

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
)
from langchain_core.load import dumpd, dumps, load
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import LLMResult

import langchain_ark_context
from ark_context import (
    ArkAuthenticationError,
    ArkConfigError,
    ArkContextOverflowError,
    ArkInputError,
    ArkRateLimitError,
    ArkServerError,
    ArkUnsupportedError,
    InMemoryStore,
)
from langchain_ark_context import ChatArkContext

KEY = "sk-unit-secret-4f1b9c"
USAGE = {
    "prompt_tokens": 30,
    "completion_tokens": 4,
    "total_tokens": 34,
    "prompt_tokens_details": {"cached_tokens": 18},
}


class FakeArk:
    """An in-process Ark answering /context/create and (context) chat completions."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], httpx.Headers]] = []
        self.error: tuple[int, dict[str, Any]] | None = None
        self.stream_error_after: int | None = None
        self.logprobs: Any = None
        self.reply = ["Hel", "lo", "!"]
        self.threads: set[str] = set()
        self._n = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.threads.add(threading.current_thread().name)
        body = json.loads(request.content)
        path = request.url.path.removeprefix("/api/v3")
        self.requests.append((path, body, request.headers))
        if self.error is not None:
            status, payload = self.error
            return httpx.Response(status, json=payload)
        if path == "/context/create":
            self._n += 1
            return httpx.Response(
                200,
                json={
                    "id": f"ctx-{self._n}",
                    "model": body["model"],
                    "mode": body.get("mode", "session"),
                    "ttl": body.get("ttl", 86400),
                    "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
                },
            )
        model = body["model"]
        if body.get("stream"):
            events: list[Any] = [
                {
                    "id": "r1",
                    "model": model,
                    "choices": [{"index": 0, "delta": {"role": "assistant"}}],
                }
            ]
            for i, part in enumerate(self.reply):
                last = i == len(self.reply) - 1
                choice: dict[str, Any] = {"index": 0, "delta": {"content": part}}
                if last:
                    choice["finish_reason"] = "stop"
                events.append({"id": "r1", "model": model, "choices": [choice]})
            if body.get("stream_options", {}).get("include_usage"):
                events.append({"id": "r1", "model": model, "choices": [], "usage": USAGE})
            lines = [f"data: {json.dumps(e)}\n\n" for e in events]
            if self.stream_error_after is not None:
                err = {"error": {"code": "InternalServiceError", "message": "boom"}}
                lines = [*lines[: self.stream_error_after], f"data: {json.dumps(err)}\n\n"]
            else:
                lines.append("data: [DONE]\n\n")
            return httpx.Response(
                200,
                content="".join(lines).encode(),
                headers={"content-type": "text/event-stream"},
            )
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": "".join(self.reply)},
            "finish_reason": "stop",
        }
        if self.logprobs is not None:
            choice["logprobs"] = self.logprobs
        return httpx.Response(
            200,
            json={
                "id": "r1",
                "object": "chat.completion",
                "model": model,
                "choices": [choice],
                "usage": USAGE,
            },
        )

    def chats(self) -> list[dict[str, Any]]:
        return [b for p, b, _ in self.requests if p.endswith("chat/completions")]


@pytest.fixture
def ark() -> FakeArk:
    return FakeArk()


def make(ark: FakeArk, **kw: Any) -> ChatArkContext:
    transport = httpx.MockTransport(ark)
    params: dict[str, Any] = {
        "model": "ep-unit",
        "api_key": KEY,
        "base_url": "http://ark.test/api/v3",
        "mode": "session",  # the scripted server expects session contexts
        "store": InMemoryStore(),
        "max_retries": 0,
        "http_client": httpx.Client(transport=transport),
        "http_async_client": httpx.AsyncClient(transport=transport),
    }
    params.update(kw)
    return ChatArkContext(**params)


CONVO = [SystemMessage("Be brief."), HumanMessage("Hi")]


# -- package ------------------------------------------------------------------------------


def test_package_names_resolve_lazily() -> None:
    for name in langchain_ark_context.__all__:
        assert hasattr(langchain_ark_context, name), name
    assert langchain_ark_context.ChatArkContext is ChatArkContext
    with pytest.raises(AttributeError):
        langchain_ark_context.Nope  # noqa: B018


# -- messages -> wire (the payload seam) -----------------------------------------------------


def test_payload_maps_every_role() -> None:
    llm = ChatArkContext(model="ep-x", api_key=KEY)
    msgs = [
        SystemMessage("sys"),
        HumanMessage("hi", name="bob"),
        AIMessage([{"type": "text", "text": "he"}, {"type": "text", "text": "llo"}]),
        ChatMessage(role="system", content="extra"),
        AIMessage("no tools here", additional_kwargs={"tool_calls": []}),
        HumanMessage(["a", {"type": "text", "text": "b"}]),
    ]
    wire, params = llm._get_request_payload(msgs)
    assert wire == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi", "name": "bob"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "extra"},
        {"role": "assistant", "content": "no tools here"},
        {"role": "user", "content": "ab"},
    ]
    assert params == {}


def test_payload_params_stop_and_overrides() -> None:
    llm = ChatArkContext(
        model="ep-x", api_key=KEY, temperature=0.3, stop=["a"], model_kwargs={"seed": 7}
    )
    _, params = llm._get_request_payload(CONVO)
    assert params == {"temperature": 0.3, "stop": ["a"], "seed": 7}
    _, params = llm._get_request_payload(
        CONVO, stop=["z"], temperature=0.9, max_tokens=5, model="ep-y", stream_usage=False
    )
    assert params == {"temperature": 0.9, "stop": ["z"], "seed": 7, "max_tokens": 5}
    # LangChain's stop=[] means "none": nothing is sent rather than an empty list.
    empty = ChatArkContext(model="ep-x", api_key=KEY, stop=[])
    assert empty._get_request_payload(CONVO)[1] == {}
    assert llm._get_request_payload(CONVO, stop=[])[1] == {"temperature": 0.3, "seed": 7}


def test_tool_calls_and_tool_results_become_wire_messages() -> None:
    llm = ChatArkContext(model="ep-x", api_key=KEY)
    wire, _ = llm._get_request_payload(
        [
            HumanMessage("hi"),
            AIMessage("", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}]),
            ToolMessage("42", tool_call_id="c1"),
        ]
    )
    assert wire[1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]


@pytest.mark.parametrize(
    ("message", "error", "match"),
    [
        (FunctionMessage("42", name="f"), ArkUnsupportedError, "FunctionMessage"),
        (
            AIMessage("", additional_kwargs={"function_call": {"name": "f", "arguments": "{}"}}),
            ArkUnsupportedError,
            "legacy function_call",
        ),
        (ChatMessage(role="tool", content="42"), ArkInputError, "ToolMessage"),
        (ToolMessage("42", tool_call_id="c9"), ArkInputError, "c9"),
    ],
)
def test_legacy_and_unpaired_tool_messages_raise(message: Any, error: type, match: str) -> None:
    llm = ChatArkContext(model="ep-x", api_key=KEY)
    with pytest.raises(error, match=match) as info:
        llm._get_request_payload([HumanMessage("hi"), message, HumanMessage("next")])
    assert "messages[1]" in str(info.value)


def test_non_text_blocks_and_bad_roles() -> None:
    llm = ChatArkContext(model="ep-x", api_key=KEY)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    with pytest.raises(ArkUnsupportedError, match="text only"):
        llm._get_request_payload([HumanMessage(content=[image])])
    with pytest.raises(ArkInputError, match="role 'narrator'"):
        llm._get_request_payload([ChatMessage(role="narrator", content="x")])
    with pytest.raises(ArkInputError, match="RemoveMessage"):
        llm._get_request_payload([RemoveMessage(id="1"), HumanMessage("x")])
    with pytest.raises(ArkInputError, match="ends with an assistant message"):
        llm._get_request_payload([HumanMessage("hi"), AIMessage("hello")])
    with pytest.raises(ArkInputError, match="empty"):
        llm._get_request_payload([])
    with pytest.raises(ArkInputError, match="no function name"):
        llm._get_request_payload(CONVO, tools=[{"type": "function"}])
    with pytest.raises(ArkInputError, match="not bound"):
        llm._get_request_payload(CONVO, tool_choice="f")


def test_input_errors_on_a_responses_model_do_not_blame_the_context_api() -> None:
    """The same checks serve both caching APIs; on a Responses-API model an error that
    names the Context API sends the user looking at the wrong API."""
    llm = ChatArkContext(model="doubao-seed-1-6-251015", api_key=KEY)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    with pytest.raises(ArkUnsupportedError, match="text only") as info:
        llm._get_request_payload([HumanMessage(content=[{"type": "text", "text": "?"}, image])])
    assert "Context API" not in str(info.value)
    with pytest.raises(ArkInputError, match="ends with an assistant message") as info:
        llm._get_request_payload([HumanMessage("hi"), AIMessage("hello")])
    assert "Context API" not in str(info.value)


def test_bind_tools_and_structured_output_bind_checked_fields() -> None:
    llm = ChatArkContext(model="ep-x", api_key=KEY)
    bound: Any = llm.bind_tools(
        [{"type": "function", "function": {"name": "f"}}], tool_choice="any"
    )
    assert bound.kwargs["tool_choice"] == "required"
    assert bound.kwargs["tools"][0]["function"]["name"] == "f"
    with pytest.raises(ArkInputError, match="'web_search' tool"):
        llm.bind_tools([{"type": "web_search"}])
    with pytest.raises(ArkInputError, match="unknown argument"):
        llm.with_structured_output({"title": "T", "type": "object"}, bogus=1)
    structured: Any = llm.with_structured_output(
        {"title": "T", "type": "object"}, method="json_mode"
    )
    assert structured.first.kwargs["response_format"] == {"type": "json_object"}


_BASE = "https://ark.example/api/v3"


def test_profile_gives_the_model_tables_limits_and_what_the_class_accepts() -> None:
    """``llm.profile``, read by LangChain's agents and middleware: limits from the model
    table (none for an endpoint id), no ``structured_output`` (create_agent then keeps
    its cached tool strategy), and a profile passed in wins."""
    from langchain.agents.middleware import SummarizationMiddleware

    seed = ChatArkContext(model="doubao-seed-1-6-251015", api_key="k", base_url=_BASE)
    assert seed.profile is not None
    assert (seed.profile["max_input_tokens"], seed.profile["max_output_tokens"]) == (
        224 * 1024,
        32 * 1024,
    )
    assert seed.profile["tool_calling"] and not seed.profile["image_inputs"]
    assert "structured_output" not in seed.profile
    # a fractional trigger needs max_input_tokens: it works without passing a profile
    SummarizationMiddleware(model=seed, trigger=("fraction", 0.8))
    endpoint = ChatArkContext(model="ep-1", api_key="k", base_url=_BASE)
    assert endpoint.profile is not None and "max_input_tokens" not in endpoint.profile
    with pytest.raises(ValueError, match="max_input_tokens"):
        SummarizationMiddleware(model=endpoint, trigger=("fraction", 0.8))
    mine = ChatArkContext(
        model="ep-1", api_key="k", base_url=_BASE, profile={"max_input_tokens": 9}
    )
    assert mine.profile == {"max_input_tokens": 9}


def test_ls_params_honour_model_override() -> None:
    llm = ChatArkContext(model="ep-x", api_key=KEY, temperature=0.2, max_tokens=9, stop=["s"])
    assert llm._get_ls_params() == {
        "ls_provider": "ark",
        "ls_model_name": "ep-x",
        "ls_model_type": "chat",
        "ls_temperature": 0.2,
        "ls_max_tokens": 9,
        "ls_stop": ["s"],
    }
    ls = llm._get_ls_params(stop=["t"], model="ep-other", temperature=0.7)
    assert (ls["ls_model_name"], ls["ls_temperature"], ls["ls_stop"]) == ("ep-other", 0.7, ["t"])


# -- invoke ---------------------------------------------------------------------------------


def test_invoke_usage_and_metadata(ark: FakeArk) -> None:
    llm = make(ark, mode="common_prefix")
    msg = llm.invoke(CONVO)
    assert isinstance(msg, AIMessage)
    assert msg.content == "Hello!"
    assert msg.id == "r1"
    # As billed: the 5 tokens that created the context count as input (cache_creation).
    assert msg.usage_metadata == {
        "input_tokens": 35,
        "output_tokens": 4,
        "total_tokens": 39,
        "input_token_details": {"cache_read": 18, "cache_creation": 5},
    }
    meta = msg.response_metadata
    assert meta["context_create_tokens"] == 5
    assert meta["ark_usage"] == {  # Ark's usage, unchanged
        "prompt_tokens": 30,
        "completion_tokens": 4,
        "total_tokens": 34,
        "cached_tokens": 18,
    }
    assert meta["model_name"] == "ep-unit"
    assert meta["finish_reason"] == "stop"
    assert meta["id"] == "r1"
    assert meta["context_id"] == "ctx-1"
    assert meta["context_outcome"] == "created"
    assert meta["context_miss_reason"] == "new"
    assert "logprobs" not in meta
    # The router got the wire messages: the system prompt seeded the context.
    paths = [p for p, _, _ in ark.requests]
    assert paths == ["/context/create", "/context/chat/completions"]
    assert ark.requests[0][1]["messages"] == [{"role": "system", "content": "Be brief."}]
    assert ark.chats()[0]["messages"] == [{"role": "user", "content": "Hi"}]
    # A second call with the same prefix reuses the context.
    again = llm.invoke([SystemMessage("Be brief."), HumanMessage("Bye")])
    assert again.response_metadata["context_outcome"] == "reused"
    assert again.response_metadata["context_miss_reason"] is None


def test_generate_llm_output_and_logprobs(ark: FakeArk) -> None:
    ark.logprobs = {"content": [{"token": "Hello", "logprob": -0.1, "top_logprobs": []}]}
    llm = make(ark, logprobs=True)
    result = llm.generate([CONVO])
    assert isinstance(result, LLMResult)
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "ep-unit"
    assert result.llm_output["token_usage"] == {
        "prompt_tokens": 30,
        "completion_tokens": 4,
        "total_tokens": 34,
        "cached_tokens": 18,
    }
    gen = result.generations[0][0]
    assert gen.message.response_metadata["logprobs"] == ark.logprobs  # type: ignore[attr-defined]
    assert gen.generation_info is not None
    assert gen.generation_info["logprobs"] == ark.logprobs
    assert ark.chats()[0]["logprobs"] is True


def test_invoke_passes_call_params_and_model_override(ark: FakeArk) -> None:
    llm = make(ark, temperature=0.1, stop=[])
    llm.invoke("Hi", stop=["END"], max_tokens=7, model="ep-other")
    body = ark.chats()[-1]
    assert body["model"] == "ep-other"
    assert body["stop"] == ["END"]
    assert body["max_tokens"] == 7
    assert body["temperature"] == 0.1
    bound = llm.bind(model="ep-other").invoke("Hi")
    assert bound.response_metadata["model_name"] == "ep-other"
    llm.invoke("Hi")
    assert ark.chats()[-1]["model"] == "ep-unit"
    assert "stop" not in ark.chats()[-1]


def test_usage_callback_totals_invoke_and_stream(ark: FakeArk) -> None:
    llm = make(ark)
    with get_usage_metadata_callback() as cb:
        llm.invoke(CONVO)
        for _ in llm.stream(CONVO):
            pass
    # Both calls created a context (5 prompt tokens each): the callback counts them.
    creates = sum(1 for p, _, _ in ark.requests if p == "/context/create")
    assert creates == 2
    assert cb.usage_metadata == {
        "ep-unit": {
            "input_tokens": 60 + 5 * creates,
            "output_tokens": 8,
            "total_tokens": 68 + 5 * creates,
            "input_token_details": {"cache_read": 36, "cache_creation": 5 * creates},
        }
    }


# -- streaming ------------------------------------------------------------------------------


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.chunks: list[Any] = []

    def on_llm_new_token(self, token: str, *, chunk: Any = None, **kwargs: Any) -> None:
        self.tokens.append(token)
        self.chunks.append(chunk)


def test_stream_chunks_usage_and_callbacks(ark: FakeArk) -> None:
    llm = make(ark)
    cb = Tokens()
    chunks = list(llm.stream(CONVO, config={"callbacks": [cb]}))
    assert [c.content for c in chunks] == ["Hel", "lo", "!", ""]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    with_input = [c for c in chunks if c.usage_metadata and c.usage_metadata["input_tokens"]]
    assert len(with_input) == 1 and with_input[0] is chunks[-1]
    assert chunks[-1].chunk_position == "last"
    assert sum(1 for c in chunks if "model_name" in c.response_metadata) == 1
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.content == "Hello!"
    assert full.usage_metadata == {  # as billed: 30 prompt + 5 to create the context
        "input_tokens": 35,
        "output_tokens": 4,
        "total_tokens": 39,
        "input_token_details": {"cache_read": 18, "cache_creation": 5},
    }
    assert full.response_metadata["ark_usage"]["prompt_tokens"] == 30
    assert full.response_metadata["finish_reason"] == "stop"
    assert full.response_metadata["model_name"] == "ep-unit"
    assert full.response_metadata["context_outcome"] == "created"
    assert cb.tokens == ["Hel", "lo", "!", ""]
    assert len(cb.chunks) == len(chunks)
    assert ark.chats()[-1]["stream_options"] == {"include_usage": True}


def test_stream_usage_off_per_call_and_by_field(ark: FakeArk) -> None:
    llm = make(ark)
    chunks = list(llm.stream(CONVO, stream_usage=False))
    assert all(not c.usage_metadata for c in chunks)
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].response_metadata["model_name"] == "ep-unit"
    assert "stream_options" not in ark.chats()[-1] or not ark.chats()[-1]["stream_options"].get(
        "include_usage"
    )
    off = make(ark, stream_usage=False)
    assert all(not c.usage_metadata for c in off.stream(CONVO))
    on = list(off.stream(CONVO, stream_usage=True))
    assert on[-1].usage_metadata is not None


def test_streaming_field_makes_invoke_stream(ark: FakeArk) -> None:
    llm = make(ark, streaming=True)
    cb = Tokens()
    msg = llm.invoke(CONVO, config={"callbacks": [cb]})
    assert msg.content == "Hello!"
    assert ark.chats()[-1]["stream"] is True
    assert cb.tokens == ["Hel", "lo", "!", ""]
    assert msg.usage_metadata is not None and msg.usage_metadata["input_tokens"] == 30 + 5


# -- async (native: the sync transport must never be used) ----------------------------------


def _async_only(ark: FakeArk, **kw: Any) -> ChatArkContext:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the sync client was used on an async path")

    return make(ark, http_client=httpx.Client(transport=httpx.MockTransport(refuse)), **kw)


async def test_ainvoke_and_astream_are_native(ark: FakeArk) -> None:
    llm = _async_only(ark)
    main = threading.current_thread().name
    msg = await llm.ainvoke(CONVO)
    assert msg.content == "Hello!"
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["input_token_details"] == {"cache_read": 18, "cache_creation": 5}
    chunks = [c async for c in llm.astream(CONVO)]
    assert "".join(str(c.content) for c in chunks) == "Hello!"
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].usage_metadata is not None
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    results = await llm.abatch([CONVO, CONVO])
    assert [r.content for r in results] == ["Hello!", "Hello!"]
    assert ark.threads == {main}


async def test_astream_callbacks_and_errors(ark: FakeArk) -> None:
    llm = _async_only(ark)
    cb = Tokens()
    chunks = [c async for c in llm.astream(CONVO, config={"callbacks": [cb]})]
    assert len(cb.tokens) == len(chunks) == 4
    ark.error = (401, {"error": {"code": "AuthenticationError", "message": "bad key"}})
    with pytest.raises(ModelAuthenticationError):
        await llm.ainvoke(CONVO)
    with pytest.raises(ModelAuthenticationError):
        async for _ in llm.astream(CONVO):
            pass


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "lc_type", "ark_type"),
    [
        (401, "AuthenticationError", ModelAuthenticationError, ArkAuthenticationError),
        (400, "OutofContextError", ContextOverflowError, ArkContextOverflowError),
        (429, "RateLimitExceeded.EndpointRPMExceeded", ModelRateLimitError, ArkRateLimitError),
        (500, "InternalServiceError", ModelAPIError, ArkServerError),
        (403, "AccessDenied", ModelPermissionDeniedError, None),
        (404, "InvalidEndpointOrModel.NotFound", ModelNotFoundError, None),
    ],
)
def test_errors_map_to_langchain_types(
    ark: FakeArk, status: int, code: str, lc_type: type, ark_type: type | None
) -> None:
    ark.error = (status, {"error": {"code": code, "message": f"{code} happened {KEY}"}})
    llm = make(ark)
    with pytest.raises(lc_type) as info:
        llm.invoke(CONVO)
    err = info.value
    if ark_type is not None:
        assert isinstance(err, ark_type)
        assert isinstance(err.__cause__, ark_type)
    assert err.__cause__ is not None and type(err.__cause__) is not type(err)
    assert err.status_code == status  # type: ignore[attr-defined]
    assert err.code == code  # type: ignore[attr-defined]
    assert KEY not in str(err) and KEY not in repr(err)


def test_errors_without_a_langchain_twin_stay_as_they_are() -> None:
    from langchain_core.exceptions import ModelError

    from ark_context import ArkContextBusyError, ArkContextGoneError, ArkStreamError
    from langchain_ark_context.chat_models import _langchain_error

    for err in (
        ArkContextBusyError("in progress", status_code=403, code="OperationDenied.InvalidState"),
        ArkContextGoneError("gone", status_code=404, code="NotFound.Context"),
        ArkStreamError("no [DONE]"),
        ArkConfigError("bad setting"),
    ):
        assert _langchain_error(err) is err
        assert not isinstance(err, ModelError)


def test_input_errors_propagate_unchanged(ark: FakeArk) -> None:
    llm = make(ark)
    with pytest.raises(ArkInputError) as info:
        llm.invoke([HumanMessage("hi"), AIMessage("yo")])
    assert type(info.value) is ArkInputError
    assert ark.requests == []


def test_error_inside_stream_is_mapped(ark: FakeArk) -> None:
    ark.stream_error_after = 2
    llm = make(ark)
    got: list[Any] = []
    with pytest.raises(ModelAPIError) as info:
        for chunk in llm.stream(CONVO):
            got.append(chunk)
    assert isinstance(info.value.__cause__, ArkServerError)
    assert [c.content for c in got] == ["Hel"]


# -- secrets --------------------------------------------------------------------------------


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append((serialized, kwargs))

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.seen.append((response.model_dump(), kwargs))


def test_api_key_never_leaks(ark: FakeArk) -> None:
    llm = make(ark)
    assert KEY not in repr(llm) and KEY not in str(llm)
    dumped = dumps(llm)
    assert KEY not in dumped
    assert dumpd(llm)["kwargs"]["api_key"] == {"lc": 1, "type": "secret", "id": ["ARK_API_KEY"]}
    assert llm.lc_secrets == {"api_key": "ARK_API_KEY"}
    assert "api_key" not in llm._identifying_params
    rec = Recorder()
    llm.invoke(CONVO, config={"callbacks": [rec]})
    list(llm.stream(CONVO, config={"callbacks": [rec]}))
    assert len(rec.seen) == 4
    trace = json.dumps(rec.seen, default=_safe_default)
    assert KEY not in trace
    assert "ep-unit" in trace


def test_serialization_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = ChatArkContext(
        model="ep-x", api_key=KEY, mode="common_prefix", temperature=0.2, model_kwargs={"seed": 1}
    )
    data = dumpd(llm)
    assert KEY not in json.dumps(data)
    monkeypatch.setenv("ARK_API_KEY", "from-env-key")
    back = load(
        data,
        valid_namespaces=["langchain_ark_context"],
        allowed_objects=[ChatArkContext],
        secrets_from_env=True,
    )
    assert isinstance(back, ChatArkContext)
    assert back._identifying_params == llm._identifying_params
    assert back.api_key is not None and back.api_key.get_secret_value() == "from-env-key"


def test_model_name_reads_model_as_other_chat_models_name_it() -> None:
    llm = ChatArkContext(model="ep-x", api_key=KEY)
    assert llm.model_name == "ep-x"
    assert llm.model_copy(update={"model": "doubao-seed-1-6-251015"}).model_name == (
        "doubao-seed-1-6-251015"
    )
    with pytest.raises(ArkConfigError, match="did you mean model"):
        ChatArkContext(model_name="ep-x", api_key=KEY)


def _safe_default(obj: Any) -> str:
    if isinstance(obj, UUID):
        return str(obj)
    return repr(obj)


def test_init_from_env_and_model_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARK_API_KEY", KEY)
    monkeypatch.setenv("ARK_BASE_URL", "http://127.0.0.1:9/api/v3")
    with pytest.raises(ArkConfigError, match=r"'seed'.*model_kwargs=\{\.\.\.\}"):
        ChatArkContext(model="ep-x", seed=3)
    llm = ChatArkContext(model="ep-x", model_kwargs={"seed": 3})
    assert llm.api_key is not None and llm.api_key.get_secret_value() == KEY
    assert llm.base_url == "http://127.0.0.1:9/api/v3"
    assert llm.model_kwargs == {"seed": 3}


def test_token_counts_need_no_tokenizer_download_and_count_chinese() -> None:
    """``trim_messages(token_counter=llm)`` and ``get_num_tokens`` work offline (LangChain's
    default wants ``transformers`` and a GPT-2 tokenizer), and Chinese text, which runs at
    about a token per character, is not counted at a quarter of that."""
    from langchain_core.messages import trim_messages

    llm = ChatArkContext(model="doubao-seed-1-6-251015", api_key=KEY)
    english = [SystemMessage("Be brief."), HumanMessage("How long is the Great Wall of China?")]
    chinese = [SystemMessage("请简短回答。"), HumanMessage("长城有多长?它是什么时候修建的?")]
    n_en = llm.get_num_tokens_from_messages(english)
    n_zh = llm.get_num_tokens_from_messages(chinese)
    assert 10 <= n_en <= 30
    assert n_zh >= len("请简短回答。长城有多长?它是什么时候修建的?")
    assert llm.get_num_tokens("长城有多长") >= 5 > llm.get_num_tokens("hello world") - 2
    tools_too = llm.get_num_tokens_from_messages(english, tools=[_weather_tool()])
    assert tools_too > n_en
    history = [SystemMessage("Be brief.")]
    for i in range(20):
        history += [HumanMessage(f"问题 {i}:长城有多长?"), AIMessage(f"回答 {i}:两万多公里。")]
    history.append(HumanMessage("最后一个问题?"))
    trimmed = trim_messages(
        history, max_tokens=60, token_counter=llm, include_system=True, start_on="human"
    )
    assert trimmed[0] == history[0] and trimmed[-1] == history[-1]
    assert 2 < len(trimmed) < len(history)
    assert llm.get_num_tokens_from_messages(trimmed) <= 60
    own = llm.model_copy(update={"custom_get_token_ids": lambda text: list(text)})
    assert own.get_num_tokens("长城 wall") == len("长城 wall")
    assert own.get_num_tokens_from_messages(chinese) > n_zh


def _weather_tool() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
