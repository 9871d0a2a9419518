"""``ChatArkContext``: Volcengine Ark's caching APIs as a LangChain chat model.

This module only translates. LangChain messages become canonical wire messages (tool
calls and tool results included); the router in ``ark_context`` picks the caching API by
model (Context API or Responses API) and the server-side state that serves the call; the
normalised reply comes back as an ``AIMessage`` (text, ``tool_calls``, reasoning) with
LangChain's usage shape. Fields, defaults and environment variables live in
:class:`ark_context.ArkContextParams`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast, overload

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
from langchain_core.language_models import LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
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
    AsyncArkStream,
    RoutedCompletion,
    RouteInfo,
    Usage,
    WireMessage,
    validate_conversation,
)
from ark_context.catalog import lookup
from ark_context.conversation import StreamDelta
from ark_context.costs import billed_usage
from ark_context.policy import drop_empty_tools
from ark_context.tokens import cjk_extra_tokens, estimate_text_tokens

if TYPE_CHECKING:
    from langchain_core.language_models.model_profile import ModelProfile

from ._convert import (
    ChunkBuilder,
    StructuredMethod,
    bind_tools_kwargs,
    check_tool_fields,
    structured_output,
    to_ai_message,
    to_wire,
    validate_tool_conversation,
    without_names,
)

__all__ = ["ChatArkContext"]


# -- messages -> wire ---------------------------------------------------------------------

# Exact classes whose plain form (str content, no name, no tool calls) converts without
# the checks of ``to_wire``: long histories are almost all such messages.
_PLAIN_ROLES: dict[type, str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
}


def _to_wire_messages(messages: Sequence[BaseMessage]) -> list[WireMessage]:
    """LangChain messages -> validated wire messages. Plain text messages take a fast
    path; anything else (names, content blocks, tool calls, tool results) goes through
    :func:`~langchain_ark_context._convert.to_wire`."""
    wire: list[Any] = []
    add = wire.append
    plain = _PLAIN_ROLES
    checked = True  # every message so far was built here from a plain message
    tools = False  # a tool call or a tool result is in the conversation
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
            w = to_wire(m, i)
            tools = tools or w["role"] == "tool" or "tool_calls" in w
            add(w)
            checked = False
    if tools:
        validate_tool_conversation(wire)
    elif not checked or not wire or wire[-1]["role"] == "assistant":
        validate_conversation(wire)  # plain messages need only the whole-conversation checks
    return wire


# -- replies -> LangChain -----------------------------------------------------------------


def _usage_metadata(usage: Usage, route: RouteInfo | None, reasoning: int) -> UsageMetadata:
    """Ark usage + route -> LangChain ``UsageMetadata`` as billed: ``input_tokens`` counts
    cached tokens and the tokens billed for creating state during the call, which
    ``input_token_details`` splits out as ``cache_read`` and ``cache_creation``;
    ``output_tokens`` includes ``output_token_details.reasoning``."""
    bill = billed_usage(usage, route.create_tokens if route is not None else 0)
    out = UsageMetadata(
        input_tokens=bill.input_tokens,
        output_tokens=bill.output,
        total_tokens=bill.total_tokens,
        input_token_details=InputTokenDetails(
            cache_read=bill.cached_input, cache_creation=bill.creation
        ),
    )
    if reasoning or (route is not None and route.api == "responses"):
        out["output_token_details"] = OutputTokenDetails(reasoning=reasoning)
    return out


def _reasoning_tokens(rc_usage: Any) -> int:
    return int(getattr(rc_usage, "reasoning_tokens", 0) or 0)


def _chat_result(rc: RoutedCompletion, model: str) -> ChatResult:
    result = rc.result
    usage = rc.usage
    meta: dict[str, Any] = {**rc.route.as_metadata(), "ark_usage": usage.as_dict()}
    completion = rc.completion
    choice = completion.choices[0] if completion is not None and completion.choices else None
    if choice is not None and choice.logprobs is not None:
        meta["logprobs"] = choice.logprobs
    message = to_ai_message(
        result,
        model=model,
        metadata=meta,
        usage=_usage_metadata(usage, rc.route, _reasoning_tokens(result.usage)),
    )
    info: dict[str, Any] = {"finish_reason": result.finish_reason}
    if "logprobs" in meta:
        info["logprobs"] = meta["logprobs"]
    model_name = message.response_metadata["model_name"]
    return ChatResult(
        generations=[ChatGeneration(message=message, generation_info=info)],
        llm_output={"token_usage": usage.as_dict(), "model_name": model_name, "id": result.id},
    )


class _ChunkMapper:
    """Turns one routed stream's deltas into ``ChatGenerationChunk``s.

    Text, reasoning and tool-call fragments come as they arrive; the final delta gives the
    one closing chunk (``chunk_position="last"``) with the finish reason, ``model_name``,
    the route and (when the server sent it) the billed usage, so exactly one chunk carries
    ``input_tokens``."""

    __slots__ = ("builder",)

    def __init__(self, model: str) -> None:
        self.builder = ChunkBuilder(model)

    def map(self, delta: StreamDelta) -> ChatGenerationChunk | None:
        if delta.result is not None:
            return None  # the closing chunk needs the route: see ``last``
        message = self.builder.chunk(delta)
        return None if message is None else ChatGenerationChunk(message=message)

    def last(self, stream: ArkStream | AsyncArkStream, final: StreamDelta) -> ChatGenerationChunk:
        route = stream.route
        meta: dict[str, Any] = route.as_metadata() if route is not None else {}
        usage: UsageMetadata | None = None
        if stream.usage is not None:
            meta["ark_usage"] = stream.usage.as_dict()
            reasoning = final.result.usage if final.result is not None else None
            usage = _usage_metadata(stream.usage, route, _reasoning_tokens(reasoning))
        message = self.builder.chunk(final, meta, usage)
        assert message is not None  # a final delta always gives a chunk
        info = {"finish_reason": message.response_metadata.get("finish_reason")}
        return ChatGenerationChunk(message=message, generation_info=info)


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
    """Chat model on Volcengine Ark with server-side caching: pass the whole history every
    call, pay for the new turn while the rest is served from a server-side cache.

    The model picks the caching API (``caching_api`` overrides it, e.g. for ``ep-...``
    endpoint ids): current models chain their turns on the Responses API (tools, structured
    output and reasoning included); Ark's past models use the Context API (a call with tools
    goes to plain ``/chat/completions``). ``response_metadata`` says what happened
    (``context_outcome``, ``context_miss_reason``, ``caching_api``).

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

    def _resolve_model_profile(self) -> ModelProfile | None:
        """What LangChain's agents and middleware read about the model (``llm.profile``;
        pass ``profile=`` to replace it): the token limits from the model table (none for
        an endpoint id), and what this class accepts and returns. ``structured_output`` is
        left out on purpose: without it ``create_agent(response_format=...)`` picks its
        tool strategy, whose calls stay in the cache, where a provider strategy's
        ``json_schema`` turns are never cached on the Responses API.

        >>> ChatArkContext(model="deepseek-v3-2-251201", api_key="k").profile["max_input_tokens"]
        98304
        """
        profile: dict[str, Any] = {
            "text_inputs": True,
            "image_inputs": False,  # ark-context sends text only
            "text_outputs": True,
            "tool_calling": True,
            "tool_choice": True,
            "tool_call_streaming": True,
        }
        limits = self.ark_limits()
        if limits is not None:
            profile["max_input_tokens"] = limits.max_input
            profile["max_output_tokens"] = limits.max_output
        info = lookup(self.model) if self.model else None
        if info is not None and info.thinking:
            profile["reasoning_output"] = True  # reasoning_content / reasoning blocks
        return cast("ModelProfile", profile)

    @property
    def model_name(self) -> str:
        """The model or endpoint id (``model``), under the name other LangChain chat models
        and callbacks read."""
        return self.model

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

    def get_num_tokens(self, text: str) -> int:
        """An estimate of ``text``'s tokens without a tokenizer (Ark publishes none): four
        characters a token, one per CJK character. Ark's ``usage`` has the exact counts.
        A ``custom_get_token_ids`` tokenizer, when set, counts instead."""
        if self.custom_get_token_ids is not None:
            return len(self.custom_get_token_ids(text))
        return estimate_text_tokens(text)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """An estimate of a prompt's tokens, tool schemas included, without a tokenizer
        (LangChain's default needs ``transformers`` and a GPT-2 tokenizer): LangChain's
        approximate count, with CJK characters counted a token each. This is what
        ``trim_messages(token_counter=llm)`` uses. With ``custom_get_token_ids`` set, that
        tokenizer counts (LangChain's per-message count)."""
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens_from_messages(messages, tools)
        approx = count_tokens_approximately(messages, tools=list(tools) if tools else None)
        return math.ceil(approx + sum(cjk_extra_tokens(m.text) for m in messages))

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
        for option in ("stream", "stream_usage", "request_id"):
            kwargs.pop(option, None)
        model = kwargs.pop("model", None)
        kwargs.pop("ls_structured_output_format", None)  # LangChain's tracing hint
        wire = _to_wire_messages(messages)
        if self.ark_caching_api(model or self.model) == "responses":
            wire = without_names(wire)
        params = self.ark_sampling_params(stop, **kwargs)
        drop_empty_tools(params)
        if "tools" in params or "tool_choice" in params:
            check_tool_fields(params)
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
                final = StreamDelta()
                for delta in s.deltas():
                    if delta.result is not None:
                        final = delta
                        continue
                    gen = mapper.map(delta)
                    if gen is not None:
                        if run_manager is not None:
                            run_manager.on_llm_new_token(gen.text, chunk=gen)
                        yield gen
            gen = mapper.last(s, final)
        except ArkError as err:
            _reraise(err)
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
                final = StreamDelta()
                async for delta in s.deltas():
                    if delta.result is not None:
                        final = delta
                        continue
                    gen = mapper.map(delta)
                    if gen is not None:
                        if run_manager is not None:
                            await run_manager.on_llm_new_token(gen.text, chunk=gen)
                        yield gen
            gen = mapper.last(s, final)
        except ArkError as err:
            _reraise(err)
        if run_manager is not None:
            await run_manager.on_llm_new_token(gen.text, chunk=gen)
        yield gen

    # -- tools and structured output ---------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind function tools (functions, pydantic models, ``BaseTool`` s or OpenAI-style
        dicts), checked now against what the Ark APIs take.

        ``tool_choice``: ``"auto"``, ``"none"``, ``"required"``/``"any"``, a tool's name,
        or ``True`` (the one bound tool). ``strict``: strict argument schemas.
        ``parallel_tool_calls`` is sent only when set. On a Responses-API model the tools
        are declared at the chain's first turn and cached with it (a different tool set
        starts a new chain, reported as ``context_miss_reason="new_chain"``); on a
        Context-API model such a call goes to plain ``/chat/completions`` with its tools
        (``context_outcome="bypassed"``, reason ``tools``).

        Example::

            def get_weather(city: str) -> str:
                '''The weather in a city.'''
                return "sunny"

            llm = ChatArkContext(model="doubao-seed-1-6-251015")
            reply = llm.bind_tools([get_weather]).invoke("Weather in Beijing?")
            reply.tool_calls  # [{'name': 'get_weather', 'args': {'city': ...}, ...}]
        """
        bound = bind_tools_kwargs(
            tools, tool_choice=tool_choice, strict=strict, parallel_tool_calls=parallel_tool_calls
        )
        return self.bind(**bound, **kwargs)

    def with_structured_output(
        self,
        schema: Mapping[str, Any] | type,
        *,
        method: StructuredMethod = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable that returns ``schema`` instances (pydantic) or dicts.

        ``method``: ``"function_calling"`` (default: the schema as one forced tool; keeps
        the cache on the Responses API), ``"json_mode"`` (``{"type": "json_object"}``;
        allowed in a cached chain, the prompt must ask for JSON) or ``"json_schema"`` (the
        API refuses it after a cached turn, so such a call runs uncached:
        ``context_miss_reason="json_schema"``). ``include_raw=True`` returns
        ``{"raw", "parsed", "parsing_error"}``.

        Example::

            class Answer(BaseModel):
                city: str

            llm = ChatArkContext(model="doubao-seed-1-6-251015")
            llm.with_structured_output(Answer).invoke("Capital of France?")  # Answer(city=...)
        """
        if kwargs:
            raise ArkInputError(
                f"with_structured_output got unknown argument(s) {sorted(kwargs)}; it takes "
                "schema, method, include_raw and strict."
            )
        return structured_output(
            self,
            schema,
            method=method,
            include_raw=include_raw,
            strict=strict,
            bind_tools=self.bind_tools,
        )
