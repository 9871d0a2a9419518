"""``ChatArkContext``: Volcengine Ark's Context API as a LangChain chat model.

This module only translates. LangChain messages become canonical wire messages
(``ark_context.wire_message``); the router in ``ark_context`` decides which context
serves the call; the completion comes back as an ``AIMessage`` with LangChain's usage
shape. Fields, defaults and environment variables live in
:class:`ark_context.ArkContextParams`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal, NoReturn, overload

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.language_models import LangSmithParams
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from ark_context import (
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextOverflowError,
    ArkContextParams,
    ArkError,
    ArkInputError,
    ArkNotFoundError,
    ArkPermissionError,
    ArkRateLimitError,
    ArkRouter,
    ArkServerError,
    ArkStream,
    ArkTimeoutError,
    ArkUnsupportedError,
    AsyncArkStream,
    ChatCompletionChunk,
    RoutedCompletion,
    RouteInfo,
    Usage,
    WireMessage,
    validate_conversation,
    wire_message,
)
from ark_context.costs import billed_usage

__all__ = ["ChatArkContext"]

_NO_TOOLS = (
    "The Ark Context API does not support tools, function calling or structured output "
    "(no tools/response_format on /context/chat/completions)."
)

# LangChain message ``type`` -> wire role. Chat messages carry their own role.
_ROLES = {
    "system": "system",
    "SystemMessageChunk": "system",
    "human": "user",
    "HumanMessageChunk": "user",
    "ai": "assistant",
    "AIMessageChunk": "assistant",
}
_TOOL_TYPES = frozenset({"tool", "ToolMessageChunk", "function", "FunctionMessageChunk"})


# -- messages -> wire ---------------------------------------------------------------------


def _to_wire(message: BaseMessage, index: int) -> WireMessage:
    where = f"messages[{index}]"
    kind = message.type
    role = _ROLES.get(kind)
    if role is None:
        if kind in ("chat", "ChatMessageChunk"):
            role = str(getattr(message, "role", ""))
        elif kind in _TOOL_TYPES:
            raise ArkUnsupportedError(f"{where} is a {type(message).__name__}. {_NO_TOOLS}")
        else:
            raise ArkInputError(
                f"{where} is a {type(message).__name__} (type {kind!r}); send System, Human, "
                "AI or Chat messages."
            )
    elif role == "assistant" and (
        getattr(message, "tool_calls", None)
        or getattr(message, "invalid_tool_calls", None)
        or message.additional_kwargs.get("tool_calls")
        or message.additional_kwargs.get("function_call")
    ):
        raise ArkUnsupportedError(f"{where} is an AIMessage with tool calls. {_NO_TOOLS}")
    return wire_message(role, message.content, message.name, where=where)


# Exact classes whose plain form (str content, no name, no tool calls) converts without
# the checks of ``_to_wire``: long histories are almost all such messages.
_PLAIN_ROLES: dict[type, str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
}


def _to_wire_messages(messages: Sequence[BaseMessage]) -> list[WireMessage]:
    wire: list[WireMessage] = []
    add = wire.append
    plain = _PLAIN_ROLES
    checked = True  # every message so far was built here from a plain message
    for i, m in enumerate(messages):
        role = plain.get(m.__class__)
        content = m.content
        if (
            role is not None
            and content.__class__ is str
            and not m.name
            and (
                role != "assistant"
                or not (m.additional_kwargs or m.tool_calls or m.invalid_tool_calls)  # type: ignore[attr-defined]
            )
        ):
            add({"role": role, "content": content})
        else:
            add(_to_wire(m, i))
            checked = False
    if not checked or not wire or wire[-1]["role"] == "assistant":
        validate_conversation(wire)  # plain messages need only the whole-conversation checks
    return wire


# -- completions -> LangChain ---------------------------------------------------------------


def _usage_metadata(usage: Usage, route: RouteInfo | None) -> UsageMetadata:
    """Ark usage + route -> LangChain ``UsageMetadata`` as billed: ``input_tokens`` counts
    cached tokens and the tokens billed for creating contexts during the call, which
    ``input_token_details`` splits out as ``cache_read`` and ``cache_creation``."""
    bill = billed_usage(usage, route.create_tokens if route is not None else 0)
    return UsageMetadata(
        input_tokens=bill.input_tokens,
        output_tokens=bill.output,
        total_tokens=bill.total_tokens,
        input_token_details=InputTokenDetails(
            cache_read=bill.cached_input, cache_creation=bill.creation
        ),
    )


def _chat_result(rc: RoutedCompletion, model: str) -> ChatResult:
    completion = rc.completion
    choice = completion.choices[0] if completion.choices else None
    model_name = completion.model or model
    meta: dict[str, Any] = {
        "model_name": model_name,
        "finish_reason": choice.finish_reason if choice else None,
        "id": completion.id or None,
        **rc.route.as_metadata(),
        "ark_usage": rc.usage.as_dict(),  # Ark's usage as returned (no creation tokens)
    }
    info: dict[str, Any] = {"finish_reason": meta["finish_reason"]}
    if choice is not None and choice.logprobs is not None:
        meta["logprobs"] = info["logprobs"] = choice.logprobs
    message = AIMessage(
        content=completion.text,
        id=completion.id or None,
        usage_metadata=_usage_metadata(rc.usage, rc.route),
        response_metadata=meta,
    )
    return ChatResult(
        generations=[ChatGeneration(message=message, generation_info=info)],
        llm_output={"token_usage": rc.usage.as_dict(), "model_name": model_name, "id": meta["id"]},
    )


class _ChunkMapper:
    """Turns one stream's ``ChatCompletionChunk``s into ``ChatGenerationChunk``s.

    Content chunks carry text (and ``finish_reason``/``logprobs`` where the server sent
    them). :meth:`last` builds the one closing chunk: usage (when the server sent it),
    ``model_name`` and the route, so exactly one chunk carries ``input_tokens``."""

    __slots__ = ("id", "model_name", "usage")

    def __init__(self, model: str) -> None:
        self.model_name = model
        self.id: str | None = None
        self.usage: Usage | None = None

    def map(self, chunk: ChatCompletionChunk) -> ChatGenerationChunk | None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.model:
            self.model_name = chunk.model
        if chunk.id:
            self.id = chunk.id
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        text = choice.delta.content or ""
        meta: dict[str, Any] = {}
        if choice.finish_reason:
            meta["finish_reason"] = choice.finish_reason
        if choice.logprobs is not None:
            meta["logprobs"] = choice.logprobs
        if not text and not meta:
            return None
        return ChatGenerationChunk(
            message=AIMessageChunk(content=text, id=self.id, response_metadata=meta),
            generation_info=meta or None,
        )

    def last(self, route: RouteInfo | None) -> ChatGenerationChunk:
        meta: dict[str, Any] = {"model_name": self.model_name, "id": self.id}
        if route is not None:
            meta.update(route.as_metadata())
        if self.usage is not None:
            meta["ark_usage"] = self.usage.as_dict()
        usage = _usage_metadata(self.usage, route) if self.usage is not None else None
        message = AIMessageChunk(
            content="",
            id=self.id,
            usage_metadata=usage,
            response_metadata=meta,
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message)


# -- errors ---------------------------------------------------------------------------------
# Each class is both the ark_context error and the LangChain one, so ``except`` on either
# works; the original ark_context error stays reachable as ``__cause__``.


class ArkContextOverflowModelError(ArkContextOverflowError, ContextOverflowError):
    """The prompt exceeds the model's context window (Ark ``OutofContextError``)."""


class ArkInvalidRequestModelError(ArkBadRequestError, ModelInvalidRequestError):
    """Ark rejected the request as invalid (400)."""


class ArkAuthenticationModelError(ArkAuthenticationError, ModelAuthenticationError):
    """The API key was rejected (401); check ``api_key`` / ``ARK_API_KEY``."""


class ArkPermissionDeniedModelError(ArkPermissionError, ModelPermissionDeniedError):
    """The account may not do this (403)."""


class ArkNotFoundModelError(ArkNotFoundError, ModelNotFoundError):
    """The endpoint or model was not found (404)."""


class ArkRateLimitModelError(ArkRateLimitError, ModelRateLimitError):
    """Rate limited (429) after the client's retries."""


class ArkServerModelError(ArkServerError, ModelAPIError):
    """The server failed (5xx) after the client's retries."""


class ArkTimeoutModelError(ArkTimeoutError, ModelTimeoutError):
    """The request timed out (setting: ``timeout``)."""


class ArkConnectionModelError(ArkConnectionError, ModelConnectionError):
    """The connection failed."""


_ERROR_MAP: tuple[tuple[type[ArkError], type[ArkError]], ...] = (
    (ArkContextOverflowError, ArkContextOverflowModelError),
    (ArkBadRequestError, ArkInvalidRequestModelError),
    (ArkAuthenticationError, ArkAuthenticationModelError),
    (ArkPermissionError, ArkPermissionDeniedModelError),
    (ArkNotFoundError, ArkNotFoundModelError),
    (ArkRateLimitError, ArkRateLimitModelError),
    (ArkServerError, ArkServerModelError),
    (ArkTimeoutError, ArkTimeoutModelError),
    (ArkConnectionError, ArkConnectionModelError),
)


def _langchain_error(err: ArkError) -> ArkError:
    """The LangChain-typed twin of ``err`` (same attributes), or ``err`` when none fits."""
    if isinstance(err, ArkContextBusyError):
        return err  # a 403 that means "busy", not "forbidden": no LangChain type fits
    target: type[ArkError] | None = None
    for ark_type, lc_type in _ERROR_MAP:
        if isinstance(err, ark_type):
            target = lc_type
            break
    if target is None or isinstance(err, target):
        return err
    twin = target.__new__(target)
    twin.__dict__.update(err.__dict__)
    twin.args = err.args
    return twin


def _reraise(err: ArkError) -> NoReturn:
    twin = _langchain_error(err)
    if twin is err:
        raise err
    raise twin from err


# -- the chat model -------------------------------------------------------------------------


class ChatArkContext(ArkContextParams, BaseChatModel):
    """Chat model on Volcengine Ark's Context API: pass the whole history every call,
    pay for the new turn while the rest is served from a server-side cache.

    Example (against the local emulator)::

        from ark_context.emulator import run_emulator
        from langchain_ark_context import ChatArkContext

        with run_emulator() as emu:
            llm = ChatArkContext(model="ep-demo", api_key="k", base_url=emu.base_url)
            history = [("system", "Be brief."), ("human", "Hi")]
            history += [llm.invoke(history), ("human", "And again?")]
            print(llm.invoke(history).response_metadata["context_outcome"])  # reused
    """

    streaming: bool = Field(
        default=False,
        description="LangChain: when True, `invoke` streams under the hood (tokens reach "
        "callbacks).",
    )

    # -- LangChain plumbing -------------------------------------------------------------

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "ARK_API_KEY"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_ark_context", "chat_models"]

    @property
    def _llm_type(self) -> str:
        return "ark-context"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What identifies this model in traces and caches (never the API key)."""
        return {
            "model": self.model,
            "base_url": self.base_url,
            "mode": self.mode,
            "ttl": self.ttl,
            "truncation_strategy": self.truncation_strategy,
            "prefix_messages": self.prefix_messages,
            **self.ark_sampling_params(),
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="ark",
            ls_model_name=kwargs.get("model") or self.model,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop = stop or kwargs.get("stop") or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    def _combine_llm_outputs(self, llm_outputs: list[dict[str, Any] | None]) -> dict[str, Any]:
        """``generate()`` over several prompts: token counts add up, per key."""
        usage: dict[str, int] = {}
        model_name = self.model
        for out in llm_outputs:
            if out:
                for k, v in out.get("token_usage", {}).items():
                    usage[k] = usage.get(k, 0) + v
                model_name = out.get("model_name") or model_name
        return {"token_usage": usage, "model_name": model_name}

    # -- the seam unit tests call ---------------------------------------------------------

    def _get_request_payload(
        self, messages: Sequence[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> tuple[list[WireMessage], dict[str, Any]]:
        """Wire messages and request fields for one call (what the router sends).

        ``model``, ``stream``, ``stream_usage`` and ``request_id`` (sent as the
        ``X-Client-Request-Id`` header) are call options, not request fields."""
        for option in ("model", "stream", "stream_usage", "request_id"):
            kwargs.pop(option, None)
        wire = _to_wire_messages(messages)
        params = self.ark_sampling_params(stop, **kwargs)
        return wire, params

    def _router(self, model: str | None) -> ArkRouter:
        """The router for ``model`` (a per-call override gets its own, built once)."""
        return self.ark_router(model)

    # -- calls ----------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        model = kwargs.get("model") or self.model
        try:
            wire, params = self._get_request_payload(messages, stop, **kwargs)
            rc = self._router(model).chat(wire, params, request_id=kwargs.get("request_id"))
        except ArkError as err:
            _reraise(err)
        return _chat_result(rc, model)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        model = kwargs.get("model") or self.model
        try:
            wire, params = self._get_request_payload(messages, stop, **kwargs)
            rid = kwargs.get("request_id")
            rc = await self._router(model).achat(wire, params, request_id=rid)
        except ArkError as err:
            _reraise(err)
        return _chat_result(rc, model)

    @overload
    def _stream_call(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        is_async: Literal[False],
    ) -> tuple[_ChunkMapper, ArkStream]: ...

    @overload
    def _stream_call(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        is_async: Literal[True],
    ) -> tuple[_ChunkMapper, AsyncArkStream]: ...

    def _stream_call(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        is_async: bool,
    ) -> tuple[_ChunkMapper, ArkStream | AsyncArkStream]:
        """The chunk mapper and the (not yet opened) routed stream for one call."""
        model = kwargs.get("model") or self.model
        include_usage = kwargs.get("stream_usage")
        if include_usage is None:
            include_usage = self.stream_usage
        wire, params = self._get_request_payload(messages, stop, **kwargs)
        router = self._router(model)
        opener = router.astream if is_async else router.stream
        stream = opener(
            wire, params, include_usage=include_usage, request_id=kwargs.get("request_id")
        )
        return _ChunkMapper(model), stream

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        try:
            mapper, stream = self._stream_call(messages, stop, kwargs, is_async=False)
            with stream as s:
                for raw in s:
                    gen = mapper.map(raw)
                    if gen is not None:
                        if run_manager is not None:
                            run_manager.on_llm_new_token(gen.text, chunk=gen)
                        yield gen
                route = s.route
        except ArkError as err:
            _reraise(err)
        gen = mapper.last(route)
        if run_manager is not None:
            run_manager.on_llm_new_token(gen.text, chunk=gen)
        yield gen

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        try:
            mapper, stream = self._stream_call(messages, stop, kwargs, is_async=True)
            async with stream as s:
                async for raw in s:
                    gen = mapper.map(raw)
                    if gen is not None:
                        if run_manager is not None:
                            await run_manager.on_llm_new_token(gen.text, chunk=gen)
                        yield gen
                route = s.route
        except ArkError as err:
            _reraise(err)
        gen = mapper.last(route)
        if run_manager is not None:
            await run_manager.on_llm_new_token(gen.text, chunk=gen)
        yield gen

    # -- what the Context API cannot do ------------------------------------------------------

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        """Not supported: raises :class:`ark_context.ArkUnsupportedError` (a ``NotImplementedError``)."""
        raise ArkUnsupportedError(f"ChatArkContext.bind_tools: {_NO_TOOLS}")

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Any:
        """Not supported: raises :class:`ark_context.ArkUnsupportedError` (a ``NotImplementedError``)."""
        raise ArkUnsupportedError(f"ChatArkContext.with_structured_output: {_NO_TOOLS}")
