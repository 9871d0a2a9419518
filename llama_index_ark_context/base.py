"""``ArkContextLLM``: Ark's caching APIs as a LlamaIndex function-calling ``LLM``.

This module only translates: LlamaIndex ``ChatMessage`` -> wire messages (tool calls and
tool results included), and routed replies (either caching API) -> ``ChatResponse``
(text, ``ToolCallBlock`` s, ``ThinkingBlock`` s). Configuration, routing, retries and usage
live in ``ark_context``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    LogProb,
    MessageRole,
    TextBlock,
    ThinkingBlock,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.types import PydanticProgramMode
from pydantic import AliasChoices, Field, SecretStr, model_validator

from ark_context import (
    ArkContextParams,
    ArkInputError,
    ArkRouter,
    ArkUnsupportedError,
    RoutedCompletion,
    Usage,
    WireMessage,
    validate_conversation,
    wire_message,
)
from ark_context.conversation import ResponsesResult, StreamDelta
from ark_context.costs import billed_usage

from ._convert import (
    StreamState,
    force_single_tool_call,
    has_tool_messages,
    prepare_chat_with_tools,
    to_chat_message,
    tool_selections,
)
from ._convert import to_wire_messages as _tool_wire_messages

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["DEFAULT_CONTEXT_WINDOW", "DEFAULT_NUM_OUTPUT", "ArkContextLLM"]

DEFAULT_CONTEXT_WINDOW = 32768
DEFAULT_NUM_OUTPUT = 4096  # Ark's default max_tokens

# LlamaIndex role -> wire role for plain messages. Tool results, tool calls and function
# roles go through ``_convert.to_wire_messages``.
_ROLES: dict[str, str] = {
    MessageRole.SYSTEM.value: "system",
    MessageRole.DEVELOPER.value: "system",
    MessageRole.USER.value: "user",
    MessageRole.ASSISTANT.value: "assistant",
    MessageRole.CHATBOT.value: "assistant",
    MessageRole.MODEL.value: "assistant",
    MessageRole.TOOL.value: "tool",
    MessageRole.FUNCTION.value: "function",
}


# -- messages -> wire ---------------------------------------------------------------------


def _message_text(message: ChatMessage, role: str, where: str) -> str:
    blocks = message.blocks
    if len(blocks) == 1 and type(blocks[0]) is TextBlock:  # the common case, fast
        return blocks[0].text
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, CachePoint):
            continue  # a caching hint for other providers; Ark caches server-side
        elif isinstance(block, ThinkingBlock) and role == "assistant":
            continue  # a reply's reasoning is never resent
        else:
            raise ArkUnsupportedError(
                f"{where} has a {type(block).__name__}; ark-context sends text only (plus "
                "tool calls and tool results). Send TextBlocks or a string."
            )
    return "".join(parts)


def to_wire_messages(messages: Sequence[ChatMessage]) -> list[WireMessage]:
    """Convert LlamaIndex messages to canonical wire messages and validate the conversation.

    A chat with tool calls or tool results goes through the tool-aware conversion
    (``ToolCallBlock`` s, ``additional_kwargs["tool_calls"]``, ``MessageRole.TOOL`` with
    ``tool_call_id``). Raises :class:`~ark_context.ArkUnsupportedError` for non-text
    blocks and :class:`~ark_context.ArkInputError` for an empty chat or a chat that ends
    with an assistant message."""
    if has_tool_messages(messages):
        return _tool_wire_messages(messages)
    wire: list[WireMessage] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, ChatMessage):
            raise ArkUnsupportedError(
                f"{where} is a {type(message).__name__}; pass llama_index ChatMessage objects."
            )
        role_value = message.role.value if isinstance(message.role, MessageRole) else message.role
        role = _ROLES.get(role_value, role_value)
        extra = message.additional_kwargs
        name: str | None = None
        if extra:
            n = extra.get("name")
            name = n if isinstance(n, str) and n else None
        wire.append(wire_message(role, _message_text(message, role, where), name, where=where))
    validate_conversation(wire)
    return wire


# -- replies -> LlamaIndex responses ------------------------------------------------------


def _logprobs(choice_logprobs: Any) -> list[list[LogProb]] | None:
    """OpenAI-style ``{"content": [{token, logprob, bytes, top_logprobs}]}`` -> LogProbs."""
    if not isinstance(choice_logprobs, Mapping):
        return None
    content = choice_logprobs.get("content")
    if not isinstance(content, list):
        return None
    out: list[list[LogProb]] = []
    for item in content:
        if not isinstance(item, Mapping):
            continue
        tops = item.get("top_logprobs") or [item]
        out.append(
            [
                LogProb(
                    token=str(t.get("token", "")),
                    logprob=float(t.get("logprob", 0.0)),
                    bytes=list(t.get("bytes") or []),
                )
                for t in tops
                if isinstance(t, Mapping)
            ]
        )
    return out


def _billed_raw(raw: dict[str, Any], usage: Usage | None, create_tokens: int) -> dict[str, Any]:
    """``raw["usage"]`` as billed, chat-shaped on both APIs (creation tokens counted in
    ``prompt_tokens`` and split out as ``prompt_tokens_details.cache_creation_tokens``), so
    LlamaIndex's ``TokenCountingHandler`` totals what Ark bills; the server's own usage
    stays in ``raw["ark_usage"]``, unchanged."""
    if usage is not None:
        raw["ark_usage"] = raw.get("usage")
        raw["usage"] = billed_usage(usage, create_tokens).as_ark_usage()
    return raw


def to_chat_response(rc: RoutedCompletion) -> ChatResponse:
    """A routed reply as a ``ChatResponse``: the message holds a ``ThinkingBlock``
    (reasoning), the text and one ``ToolCallBlock`` per tool call; ``raw`` is the server's
    JSON with the billed usage (the server's in ``raw["ark_usage"]``); ``additional_kwargs``
    the flat usage plus the route (context or response id, outcome, miss reason,
    ``context_create_tokens``) and ``finish_reason`` (``stop``, ``length``, ``tool_calls``,
    ``content_filter``; the same words on both APIs, streamed or not)."""
    completion = rc.completion
    choices = completion.choices if completion is not None else []
    logprobs = _logprobs(choices[0].logprobs) if choices and choices[0].logprobs else None
    return ChatResponse(
        message=to_chat_message(rc.result),
        raw=_billed_raw(rc.raw, rc.usage, rc.route.create_tokens),
        logprobs=logprobs,
        additional_kwargs={**rc.metadata(), "finish_reason": rc.result.finish_reason},
    )


def _final_response(
    result: ResponsesResult, usage: Usage | None, route_meta: Mapping[str, Any]
) -> ChatResponse:
    """A stream's last response: the whole message, no new text, the usage (when sent)."""
    extra = {**route_meta, "finish_reason": result.finish_reason}
    if usage is not None:
        extra.update(usage.as_dict())
        if "caching_api" in route_meta:
            extra["reasoning_tokens"] = result.usage.reasoning_tokens if result.usage else 0
    create = int(route_meta.get("context_create_tokens") or 0)
    raw = dict(result.raw)  # the final Response object (Responses API)
    if not raw:  # a chat-completions stream has no final object: its usage chunk's fields
        raw = {"id": result.id, "model": result.model, "choices": []}
        if usage is not None:
            raw["usage"] = usage.model_dump(exclude_none=True)
    return ChatResponse(
        message=to_chat_message(result),
        delta="",
        raw=_billed_raw(raw, usage, create),
        additional_kwargs=extra,
    )


def _chunk(
    state: StreamState, delta: StreamDelta, route_meta: Mapping[str, Any]
) -> ChatResponse | None:
    response = state.feed(delta)
    if response is not None:
        response.additional_kwargs.update(route_meta)
    return response


# -- the LLM ------------------------------------------------------------------------------


class ArkContextLLM(ArkContextParams, FunctionCallingLLM):
    """Volcengine Ark with server-side caching, as a LlamaIndex function-calling chat LLM.

    Pass the full history on every call as usual. The model picks the caching API
    (``caching_api`` overrides it): current models chain their turns on the Responses API
    (tools, structured output and reasoning included); Ark's past models keep one context
    per conversation (``mode="session"``) or per system prompt (``mode="common_prefix"``)
    on the Context API, and a call with tools goes to plain ``/chat/completions``.
    ``response.raw["usage"]`` and ``response.additional_kwargs`` carry Ark's exact token
    counts, including ``cached_tokens``. Tools work through ``chat_with_tools``,
    ``FunctionAgent``, ``AgentWorkflow``, ``structured_predict`` and
    ``as_structured_llm``. Every field (and ``ARK_API_KEY``, ``ARK_MODEL``,
    ``ARK_BASE_URL``) is shared with ``langchain_ark_context.ChatArkContext``.

    >>> from llama_index_ark_context import ArkContextLLM
    >>> llm = ArkContextLLM(model="ep-123", api_key="k", mode="common_prefix")
    >>> llm.metadata.context_window, llm.metadata.is_function_calling_model
    (32768, True)
    """

    _ark_passthrough: ClassVar[str] = "additional_kwargs"

    api_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        exclude=True,
        description="Ark API key; None: `ARK_API_KEY`. Never logged, printed or serialised "
        "(`to_dict`/`to_json`/`to_payload` leave it out).",
    )
    model_kwargs: dict[str, Any] = Field(
        default={},
        validation_alias=AliasChoices("model_kwargs", "additional_kwargs"),
        description="Extra request fields sent as they are; also accepted as "
        "`additional_kwargs` (LlamaIndex's name). Unknown keyword arguments raise instead.",
    )
    context_window: int = Field(
        default=DEFAULT_CONTEXT_WINDOW,
        gt=0,
        description="The model's context window in tokens, for LlamaIndex's prompt packing "
        "(`LLMMetadata`). Default: for a Model ID the model table knows, its longest prompt "
        "plus the reply's `max_tokens` (within its window, e.g. 229376 + 4096 for "
        "doubao-seed-1.6), else 32768 (endpoint ids: set it to your model's).",
    )

    @classmethod
    def class_name(cls) -> str:
        return "ArkContextLLM"

    @model_validator(mode="after")
    def _ark_program_mode(self) -> ArkContextLLM:
        """On a Context-API model, ``structured_predict`` / ``as_structured_llm`` put the
        schema in the prompt (LlamaIndex's text-completion program), which the context
        caches; by function calling the call would go plain and uncached (the Context API
        has no tools). Set ``pydantic_program_mode`` to choose otherwise."""
        if "pydantic_program_mode" not in self.model_fields_set and (
            self.ark_caching_api() == "context"
        ):
            object.__setattr__(self, "pydantic_program_mode", PydanticProgramMode.LLM)
        return self

    @model_validator(mode="after")
    def _ark_context_window(self) -> ArkContextLLM:
        """An unset ``context_window`` comes from the model table: LlamaIndex packs prompts
        up to ``context_window - num_output``, which is then the model's longest prompt."""
        object.__setattr__(self, "context_window", self._ark_window())
        return self

    def _ark_window(self) -> int:
        """``context_window`` as set, else from the model table for the current ``model``
        and ``max_tokens`` (so a later change or ``model_copy`` moves it too)."""
        if "context_window" in self.model_fields_set:
            return self.context_window
        limits = self.ark_limits() if self.model else None
        if limits is None:
            return DEFAULT_CONTEXT_WINDOW
        window = limits.max_input + (self.max_tokens or DEFAULT_NUM_OUTPUT)
        return min(window, limits.context_window)

    @property
    def metadata(self) -> LLMMetadata:
        """Cheap, never raises, holds no secret (fields are validated on construction, so
        this skips validation: LlamaIndex reads it on every call, via ``to_payload``).

        ``is_function_calling_model`` is true for every model: Responses-API models take
        function tools in their cached chains, and a Context-API model's call with tools
        goes to plain ``/chat/completions``, which takes them."""
        return LLMMetadata.model_construct(
            context_window=self._ark_window(),
            num_output=self.max_tokens or DEFAULT_NUM_OUTPUT,
            is_chat_model=True,
            is_function_calling_model=True,
            model_name=self.model or "unknown",
        )

    # -- request seam (unit tests call this directly) --------------------------------

    def _request(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> tuple[list[WireMessage], dict[str, Any]]:
        """Wire messages and request fields for one call (validated, nothing sent)."""
        wire = to_wire_messages(messages)
        params = self.ark_sampling_params(kwargs.pop("stop", None), **kwargs)
        return wire, params

    def _prepare(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> tuple[str | None, list[WireMessage], dict[str, Any], ArkRouter]:
        """One call's request id (sent as X-Client-Request-Id), wire messages, request
        fields and router: ``model=`` per call (as LlamaIndex's OpenAI LLM takes it) picks
        that model's, on the caching API it uses. Validated; nothing sent."""
        rid = kwargs.pop("request_id", None)
        model = kwargs.pop("model", None)
        if model is not None and not (isinstance(model, str) and model):
            raise ArkInputError(
                f"model={model!r} per call must be a model name or endpoint id (a non-empty "
                "string); or leave it out to use ArkContextLLM(model=...)."
            )
        wire, params = self._request(messages, kwargs)
        return rid, wire, params, self.ark_router(model)

    # -- undecorated implementations ---------------------------------------------------

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        rid, wire, params, router = self._prepare(messages, kwargs)
        return to_chat_response(router.chat(wire, params, request_id=rid))

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        rid, wire, params, router = self._prepare(messages, kwargs)
        return to_chat_response(await router.achat(wire, params, request_id=rid))

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        # Validate and build the router now, so bad input fails at the call, not at the
        # first next(); the request itself starts when the caller iterates.
        rid, wire, params, router = self._prepare(messages, kwargs)
        include_usage = self.stream_usage

        def gen() -> Generator[ChatResponse, None, None]:
            state = StreamState()
            with router.stream(wire, params, include_usage=include_usage, request_id=rid) as s:
                assert s.route is not None  # set when the stream opened
                route_meta = s.route.as_metadata()
                for delta in s.deltas():
                    if delta.result is not None:
                        final = delta.result
                        continue
                    response = _chunk(state, delta, route_meta)
                    if response is not None:
                        yield response
            # the route as it ended: the new response's id and deadline (Responses
            # API), truncation (Context API) are only known now
            yield _final_response(final, s.usage, s.route.as_metadata())

        return gen()

    async def _astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        rid, wire, params, router = self._prepare(messages, kwargs)
        include_usage = self.stream_usage

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            state = StreamState()
            async with router.astream(
                wire, params, include_usage=include_usage, request_id=rid
            ) as s:
                assert s.route is not None  # set when the stream opened
                route_meta = s.route.as_metadata()
                async for delta in s.deltas():
                    if delta.result is not None:
                        final = delta.result
                        continue
                    response = _chunk(state, delta, route_meta)
                    if response is not None:
                        yield response
            yield _final_response(final, s.usage, s.route.as_metadata())

        return gen()

    # -- FunctionCallingLLM ------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The ``chat`` arguments for a call with ``tools`` (checked now against what the
        Ark APIs take). ``tool_required`` forces a tool call; ``tool_choice`` names one."""
        return prepare_chat_with_tools(
            tools,
            user_msg,
            chat_history,
            tool_required=tool_required,
            tool_choice=tool_choice,
            strict=strict,
            **kwargs,
        )

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keeps only the first tool call unless ``allow_parallel_tool_calls``."""
        if not allow_parallel_tool_calls:
            force_single_tool_call(response)
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The reply's tool calls as ``ToolSelection`` s."""
        return tool_selections(response, error_on_no_tool_call)

    # -- public API: one callback/instrumentation event per call ----------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return await self._astream_chat(messages, **kwargs)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return chat_to_completion_decorator(self._chat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return stream_chat_to_completion_decorator(self._stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return await achat_to_completion_decorator(self._achat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return await astream_chat_to_completion_decorator(self._astream_chat)(prompt, **kwargs)
