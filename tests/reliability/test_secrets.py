"""The API key never shows: not in the repr/str/serialised form of any object that holds it,
and not in any error, even when a server echoes it back (every error shape the client can
build, through both adapters, formatted as a full traceback with chained causes and notes).

Integration tests (``tests/reliability/test_secrets_emulator.py``) scan DEBUG logs, run
traces, instrumentation events and the stores during real calls.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from langchain_core.language_models.chat_models import _generate_response_from_error
from langchain_core.load import dumpd, dumps
from langchain_core.messages import HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage

from ark_context import (
    ArkContextClient,
    ArkContextParams,
    ArkError,
    AsyncArkContextClient,
    InMemoryStore,
)
from ark_context._exceptions import redact
from ark_context.router import ContextRouter
from langchain_ark_context import ChatArkContext
from llama_index_ark_context import ArkContextLLM

KEY = "sk-SECRET-unit-5e9a0c7d21"
ENV_KEY = "sk-SECRET-env-77b3f0aa19"
BASE = "http://ark.test/api/v3"
SECRETS = (KEY, ENV_KEY)


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"the API key leaked into {where}: ...{_around(text, secret)}..."


def _around(text: str, secret: str) -> str:
    i = text.find(secret)
    return text[max(0, i - 60) : i + len(secret) + 20]


def full_traceback(err: BaseException) -> str:
    """The whole traceback: chained causes and contexts, ``__notes__``, and every attribute
    a logging or error-reporting tool would print (repr, args, body)."""
    parts = traceback.format_exception(err)
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        parts += [repr(e), str(e.args), str(getattr(e, "__notes__", ""))]
        parts += [repr(getattr(e, name, None)) for name in ("message", "body", "param", "code")]
        # What traceback printing and error reporters follow: the cause, else the context
        # unless it was suppressed (``raise ... from None``).
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARK_API_KEY", ENV_KEY)


# -- objects that hold the key --------------------------------------------------------------


def _models() -> Iterator[Any]:
    for cls in (ChatArkContext, ArkContextLLM):
        yield cls(model="ep-sec", api_key=KEY, base_url=BASE, store=InMemoryStore())
        yield cls(model="ep-sec", base_url=BASE, store=InMemoryStore())  # key from ARK_API_KEY


def test_models_never_show_the_key() -> None:
    for llm in _models():
        name = type(llm).__name__
        router = llm.ark_router()
        assert llm.ark_secret() in SECRETS  # the model really holds one of them
        surfaces = {
            "repr": repr(llm),
            "str": str(llm),
            "model_dump": str(llm.model_dump()),
            "model_dump_json": llm.model_dump_json(),
            "router repr": repr(router),
            "client repr": repr(router.client),
            "async client repr": repr(router.async_client),
        }
        if isinstance(llm, ChatArkContext):
            surfaces |= {
                "dumps": dumps(llm),
                "dumps pretty": dumps(llm, pretty=True),
                "dumpd": json.dumps(dumpd(llm)),
                "dict": json.dumps(llm.dict(), default=str),
                "identifying params": json.dumps(llm._identifying_params, default=str),
                "ls params": json.dumps(llm._get_ls_params(), default=str),
                "invocation params": json.dumps(llm._get_invocation_params(), default=str),
            }
            assert dumpd(llm)["kwargs"]["api_key"]["type"] == "secret"
        else:
            surfaces |= {
                "to_dict": json.dumps(llm.to_dict(), default=str),
                "to_json": llm.to_json(),
                "to_payload": json.dumps(llm.to_payload(), default=str),
                "metadata": llm.metadata.model_dump_json(),
            }
        for where, text in surfaces.items():
            assert_clean(text, f"{name} {where}")


def test_core_objects_never_show_the_key() -> None:
    params = ArkContextParams(model="ep-sec", api_key=KEY, base_url=BASE)
    client = ArkContextClient(api_key=KEY, base_url=BASE)
    aclient = AsyncArkContextClient(api_key=KEY, base_url=BASE)
    router = ContextRouter(model="ep-sec", api_key=KEY, base_url=BASE, store=InMemoryStore())
    for obj in (params, client, aclient, router, router.client, InMemoryStore()):
        assert_clean(repr(obj), f"repr({type(obj).__name__})")
        assert_clean(str(obj), f"str({type(obj).__name__})")
    assert_clean(params.model_dump_json(), "ArkContextParams.model_dump_json")
    assert "**" in repr(params)  # shown masked, not dropped silently


def test_redact_covers_keys_seen_anywhere() -> None:
    ChatArkContext(model="ep-sec", api_key="sk-SECRET-registered-0042", base_url=BASE)
    assert redact("echo sk-SECRET-registered-0042 back") == "echo *** back"


# -- errors, even when the server echoes the key ------------------------------------------------

CTX = {"id": "ctx-sec", "model": "ep-sec", "mode": "session", "ttl": 3600}
SSE = {"content-type": "text/event-stream"}


def answers(key: str) -> dict[str, dict[str, Any]]:
    """Every answer shape the client turns into an error, each echoing ``key``."""
    echo = f"invalid key {key}"
    return {
        "401-json": {
            "status_code": 401,
            "json": {"error": {"code": "AuthenticationError", "message": echo, "param": key}},
        },
        "400-param": {
            "status_code": 400,
            "json": {"error": {"code": "InvalidParameter", "message": echo, "param": key}},
        },
        "403-denied": {
            "status_code": 403,
            "json": {"error": {"code": "AccessDenied", "message": echo}},
        },
        "429-unwrapped": {
            "status_code": 429,
            "json": {"code": "RateLimitExceeded", "message": echo},
            "headers": {"retry-after": "0"},
        },
        "502-html": {
            "status_code": 502,
            "content": f"<html>{echo}</html>".encode(),
            "headers": {"content-type": "text/html"},
        },
        "404-text": {"status_code": 404, "content": echo.encode()},
        "200-error-object": {
            "status_code": 200,
            "json": {"error": {"code": "InternalServiceError", "message": echo}},
        },
        "200-malformed": {
            "status_code": 200,
            "content": f'{{"x": "{echo}"'.encode(),
            "headers": {"content-type": "application/json"},
        },
        "sse-error-event": {
            "status_code": 200,
            "headers": SSE,
            "content": (
                "data: "
                + json.dumps({"error": {"code": "InternalServiceError", "message": echo}})
                + "\n\n"
            ).encode(),
        },
        "sse-garbage": {
            "status_code": 200,
            "headers": SSE,
            "content": f"data: {echo}\n\ndata: [DONE]\n\n".encode(),
        },
        "sse-error-typed": {
            "status_code": 200,
            "headers": SSE,
            "content": f"event: error\ndata: {echo}\n\n".encode(),
        },
    }


def _call(llm: Any, method: str) -> None:
    if isinstance(llm, ChatArkContext):
        msgs: list[Any] = [SystemMessage("s"), HumanMessage("hi")]
        if method == "sync":
            llm.invoke(msgs)
        elif method == "stream":
            list(llm.stream(msgs))
        elif method == "async":
            asyncio.run(llm.ainvoke(msgs))
        else:

            async def go() -> None:
                async for _ in llm.astream(msgs):
                    pass

            asyncio.run(go())
        return
    msgs = [ChatMessage(role="system", content="s"), ChatMessage(role="user", content="hi")]
    if method == "sync":
        llm.chat(msgs)
    elif method == "stream":
        list(llm.stream_chat(msgs))
    elif method == "async":
        asyncio.run(llm.achat(msgs))
    else:

        async def go_li() -> None:
            async for _ in await llm.astream_chat(msgs):
                pass

        asyncio.run(go_li())


@pytest.mark.parametrize("adapter", [ChatArkContext, ArkContextLLM], ids=["langchain", "llama"])
@pytest.mark.parametrize("method", ["sync", "async", "stream", "astream"])
@pytest.mark.parametrize("answer", list(answers("")))
@pytest.mark.parametrize("key", ["argument", "env"])
def test_errors_never_show_the_key_even_when_echoed(
    adapter: type, method: str, answer: str, key: str
) -> None:
    settings: dict[str, Any] = {"model": "ep-sec", "base_url": BASE, "store": InMemoryStore()}
    settings["mode"] = "session"  # the scripted answers come from a session context
    if key == "argument":
        settings["api_key"] = KEY
    llm = adapter(**settings)
    secret = llm.ark_secret()
    assert secret == (KEY if key == "argument" else ENV_KEY)
    router = llm.ark_router()

    async def asleep(_s: float) -> None:
        return None

    router._sleep = router.client._sleep = lambda _s: None
    router._async_sleep = router.async_client._sleep = asleep
    with respx.mock(base_url=BASE) as mock:
        mock.post("/context/create").respond(200, json=CTX)
        route = mock.post("/context/chat/completions").respond(**answers(secret)[answer])
        with pytest.raises(ArkError) as info:
            _call(llm, method)
    assert route.call_count >= 1  # the server really answered with the key in it
    err = info.value
    assert_clean(full_traceback(err), f"the traceback of {type(err).__name__}")
    # The raw answer kept on the error is scrubbed too: LangChain copies its JSON body and
    # headers into the run's traced outputs (langchain_core's _generate_response_from_error).
    response = getattr(err, "response", None)
    checked = 0
    if response is not None:
        try:
            body = response.text
        except httpx.ResponseNotRead:  # a stream's answer: its body is not kept
            body = ""
        assert_clean(body, "error.response.text")
        checked = len(body)
    assert checked or "sse" in answer  # non-stream answers really kept a body to check
    traced = _generate_response_from_error(err)
    assert_clean(json.dumps([g.model_dump() for g in traced], default=repr), "a traced error")
    if type(err).__reduce__ is not BaseException.__reduce__:
        assert_clean(repr(pickle.loads(pickle.dumps(err))), "an unpickled error")
