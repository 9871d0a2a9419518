"""``ArkContextLLM``: the Ark Context API as a LlamaIndex ``LLM``.

This module only translates: LlamaIndex ``ChatMessage`` -> wire messages, and routed
completions -> ``ChatResponse``. Configuration, routing, retries and usage live in
``ark_context``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import Any, ClassVar

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
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.llm import LLM
from pydantic import AliasChoices, Field, SecretStr

from ark_context import (
    ArkContextParams,
    ArkUnsupportedError,
    ChatCompletionChunk,
    RoutedCompletion,
    Usage,
    WireMessage,
    validate_conversation,
    wire_message,
)
from ark_context.costs import billed_usage

__all__ = ["DEFAULT_CONTEXT_WINDOW", "DEFAULT_NUM_OUTPUT", "ArkContextLLM"]

DEFAULT_CONTEXT_WINDOW = 32768
DEFAULT_NUM_OUTPUT = 4096  # Ark's default max_tokens

# LlamaIndex role -> wire role. tool/function go through wire_message, which raises a
# clear ArkUnsupportedError for them (the Context API has no tools).
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
_TOOL_KWARGS = ("tool_calls", "function_call", "tool_call_id")


# -- messages -> wire ---------------------------------------------------------------------


def _message_text(message: ChatMessage, where: str) -> str:
    blocks = message.blocks
    if len(blocks) == 1 and type(blocks[0]) is TextBlock:  # the common case, fast
        return blocks[0].text
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, CachePoint):
            continue  # a caching hint for other providers; Ark caches through contexts
        else:
            raise ArkUnsupportedError(
                f"{where} has a {type(block).__name__}; the Ark Context API is text only. "
                "Send TextBlocks or a string."
            )
    return "".join(parts)


def to_wire_messages(messages: Sequence[ChatMessage]) -> list[WireMessage]:
    """Convert LlamaIndex messages to canonical wire messages and validate the conversation.

    Raises :class:`~ark_context.ArkUnsupportedError` for tool/function roles, tool calls
    and non-text blocks, and :class:`~ark_context.ArkInputError` for an empty chat or a
    chat that ends with an assistant message."""
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
            for key in _TOOL_KWARGS:
                if extra.get(key):
                    raise ArkUnsupportedError(
                        f"{where} carries {key!r}; the Ark Context API does not support tools "
                        "or function calling."
                    )
            n = extra.get("name")
            name = n if isinstance(n, str) and n else None
        wire.append(wire_message(role, _message_text(message, where), name, where=where))
    validate_conversation(wire)
    return wire


# -- completions -> LlamaIndex responses --------------------------------------------------


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
    """``raw["usage"]`` as billed (creation tokens counted in ``prompt_tokens`` and split out
    as ``prompt_tokens_details.cache_creation_tokens``), so LlamaIndex's
    ``TokenCountingHandler`` totals what Ark bills; Ark's own usage stays in
    ``raw["ark_usage"]``, unchanged."""
    if usage is not None:
        raw["ark_usage"] = raw.get("usage")
        raw["usage"] = billed_usage(usage, create_tokens).as_ark_usage()
    return raw


def to_chat_response(rc: RoutedCompletion) -> ChatResponse:
    """A routed completion as a ``ChatResponse``: ``raw`` is the Ark response dict with the
    billed usage (Ark's in ``raw["ark_usage"]``), ``additional_kwargs`` Ark's flat usage
    plus the route (context id, outcome, miss reason, ``context_create_tokens``)."""
    completion = rc.completion
    choices = completion.choices
    logprobs = _logprobs(choices[0].logprobs) if choices and choices[0].logprobs else None
    return ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content=completion.text),
        raw=_billed_raw(completion.model_dump(), rc.usage, rc.route.create_tokens),
        logprobs=logprobs,
        additional_kwargs=rc.metadata(),
    )


def to_chunk_response(
    chunk: ChatCompletionChunk, text: str, route_meta: Mapping[str, Any]
) -> ChatResponse:
    """One stream chunk as a ``ChatResponse`` (``text`` is the reply so far). The usage
    chunk (``choices == []``) carries the usage in ``raw`` and ``additional_kwargs``."""
    extra = dict(route_meta)
    if chunk.usage is not None:
        extra.update(chunk.usage.as_dict())
    choices = chunk.choices
    logprobs = _logprobs(choices[0].logprobs) if choices and choices[0].logprobs else None
    return ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
        delta=chunk.text,
        raw=_billed_raw(
            chunk.model_dump(), chunk.usage, int(route_meta.get("context_create_tokens") or 0)
        ),
        logprobs=logprobs,
        additional_kwargs=extra,
    )


# -- the LLM ------------------------------------------------------------------------------


class ArkContextLLM(ArkContextParams, LLM):
    """Volcengine Ark with server-side context caching, as a LlamaIndex chat LLM.

    Pass the full history on every call as usual; the router keeps one Ark context per
    conversation (``mode="session"``) or per system prompt (``mode="common_prefix"``) and
    sends only what the context does not hold yet. ``response.raw["usage"]`` and
    ``response.additional_kwargs`` carry Ark's exact token counts, including
    ``cached_tokens``. Every field (and ``ARK_API_KEY``, ``ARK_MODEL``, ``ARK_BASE_URL``)
    is shared with ``langchain_ark_context.ChatArkContext``.

    >>> from llama_index_ark_context import ArkContextLLM
    >>> llm = ArkContextLLM(model="ep-123", api_key="k", mode="common_prefix")
    >>> llm.metadata.context_window, llm.metadata.is_chat_model
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
        "(`LLMMetadata`).",
    )

    @classmethod
    def class_name(cls) -> str:
        return "ArkContextLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """Cheap, never raises, holds no secret (fields are validated on construction, so
        this skips validation: LlamaIndex reads it on every call, via ``to_payload``)."""
        return LLMMetadata.model_construct(
            context_window=self.context_window,
            num_output=self.max_tokens or DEFAULT_NUM_OUTPUT,
            is_chat_model=True,
            is_function_calling_model=False,
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

    # -- undecorated implementations ---------------------------------------------------

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        rid = kwargs.pop("request_id", None)  # sent as X-Client-Request-Id
        wire, params = self._request(messages, kwargs)
        return to_chat_response(self.ark_router().chat(wire, params, request_id=rid))

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        rid = kwargs.pop("request_id", None)
        wire, params = self._request(messages, kwargs)
        return to_chat_response(await self.ark_router().achat(wire, params, request_id=rid))

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        # Validate and build the router now, so bad input fails at the call, not at the
        # first next(); the request itself starts when the caller iterates.
        rid = kwargs.pop("request_id", None)
        wire, params = self._request(messages, kwargs)
        router = self.ark_router()
        include_usage = self.stream_usage

        def gen() -> Generator[ChatResponse, None, None]:
            text = ""
            with router.stream(wire, params, include_usage=include_usage, request_id=rid) as stream:
                route_meta: dict[str, Any] | None = None
                for chunk in stream:
                    if route_meta is None:
                        assert stream.route is not None  # set when the stream opened
                        route_meta = stream.route.as_metadata()
                    text += chunk.text
                    yield to_chunk_response(chunk, text, route_meta)

        return gen()

    async def _astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        rid = kwargs.pop("request_id", None)
        wire, params = self._request(messages, kwargs)
        router = self.ark_router()
        include_usage = self.stream_usage

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            text = ""
            async with router.astream(
                wire, params, include_usage=include_usage, request_id=rid
            ) as stream:
                route_meta: dict[str, Any] | None = None
                async for chunk in stream:
                    if route_meta is None:
                        assert stream.route is not None  # set when the stream opened
                        route_meta = stream.route.as_metadata()
                    text += chunk.text
                    yield to_chunk_response(chunk, text, route_meta)

        return gen()

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
