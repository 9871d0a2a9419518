"""Conformance: the official SDK (volcengine-ark-runtime) drives the emulator over loopback.

The SDK sends explicit nulls for every unset field and generates an X-Client-Request-Id;
retries are disabled (max_retries=0) so every fault reaches the test exactly once.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import httpx
import pytest
from volcenginesdkarkruntime import Ark, AsyncArk
from volcenginesdkarkruntime._exceptions import (
    ArkAPIConnectionError,
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkInternalServerError,
    ArkNotFoundError,
    ArkPermissionDeniedError,
    ArkRateLimitError,
)

from ark_context.emulator import Emulator, message_tokens, run_emulator

pytestmark = pytest.mark.integration

MODEL = "ep-sdk"
KEY = "sdk-key"
QUESTION = "你是谁\uff1f"  # full-width question mark, as in the seed example
SYSTEM = {"role": "system", "content": "你是豆包,是由字节跳动开发的 AI 人工智能助手"}


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with run_emulator(api_keys={KEY}) as e:
        yield e


@pytest.fixture
def ark(emu: Emulator) -> Iterator[Ark]:
    emu.reset()
    client = Ark(base_url=emu.base_url, api_key=KEY, max_retries=0, timeout=10)
    yield client
    client.close()


def test_create_and_chat_non_streaming(ark: Ark, emu: Emulator):
    created = ark.context.create(
        model=MODEL,
        messages=[SYSTEM],
        ttl=datetime.timedelta(hours=1),
        truncation_strategy={"type": "last_history_tokens", "last_history_tokens": 4096},
    )
    assert created.id.startswith("ctx-")
    assert created.ttl == 3600
    assert created.mode == "session"
    assert created.truncation_strategy.type == "last_history_tokens"
    assert created.truncation_strategy.last_history_tokens == 4096
    sys_tokens = message_tokens(SYSTEM)
    out = ark.context.completions.create(
        context_id=created.id, model=MODEL, messages=[{"role": "user", "content": QUESTION}]
    )
    assert out.object == "chat.completion"
    assert out.choices[0].finish_reason == "stop"
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content.endswith("echo: " + QUESTION)
    assert out.usage is not None
    assert out.usage.prompt_tokens_details is not None
    assert out.usage.prompt_tokens_details.cached_tokens == sys_tokens
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    # the SDK sent nulls for every unset field; the emulator stored only the real message
    assert emu.context(created.id)["messages"][1] == {"role": "user", "content": QUESTION}  # type: ignore[index]


def test_streaming_with_usage(ark: Ark, emu: Emulator):
    created = ark.context.create(model=MODEL, messages=[SYSTEM], ttl=3600)
    stream = ark.context.completions.create(
        context_id=created.id,
        model=MODEL,
        messages=[{"role": "user", "content": "tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c for c in chunks if c.choices]
    assert len(content) > 3
    assert content[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in content)
    rec = emu.completions()[-1]
    assert text == rec["reply"]
    assert chunks[-1].usage.completion_tokens == rec["usage"]["completion_tokens"]


def test_common_prefix_create_parses(ark: Ark, emu: Emulator):
    created = ark.context.create(model=MODEL, messages=[SYSTEM], mode="common_prefix")
    assert created.mode == "common_prefix"
    for q in ("a", "b"):
        out = ark.context.completions.create(
            context_id=created.id, model=MODEL, messages=[{"role": "user", "content": q}]
        )
        assert out.choices[0].message.content.startswith("[saw 2 messages")
    assert emu.context(created.id)["messages"] == [SYSTEM]  # type: ignore[index]


def test_plain_chat_completions(ark: Ark):
    out = ark.chat.completions.create(
        model=MODEL, messages=[SYSTEM, {"role": "user", "content": "常见的十字花科植物有哪些?"}]
    )
    assert out.usage is not None and out.usage.prompt_tokens_details is not None
    assert out.usage.prompt_tokens_details.cached_tokens == 0
    chunks = list(
        ark.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_errors_raise_the_sdk_exception_classes(ark: Ark, emu: Emulator):
    created = ark.context.create(model=MODEL, messages=[SYSTEM])
    user = [{"role": "user", "content": "x"}]

    with pytest.raises(ArkNotFoundError) as nf:
        ark.context.completions.create(
            context_id="ctx-20250101000000-gone", model=MODEL, messages=user
        )
    assert nf.value.code == "NotFound.Context"
    assert nf.value.request_id  # the SDK's own X-Client-Request-Id, echoed back

    with pytest.raises(ArkBadRequestError) as bad:
        ark.context.completions.create(
            context_id=created.id,
            model=MODEL,
            messages=user,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    assert bad.value.code == "InvalidParameter.UnsupportedParameter"
    assert bad.value.param == "tools"

    with pytest.raises(ArkBadRequestError) as ttl:
        ark.context.create(model=MODEL, messages=[SYSTEM], ttl=datetime.timedelta(minutes=30))
    assert ttl.value.code == "InvalidParameter" and ttl.value.param == "ttl"

    with pytest.raises(ArkBadRequestError) as last:
        ark.context.completions.create(
            context_id=created.id, model=MODEL, messages=[{"role": "assistant", "content": "x"}]
        )
    assert last.value.param == "messages"

    wrong = Ark(base_url=emu.base_url, api_key="not-the-key", max_retries=0)
    with pytest.raises(ArkAuthenticationError) as auth:
        wrong.context.create(model=MODEL, messages=[SYSTEM])
    assert auth.value.code == "AuthenticationError"
    assert "not-the-key" not in str(auth.value)


@pytest.mark.parametrize(
    ("status", "exc", "code"),
    [
        (403, ArkPermissionDeniedError, "OperationDenied.InvalidState"),
        (429, ArkRateLimitError, "RateLimitExceeded.EndpointRPMExceeded"),
        (500, ArkInternalServerError, "InternalServiceError"),
        (502, ArkInternalServerError, "BadGateway"),
    ],
)
def test_status_faults_through_the_sdk(
    ark: Ark, emu: Emulator, status: int, exc: type[Exception], code: str
):
    created = ark.context.create(model=MODEL, messages=[SYSTEM])
    emu.inject_fault("/context/chat/completions", "status", status=status)
    with pytest.raises(exc) as err:
        ark.context.completions.create(
            context_id=created.id, model=MODEL, messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.code == code  # type: ignore[attr-defined]
    assert emu.context(created.id)["turns"] == 0  # type: ignore[index]


def test_drop_and_cut_stream_through_the_sdk(ark: Ark, emu: Emulator):
    created = ark.context.create(model=MODEL, messages=[SYSTEM])
    emu.inject_fault("/context/chat/completions", "drop")
    with pytest.raises(ArkAPIConnectionError):
        ark.context.completions.create(
            context_id=created.id, model=MODEL, messages=[{"role": "user", "content": "x"}]
        )
    emu.inject_fault("/context/chat/completions", "cut_stream", after_chunks=2)
    got = []
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in ark.context.completions.create(
            context_id=created.id,
            model=MODEL,
            messages=[{"role": "user", "content": "y"}],
            stream=True,
        ):
            got.append(chunk)
    assert len(got) == 2
    # both faulted requests were applied server-side: two turns, each exactly once
    ctx = emu.context(created.id)
    assert ctx is not None and ctx["turns"] == 2
    assert [m["content"] for m in ctx["messages"] if m["role"] == "user"] == ["x", "y"]


async def test_async_sdk(emu: Emulator):
    client = AsyncArk(base_url=emu.base_url, api_key=KEY, max_retries=0, timeout=10)
    created = await client.context.create(model=MODEL, messages=[SYSTEM])
    out = await client.context.completions.create(
        context_id=created.id, model=MODEL, messages=[{"role": "user", "content": "async"}]
    )
    assert out.choices[0].message.content.endswith("echo: async")
    stream = await client.context.completions.create(
        context_id=created.id,
        model=MODEL,
        messages=[{"role": "user", "content": "more"}],
        stream=True,
    )
    parts = [c.choices[0].delta.content async for c in stream if c.choices]
    assert "".join(p or "" for p in parts).endswith("echo: more")
    await client.close()
