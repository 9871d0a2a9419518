"""ArkContextLLM: message conversion, errors, metadata, secrets, response translation.

Sockets are disabled here. The routed calls go through a small in-process router double
that speaks the router's contract (RoutedCompletion / RoutedStream shapes), so these tests
pin the adapter's translation and callback wiring; the *_emulator tests run the real router
against the emulator.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    CacheControl,
    CachePoint,
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
)
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.callbacks.token_counting import get_tokens_from_response
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)

import llama_index_ark_context
from ark_context import (
    ArkConfigError,
    ArkInputError,
    ArkUnsupportedError,
    ChatCompletion,
    ChatCompletionChunk,
    RoutedCompletion,
    RouteInfo,
    Usage,
)
from ark_context.conversation import ChatCompletionStreamAccumulator, StreamDelta
from llama_index_ark_context import ArkContextLLM, CachedTokenCounter
from llama_index_ark_context._convert import StreamState
from llama_index_ark_context.base import (
    _chunk,
    _final_response,
    to_chat_response,
    to_wire_messages,
)

SECRET = "sk-unit-secret-7d1f0c"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ARK_API_KEY", "ARK_MODEL", "ARK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def make_llm(**kw: Any) -> ArkContextLLM:
    kw.setdefault("model", "ep-unit")
    kw.setdefault("api_key", SECRET)
    return ArkContextLLM(**kw)


def user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


# -- package surface ----------------------------------------------------------------------


def test_all_names_resolve() -> None:
    for name in llama_index_ark_context.__all__:
        assert hasattr(llama_index_ark_context, name), name


@pytest.mark.parametrize(
    ("method", "routed"),
    [
        ("chat", "chat"),
        ("stream_chat", "stream"),
        ("complete", "chat"),
        ("stream_complete", "stream"),
        ("achat", "achat"),
        ("astream_chat", "astream"),
        ("acomplete", "achat"),
        ("astream_complete", "astream"),
    ],
)
async def test_async_methods_are_native(method: str, routed: str, double: RouterDouble) -> None:
    """Each method calls the router method of its own kind: async calls never run the sync
    path in a thread (what LlamaIndex's ``CustomLLM`` base would do)."""
    llm = make_llm()
    result = getattr(llm, method)("hi" if "complete" in method else [user("hi")])
    if hasattr(result, "__await__"):
        result = await result
    if hasattr(result, "__aiter__"):
        await _drain(result)
    elif hasattr(result, "__next__"):
        list(result)
    assert [call[0] for call in double.calls] == [routed]


# -- message conversion -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "wire_role"),
    [
        (MessageRole.SYSTEM, "system"),
        (MessageRole.DEVELOPER, "system"),
        (MessageRole.USER, "user"),
        (MessageRole.ASSISTANT, "assistant"),
        (MessageRole.CHATBOT, "assistant"),
        (MessageRole.MODEL, "assistant"),
    ],
)
def test_roles_map_to_wire_roles(role: MessageRole, wire_role: str) -> None:
    wire = to_wire_messages([ChatMessage(role=role, content="x"), user("q")])
    assert wire[0] == {"role": wire_role, "content": "x"}
    assert wire[1] == {"role": "user", "content": "q"}


def test_text_blocks_are_joined_and_cache_points_ignored() -> None:
    msg = ChatMessage(
        role=MessageRole.USER,
        blocks=[
            TextBlock(text="Hello, "),
            CachePoint(cache_control=CacheControl(type="ephemeral")),
            TextBlock(text="world"),
        ],
    )
    assert to_wire_messages([msg]) == [{"role": "user", "content": "Hello, world"}]


def test_empty_message_is_empty_string_and_name_passes_through() -> None:
    msgs = [ChatMessage(role=MessageRole.USER, content="", additional_kwargs={"name": "ann"})]
    assert to_wire_messages(msgs) == [{"role": "user", "content": "", "name": "ann"}]


def test_equivalent_messages_give_identical_wire_form() -> None:
    a = to_wire_messages([ChatMessage(role="system", content="S"), user("q")])
    b = to_wire_messages(
        [ChatMessage(role=MessageRole.SYSTEM, blocks=[TextBlock(text="S")]), user("q")]
    )
    assert a == b


def test_tool_result_without_a_call_id_and_function_role_raise_clear_errors() -> None:
    msgs = [user("q"), ChatMessage(role=MessageRole.TOOL, content="42"), user("and?")]
    with pytest.raises(
        ArkInputError, match=r"messages\[1\] is a tool result without a tool call id"
    ):
        to_wire_messages(msgs)
    msgs = [user("q"), ChatMessage(role=MessageRole.FUNCTION, content="42"), user("and?")]
    with pytest.raises(ArkUnsupportedError, match=r"messages\[1\] has role 'function'"):
        to_wire_messages(msgs)


def test_assistant_tool_calls_and_results_convert_to_the_wire_form() -> None:
    call = {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{ }"}}]}
    msgs = [
        user("q"),
        ChatMessage(role="assistant", content="", additional_kwargs=call),
        ChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": "c1"}),
    ]
    assert to_wire_messages(msgs)[1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]


@pytest.mark.parametrize(
    "block",
    [
        ImageBlock(url="https://example.invalid/cat.png"),
        AudioBlock(audio=b"\x00\x01", format="wav"),
        ThinkingBlock(content="hmm"),
    ],
)
def test_non_text_blocks_raise_clear_error(block: Any) -> None:
    msg = ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="look"), block])
    with pytest.raises(
        ArkUnsupportedError, match=rf"messages\[0\] has a {type(block).__name__}.*text only"
    ):
        to_wire_messages([msg])


def test_trailing_assistant_raises() -> None:
    with pytest.raises(ArkInputError, match="ends with an assistant message"):
        to_wire_messages([user("q"), ChatMessage(role="assistant", content="a")])


def test_empty_conversation_raises() -> None:
    with pytest.raises(ArkInputError, match="empty"):
        to_wire_messages([])


def test_non_chat_message_raises() -> None:
    with pytest.raises(ArkUnsupportedError, match="ChatMessage"):
        to_wire_messages([{"role": "user", "content": "hi"}])  # type: ignore[list-item]


# -- request seam -------------------------------------------------------------------------


def test_request_merges_fields_kwargs_and_overrides() -> None:
    llm = make_llm(temperature=0.3, max_tokens=64, stop=["\n\n"])
    wire, params = llm._request([user("q")], {"temperature": 0.9, "top_p": None})
    assert wire == [{"role": "user", "content": "q"}]
    assert params == {"temperature": 0.9, "max_tokens": 64, "stop": ["\n\n"]}
    _, params = llm._request([user("q")], {"stop": ["END"]})
    assert params["stop"] == ["END"]


def test_request_sends_only_set_fields() -> None:
    _, params = make_llm()._request([user("q")], {})
    assert params == {}


def test_request_passes_tools_and_formats_to_the_router() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    fields = {"tools": [tool], "tool_choice": "auto", "response_format": {"type": "json_object"}}
    _, params = make_llm()._request([user("q")], dict(fields))
    assert params == fields


def test_unknown_constructor_kwarg_raises_and_additional_kwargs_sends_it() -> None:
    with pytest.raises(ArkConfigError, match=r"'seed'.*additional_kwargs=\{\.\.\.\}"):
        make_llm(seed=7)
    llm = make_llm(additional_kwargs={"seed": 7})
    assert llm.model_kwargs == {"seed": 7}
    assert llm._request([user("q")], {})[1] == {"seed": 7}


def test_env_vars_fill_model_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARK_MODEL", "ep-env")
    monkeypatch.setenv("ARK_API_KEY", SECRET)
    monkeypatch.setenv("ARK_BASE_URL", "http://127.0.0.1:9/api/v3/")
    llm = ArkContextLLM()
    assert llm.model == "ep-env"
    assert llm.api_key is not None and llm.api_key.get_secret_value() == SECRET
    assert llm.base_url == "http://127.0.0.1:9/api/v3"


def test_missing_key_fails_at_call_naming_the_setting() -> None:
    llm = ArkContextLLM(model="ep-x")
    with pytest.raises(ArkConfigError, match="ARK_API_KEY"):
        llm.chat([user("q")])


def test_missing_model_fails_at_call_naming_the_setting() -> None:
    llm = ArkContextLLM(api_key=SECRET)
    with pytest.raises(ArkConfigError, match="ARK_MODEL"):
        llm.complete("q")


def test_bad_input_fails_before_the_stream_starts() -> None:
    llm = make_llm()
    with pytest.raises(ArkUnsupportedError):
        llm.stream_chat([ChatMessage(role="function", content="x")])


async def test_bad_input_fails_before_the_async_stream_starts() -> None:
    llm = make_llm()
    with pytest.raises(ArkInputError):
        await llm.astream_chat([user("q"), ChatMessage(role="assistant", content="a")])


# -- metadata -----------------------------------------------------------------------------


def test_metadata_defaults() -> None:
    md = make_llm().metadata
    assert md.context_window == 32768
    assert md.num_output == 4096
    assert md.is_chat_model is True
    assert md.is_function_calling_model is True
    assert md.model_name == "ep-unit"


def test_metadata_follows_settings() -> None:
    md = make_llm(context_window=128000, max_tokens=512, model="ep-big").metadata
    assert (md.context_window, md.num_output, md.model_name) == (128000, 512, "ep-big")


def test_context_window_comes_from_the_model_table_unless_set() -> None:
    """LlamaIndex packs prompts up to ``context_window - num_output``: on a Model ID the
    table knows, that is the model's longest prompt; an endpoint id keeps 32768."""
    from ark_context.catalog import lookup

    limits = lookup("deepseek-v3-2-251201").limits  # type: ignore[union-attr]
    assert limits is not None
    md = make_llm(model="deepseek-v3-2-251201", max_tokens=1000).metadata
    assert md.context_window - md.num_output == limits.max_input == 96 * 1024
    seed = make_llm(model="doubao-seed-1-6-251015").metadata
    assert seed.context_window - seed.num_output == 224 * 1024
    assert seed.context_window <= 256 * 1024
    assert make_llm(model="doubao-seed-1-6-251015", context_window=9000).context_window == 9000


def test_a_context_window_from_the_table_follows_later_changes() -> None:
    """``max_tokens`` or ``model`` set after construction (or by ``model_copy``) moves the
    window with them, so packing never exceeds the model's longest prompt; a window the
    caller set stays as set."""
    llm = make_llm(model="doubao-seed-1-6-251015")
    llm.max_tokens = 1000
    md = llm.metadata
    assert md.context_window - md.num_output == 224 * 1024
    other = make_llm(model="doubao-seed-1-6-251015").model_copy(
        update={"model": "deepseek-v3-2-251201"}
    )
    md = other.metadata
    assert md.context_window - md.num_output == 96 * 1024
    endpoint = make_llm(model="deepseek-v3-2-251201").model_copy(update={"model": "ep-1"})
    assert endpoint.metadata.context_window == 32768
    fixed = make_llm(model="doubao-seed-1-6-251015")
    fixed.context_window = 9000
    fixed.model = "deepseek-v3-2-251201"
    assert fixed.metadata.context_window == 9000


def test_metadata_never_raises_without_model_or_key() -> None:
    md = ArkContextLLM().metadata
    assert md.model_name == "unknown"


def test_metadata_never_raises_after_a_bad_assignment() -> None:
    llm = make_llm()
    llm.max_tokens = "lots"  # type: ignore[assignment]  # no validate_assignment in LlamaIndex
    assert llm.metadata.num_output == "lots"
    with pytest.warns(UserWarning, match="serializ"):  # pydantic notices, but nothing raises
        assert llm.to_payload()["class_name"] == "ArkContextLLM"


@pytest.mark.parametrize(
    ("kw", "names"),
    [
        ({"context_window": 0}, "context_window"),
        ({"ttl": 5}, "ttl"),
        ({"mode": "sessions"}, "mode"),
        ({"temperature": "hot"}, "temperature"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        (
            {"truncation_strategy": {"type": "last_history_tokens"}, "mode": "common_prefix"},
            "session",
        ),
    ],
)
def test_bad_settings_raise_config_error_naming_the_setting(kw: dict[str, Any], names: str) -> None:
    with pytest.raises(ArkConfigError, match=names):
        make_llm(**kw)


# -- secrets ------------------------------------------------------------------------------


def test_secret_never_serialised_or_printed() -> None:
    llm = make_llm(mode="common_prefix")
    outputs = [
        repr(llm),
        str(llm),
        json.dumps(llm.to_dict()),
        llm.to_json(),
        json.dumps(llm.to_payload(), default=str),
        llm.model_dump_json(),
        str(llm.model_dump()),
        json.dumps(llm.metadata.model_dump(), default=str),
    ]
    for out in outputs:
        assert SECRET not in out
    assert "api_key" not in llm.to_dict()
    assert "api_key" not in json.loads(llm.to_json())
    assert llm.to_dict()["class_name"] == "ArkContextLLM"
    assert llm.to_dict()["mode"] == "common_prefix"


def test_secret_not_in_callback_payloads() -> None:
    llm = make_llm()
    payload = llm.to_payload()
    assert payload["class_name"] == "ArkContextLLM"
    assert payload["model_name"] == "ep-unit"
    assert SECRET not in repr(payload)


def test_from_json_round_trip_keeps_settings_not_key(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = make_llm(mode="common_prefix", temperature=0.1, context_window=8000)
    back = ArkContextLLM.from_json(llm.to_json())
    assert (back.mode, back.temperature, back.context_window) == ("common_prefix", 0.1, 8000)
    assert back.api_key is None  # never serialised; comes from ARK_API_KEY or the argument


def test_pickle_keeps_working_settings() -> None:
    llm = make_llm(mode="common_prefix")
    back = pickle.loads(pickle.dumps(llm))
    assert back.mode == "common_prefix"
    assert back.api_key is not None and back.api_key.get_secret_value() == SECRET


def test_pickling_a_used_llm_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Its routers (clients, locks) are left out of a pickle by design: LlamaIndex's
    ``BaseComponent`` must not log that it removed an "unpickleable private attribute"."""
    llm = make_llm(mode="session")
    router = llm.ark_router()  # what the first call builds (no request is sent)
    with caplog.at_level(logging.WARNING):
        back = pickle.loads(pickle.dumps(llm))
    assert [r.getMessage() for r in caplog.records] == []
    assert llm.ark_router() is router  # the original keeps its routers
    assert back.ark_router() is not router and back.ark_router() is back.ark_router()


def test_config_error_does_not_echo_the_key() -> None:
    with pytest.raises(ArkConfigError) as info:
        make_llm(ttl=5)
    assert SECRET not in str(info.value)
    with pytest.raises(ArkConfigError) as info:
        make_llm(temperature="hot", default_headers={"x": SECRET + "-not-a-dict-value", "y": 1})
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# -- response translation -----------------------------------------------------------------

ARK_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "doubao-1-5-pro-32k-250115",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {
        "prompt_tokens": 28,
        "completion_tokens": 3,
        "total_tokens": 31,
        "prompt_tokens_details": {"cached_tokens": 18},
    },
}


def routed(
    body: dict[str, Any], outcome: str = "reused", ctx: str | None = "ctx-1"
) -> RoutedCompletion:
    route = RouteInfo(outcome=outcome, reason=None, context_id=ctx, mode="common_prefix")  # type: ignore[arg-type]
    return RoutedCompletion(ChatCompletion.model_validate(body), route)


def test_chat_response_carries_raw_usage_and_flat_kwargs() -> None:
    resp = to_chat_response(routed(ARK_RESPONSE))
    assert resp.message.role == MessageRole.ASSISTANT
    assert resp.message.content == "Paris."
    assert resp.raw["usage"]["prompt_tokens_details"]["cached_tokens"] == 18
    assert resp.raw["model"] == "doubao-1-5-pro-32k-250115"
    extra = resp.additional_kwargs
    assert (extra["prompt_tokens"], extra["completion_tokens"], extra["total_tokens"]) == (
        28,
        3,
        31,
    )
    assert extra["cached_tokens"] == 18
    assert (extra["context_id"], extra["context_outcome"]) == ("ctx-1", "reused")
    assert "context_miss_reason" in extra
    assert resp.message.additional_kwargs == {}
    # what TokenCountingHandler reads
    assert get_tokens_from_response(resp) == (28, 3)


def test_chat_response_logprobs() -> None:
    body = json.loads(json.dumps(ARK_RESPONSE))
    body["choices"][0]["logprobs"] = {
        "content": [
            {
                "token": "Par",
                "logprob": -0.1,
                "bytes": [80, 97, 114],
                "top_logprobs": [
                    {"token": "Par", "logprob": -0.1, "bytes": [80, 97, 114]},
                    {"token": "Lon", "logprob": -2.5, "bytes": None},
                ],
            },
            {"token": "is", "logprob": -0.01},
        ]
    }
    resp = to_chat_response(routed(body))
    assert resp.logprobs is not None
    assert [lp.token for lp in resp.logprobs[0]] == ["Par", "Lon"]
    assert resp.logprobs[0][1].bytes == []
    assert [(lp.token, lp.logprob) for lp in resp.logprobs[1]] == [("is", -0.01)]


def test_last_stream_response_carries_usage_in_raw_and_kwargs() -> None:
    meta = {"context_id": "ctx-9", "context_outcome": "created"}
    stream = _Stream(_chunks("Paris.", ARK_RESPONSE["usage"]))
    deltas = list(stream.deltas())
    state = StreamState()
    first = next(r for r in (_chunk(state, d, meta) for d in deltas[:-1]) if r is not None)
    assert (first.delta, first.message.content) == ("Par", "Par")
    assert "prompt_tokens" not in first.additional_kwargs
    assert first.additional_kwargs["context_id"] == "ctx-9"
    final = deltas[-1].result
    assert final is not None
    resp = _final_response(final, stream.usage, meta)
    assert resp.delta == ""
    assert resp.message.content == "Paris."
    assert resp.raw["usage"]["prompt_tokens"] == 28
    assert resp.additional_kwargs["cached_tokens"] == 18
    assert resp.additional_kwargs["context_id"] == "ctx-9"
    assert get_tokens_from_response(resp) == (28, 3)


# -- the 8 public methods over a router double ----------------------------------------------


def _chunks(text: str, usage: dict[str, Any]) -> list[ChatCompletionChunk]:
    out = [
        ChatCompletionChunk.model_validate(
            {"id": "s", "model": "m", "choices": [{"index": 0, "delta": {"content": part}}]}
        )
        for part in (text[:3], text[3:])
    ]
    out.append(
        ChatCompletionChunk.model_validate({"id": "s", "model": "m", "choices": [], "usage": usage})
    )
    return out


class _Stream:
    """A routed stream double: ``deltas()`` as the router gives them for these chunks."""

    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self.route = RouteInfo(outcome="created", reason="new", context_id="ctx-s", mode="session")
        self.usage: Usage | None = None
        self._chunks = chunks

    def _deltas(self) -> list[StreamDelta]:
        acc = ChatCompletionStreamAccumulator()
        out = [d for c in self._chunks for d in acc.feed(c.model_dump())]
        out.append(acc.finish())
        self.usage = next((c.usage for c in self._chunks if c.usage is not None), None)
        return out

    def deltas(self) -> Iterator[StreamDelta]:
        return iter(self._deltas())


class _AsyncStream(_Stream):
    async def _adeltas(self) -> AsyncIterator[StreamDelta]:
        for d in self._deltas():
            yield d

    def deltas(self) -> AsyncIterator[StreamDelta]:  # type: ignore[override]
        return self._adeltas()


class RouterDouble:
    """Speaks the router contract; records what the adapter sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[dict[str, str]], dict[str, Any], Any]] = []

    def chat(
        self, messages: list[dict[str, str]], params: dict[str, Any], request_id: Any = None
    ) -> RoutedCompletion:
        self.calls.append(("chat", messages, params, None))
        return routed(ARK_RESPONSE)

    async def achat(
        self, messages: list[dict[str, str]], params: dict[str, Any], request_id: Any = None
    ) -> RoutedCompletion:
        self.calls.append(("achat", messages, params, None))
        return routed(ARK_RESPONSE)

    @contextmanager
    def stream(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        *,
        include_usage: bool,
        request_id: Any = None,
    ) -> Iterator[_Stream]:
        self.calls.append(("stream", messages, params, include_usage))
        yield _Stream(_chunks("Paris.", ARK_RESPONSE["usage"]))

    @asynccontextmanager
    async def astream(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        *,
        include_usage: bool,
        request_id: Any = None,
    ) -> AsyncIterator[_Stream]:
        self.calls.append(("astream", messages, params, include_usage))
        yield _AsyncStream(_chunks("Paris.", ARK_RESPONSE["usage"]))


class EventCounter(BaseEventHandler):
    counts: dict[str, int] = {}

    @classmethod
    def class_name(cls) -> str:
        return "EventCounter"

    def handle(self, event: Any, **kwargs: Any) -> None:
        name = type(event).__name__
        if isinstance(
            event,
            (LLMChatStartEvent, LLMChatEndEvent, LLMCompletionStartEvent, LLMCompletionEndEvent),
        ):
            self.counts[name] = self.counts.get(name, 0) + 1


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> RouterDouble:
    d = RouterDouble()
    monkeypatch.setattr(ArkContextLLM, "ark_router", lambda self, model=None: d)
    return d


@pytest.fixture
def events() -> Iterator[EventCounter]:
    h = EventCounter(counts={})
    root = get_dispatcher()
    root.add_event_handler(h)
    yield h
    root.event_handlers = [x for x in root.event_handlers if x is not h]


async def _drain(gen: Any) -> list[Any]:
    return [x async for x in gen]


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("chat", "Chat"),
        ("stream_chat", "Chat"),
        ("achat", "Chat"),
        ("astream_chat", "Chat"),
        ("complete", "Completion"),
        ("stream_complete", "Completion"),
        ("acomplete", "Completion"),
        ("astream_complete", "Completion"),
    ],
)
async def test_each_public_method_fires_one_event_pair_and_exact_tokens(
    method: str, kind: str, double: RouterDouble, events: EventCounter
) -> None:
    tokens = TokenCountingHandler(tokenizer=lambda s: ["t"] * 1000)  # estimates would be huge
    llm = make_llm(callback_manager=CallbackManager([tokens]), temperature=0.5)
    arg: Any = (
        "What is the capital of France?" if kind == "Completion" else [user("Capital of France?")]
    )
    result = getattr(llm, method)(arg, max_tokens=10)
    if hasattr(result, "__await__"):
        result = await result
    if hasattr(result, "__aiter__"):
        items = await _drain(result)
    elif hasattr(result, "__next__"):
        items = list(result)
    else:
        items = [result]
    last = items[-1]
    text = last.text if kind == "Completion" else last.message.content
    assert text == "Paris."
    assert last.raw["usage"]["prompt_tokens_details"]["cached_tokens"] == 18
    assert last.additional_kwargs["cached_tokens"] == 18
    assert events.counts == {f"LLM{kind}StartEvent": 1, f"LLM{kind}EndEvent": 1}
    assert len(tokens.llm_token_counts) == 1
    assert (tokens.prompt_llm_token_count, tokens.completion_llm_token_count) == (28, 3)
    assert len(double.calls) == 1
    _, sent, params, include_usage = double.calls[0]
    assert sent[-1]["role"] == "user"
    assert params == {"temperature": 0.5, "max_tokens": 10}
    if "stream" in method:
        assert include_usage is True
        assert "".join(i.delta for i in items) == "Paris."


def test_stream_usage_false_is_passed_to_router(double: RouterDouble) -> None:
    list(make_llm(stream_usage=False).stream_chat([user("q")]))
    assert double.calls[0][3] is False


def test_predict_goes_through_one_chat_event(double: RouterDouble, events: EventCounter) -> None:
    from llama_index.core.prompts import PromptTemplate

    out = make_llm(system_prompt="Be brief.").predict(PromptTemplate("Capital of {c}?"), c="France")
    assert out == "Paris."
    assert events.counts == {"LLMChatStartEvent": 1, "LLMChatEndEvent": 1}
    assert double.calls[0][1] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]


async def test_cached_token_counter_totals_per_model(double: RouterDouble) -> None:
    with CachedTokenCounter() as counter:
        llm = make_llm(model="ep-a")
        llm.chat([user("q")])
        list(llm.stream_complete("q"))
        await llm.acomplete("q")
        await _drain(await make_llm(model="ep-b").astream_chat([user("q")]))
    make_llm(model="ep-a").chat([user("after detach")])
    by_model = counter.by_model
    assert set(by_model) == {"ep-a", "ep-b"}
    assert (by_model["ep-a"].calls, by_model["ep-a"].cached_tokens) == (3, 54)
    assert (by_model["ep-b"].calls, by_model["ep-b"].cached_tokens) == (1, 18)
    assert by_model["ep-a"].prompt_tokens == 84 and by_model["ep-a"].completion_tokens == 9
    assert counter.cached_tokens == 72
    assert counter.prompt_tokens == 112
    counter.reset()
    assert counter.cached_tokens == 0 and counter.by_model == {}


def test_cached_token_counter_reads_object_usage_and_kwargs() -> None:
    from types import SimpleNamespace

    from llama_index.core.base.llms.types import ChatResponse

    from llama_index_ark_context.usage import response_usage

    obj = SimpleNamespace(
        usage=SimpleNamespace(
            prompt_tokens=10,
            completion_tokens=2,
            prompt_tokens_details=SimpleNamespace(cached_tokens=4),
        )
    )
    assert response_usage(ChatResponse(message=ChatMessage(content="x"), raw=obj)) == (10, 2, 4, 0)
    flat = ChatResponse(
        message=ChatMessage(content="x"),
        additional_kwargs={"prompt_tokens": 5, "completion_tokens": 1},
    )
    assert response_usage(flat) == (5, 1, 0, 0)
    assert response_usage(ChatResponse(message=ChatMessage(content="x"))) is None
    assert response_usage(None) is None


def test_cached_token_counter_skips_a_structured_llms_output_with_a_usage_field() -> None:
    """``as_structured_llm`` reports its own end event whose ``raw`` is the caller's output
    model; a field of it named ``usage`` is no token usage (the inner call counted)."""
    from llama_index.core.base.llms.types import ChatResponse
    from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
    from pydantic import BaseModel

    from llama_index_ark_context.usage import response_usage

    class Medication(BaseModel):
        name: str
        usage: str

    class Counted(BaseModel):
        usage: int

    message = ChatMessage(content="x")
    for raw in (Medication(name="aspirin", usage="twice a day"), Counted(usage=7)):
        response = ChatResponse(message=message, raw=raw)
        assert response_usage(response) is None
        counter = CachedTokenCounter()
        counter.handle(LLMChatEndEvent(messages=[message], response=response))
        assert counter.by_model == {}
    mapping = {"usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    assert response_usage(ChatResponse(message=message, raw=mapping)) == (3, 1, 0, 0)


def test_structured_predict_keeps_the_context_cache_on_the_context_api() -> None:
    from llama_index.core.types import PydanticProgramMode

    # Context API: the schema goes in the prompt (cached), not as a tool (plain, uncached)
    assert make_llm().pydantic_program_mode == PydanticProgramMode.LLM
    # Responses API: by function calling, which the chain caches
    responses = ArkContextLLM(model="doubao-seed-1-6-251015", api_key=SECRET)
    assert responses.pydantic_program_mode == PydanticProgramMode.DEFAULT
    assert responses.metadata.is_function_calling_model
    chosen = make_llm(pydantic_program_mode=PydanticProgramMode.FUNCTION)
    assert chosen.pydantic_program_mode == PydanticProgramMode.FUNCTION
