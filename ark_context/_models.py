"""Pydantic v2 wire models. Parsing is tolerant: unknown fields are kept."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "ContextInfo",
    "Delta",
    "Message",
    "PromptTokensDetails",
    "Usage",
]

Mode = Literal["session", "common_prefix"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class _Sized(_Wire):
    """An answer that remembers the size of the request body that produced it."""

    _request_bytes: int = PrivateAttr(default=0)

    @property
    def request_bytes(self) -> int:
        """Size in bytes of the JSON request body that produced this answer (not a wire field)."""
        return self._request_bytes


class PromptTokensDetails(_Wire):
    cached_tokens: int = 0


class Usage(_Wire):
    """Token usage. ``prompt_tokens`` includes ``cached_tokens``."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None

    @property
    def cached_tokens(self) -> int:
        d = self.prompt_tokens_details
        return d.cached_tokens if d is not None else 0

    def as_dict(self) -> dict[str, int]:
        """Flat dict: prompt/completion/total and cached tokens."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_tokens,
        }


class ContextInfo(_Sized):
    """What ``POST /context/create`` returns."""

    id: str
    model: str | None = None
    mode: str | None = None
    ttl: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    usage: Usage | None = None

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl_int(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return v


class Message(_Wire):
    role: str = "assistant"
    content: str | None = None


class Delta(_Wire):
    role: str | None = None
    content: str | None = None


class Choice(_Wire):
    index: int = 0
    message: Message = Field(default_factory=Message)
    finish_reason: str | None = None
    logprobs: Any = None


class ChunkChoice(_Wire):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletion(_Sized):
    """A ``chat.completion`` object."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None

    @property
    def text(self) -> str:
        """The reply text of the first choice ("" when absent)."""
        if not self.choices:
            return ""
        return self.choices[0].message.content or ""


class ChatCompletionChunk(_Wire):
    """A ``chat.completion.chunk`` object (one SSE event)."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None

    @property
    def text(self) -> str:
        if not self.choices:
            return ""
        return self.choices[0].delta.content or ""
