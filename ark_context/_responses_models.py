"""Pydantic v2 wire models of the Ark Responses API (``/responses``), and the typed
shapes of request fields.

Parsing is lenient, as for the Context API models: unknown fields are kept, every field
is optional, ``created_at`` may be an int or a float, and output items, input items and
stream events of unknown ``type`` are kept (as :class:`UnknownItem` /
:class:`UnknownEvent`), never rejected.

Request fields are typed as ``TypedDict`` s (no runtime cost; mypy checks the caller).

>>> r = Response.model_validate({"id": "resp_1", "output": [
...     {"type": "message", "content": [{"type": "output_text", "text": "hi"}]},
...     {"type": "web_search_call", "id": "ws_1"}]})
>>> r.output_text, type(r.output[1]).__name__
('hi', 'UnknownItem')
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from pydantic import Discriminator, Field, Tag
from typing_extensions import NotRequired

from ._models import _Sized, _Wire

__all__ = [
    "CachingParam",
    "DeletedResponse",
    "FunctionCall",
    "FunctionCallOutput",
    "FunctionToolParam",
    "InputItem",
    "InputItemList",
    "InputMessage",
    "OutputItem",
    "OutputMessage",
    "OutputText",
    "Reasoning",
    "ReasoningParam",
    "Response",
    "ResponseError",
    "ResponseEvent",
    "ResponseUsage",
    "SummaryText",
    "TextParam",
    "ThinkingParam",
    "UnknownEvent",
    "UnknownItem",
]


# -- request field shapes ----------------------------------------------------------------


class CachingParam(TypedDict):
    """``caching``: ``{"type": "enabled"}``; ``"prefix": True`` builds a prefix cache."""

    type: Literal["enabled", "disabled"]
    prefix: NotRequired[bool]


class ThinkingParam(TypedDict):
    type: Literal["enabled", "disabled", "auto"]


class ReasoningParam(TypedDict):
    effort: Literal["minimal", "low", "medium", "high"]


class TextParam(TypedDict):
    """``text``: ``{"format": {"type": "text" | "json_object"}}`` or the flat json_schema
    shape ``{"type": "json_schema", "name", "schema", "description", "strict"}``."""

    format: dict[str, Any]


class FunctionToolParam(TypedDict):
    """A function tool, flat (not nested under ``function`` as in Chat)."""

    type: Literal["function"]
    name: str
    description: NotRequired[str]
    parameters: NotRequired[dict[str, Any]]
    strict: NotRequired[bool]


# -- response objects --------------------------------------------------------------------


class InputTokensDetails(_Wire):
    cached_tokens: int = 0


class OutputTokensDetails(_Wire):
    reasoning_tokens: int = 0


class ResponseUsage(_Wire):
    """Usage of one response. ``input_tokens`` includes ``cached_tokens``;
    ``output_tokens`` includes ``reasoning_tokens``."""

    input_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens: int = 0
    output_tokens_details: OutputTokensDetails | None = None
    total_tokens: int = 0

    @property
    def cached_tokens(self) -> int:
        d = self.input_tokens_details
        return d.cached_tokens if d is not None else 0

    @property
    def reasoning_tokens(self) -> int:
        d = self.output_tokens_details
        return d.reasoning_tokens if d is not None else 0

    @property
    def uncached_input_tokens(self) -> int:
        """Input billed at the full price: ``input_tokens - cached_tokens``."""
        return self.input_tokens - self.cached_tokens


class OutputText(_Wire):
    type: str = "output_text"
    text: str = ""


class _Item(_Wire):
    id: str | None = None
    status: str | None = None


class OutputMessage(_Item):
    type: Literal["message"] = "message"
    role: str = "assistant"
    content: list[OutputText] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if p.type == "output_text")


class SummaryText(_Wire):
    type: str = "summary_text"
    text: str = ""


class Reasoning(_Item):
    type: Literal["reasoning"] = "reasoning"
    summary: list[SummaryText] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.summary)


class FunctionCall(_Item):
    type: Literal["function_call"] = "function_call"
    call_id: str = ""
    name: str = ""
    arguments: str = ""


class FunctionCallOutput(_Item):
    type: Literal["function_call_output"] = "function_call_output"
    call_id: str = ""
    output: str = ""


class InputMessage(_Item):
    type: Literal["message"] = "message"
    role: str = "user"
    content: str | list[dict[str, Any]] = ""


class UnknownItem(_Item):
    """An item of a type this library does not know (kept as it came)."""

    type: str = ""


def _kind(known: frozenset[str]) -> Any:
    def tag(v: Any) -> str:
        t = v.get("type", "message") if isinstance(v, dict) else getattr(v, "type", "")
        return t if t in known else "unknown"

    return Discriminator(tag)


OutputItem = Annotated[
    Annotated[OutputMessage, Tag("message")]
    | Annotated[Reasoning, Tag("reasoning")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[UnknownItem, Tag("unknown")],
    _kind(frozenset({"message", "reasoning", "function_call"})),
]
"""An output item: message, reasoning, function_call, or an unknown type (kept)."""

InputItem = Annotated[
    Annotated[InputMessage, Tag("message")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[UnknownItem, Tag("unknown")],
    _kind(frozenset({"message", "function_call", "function_call_output"})),
]
"""An item of a chain's input (``type`` may be omitted for messages)."""


class ResponseError(_Wire):
    code: str | None = None
    message: str = ""


class Response(_Sized):
    """A Responses API response object (``object: "response"``)."""

    id: str = ""
    object: str = "response"
    created_at: int | float = 0
    model: str = ""
    status: str | None = None
    error: ResponseError | None = None
    incomplete_details: dict[str, Any] | None = None
    previous_response_id: str | None = None
    output: list[OutputItem] = Field(default_factory=list)
    usage: ResponseUsage | None = None
    caching: dict[str, Any] | None = None
    store: bool | None = None
    expire_at: int | None = None

    @property
    def output_text(self) -> str:
        """The text of every output message, joined ("" when there is none)."""
        return "".join(i.text for i in self.output if isinstance(i, OutputMessage))

    @property
    def reasoning_text(self) -> str:
        """The reasoning summaries, joined (kept apart from the answer)."""
        return "".join(i.text for i in self.output if isinstance(i, Reasoning))

    @property
    def function_calls(self) -> list[FunctionCall]:
        return [i for i in self.output if isinstance(i, FunctionCall)]


class DeletedResponse(_Wire):
    """What ``DELETE /responses/{id}`` returns. ``deleted`` False: not deleted.
    ``already_gone`` (not a wire field): the server answered 404."""

    id: str = ""
    object: str = "response"
    deleted: bool = False
    already_gone: bool = Field(default=False, exclude=True)


class InputItemList(_Wire):
    """One page of ``GET /responses/{id}/input_items``."""

    object: str = "list"
    data: list[InputItem] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


# -- stream events -----------------------------------------------------------------------


class ResponseEvent(_Wire):
    """A stream event. Known types get their fields typed below; others are kept as
    :class:`UnknownEvent`. ``response``/``item``/``part`` fields are typed per event."""

    type: str = ""
    sequence_number: int | None = None


class UnknownEvent(ResponseEvent):
    """An event of a type this library does not know (ignored by the assembly)."""


class ResponseLifecycleEvent(ResponseEvent):
    """``response.created``, ``.in_progress``, ``.completed``, ``.incomplete``, ``.failed``."""

    response: Response = Field(default_factory=Response)


class OutputItemEvent(ResponseEvent):
    """``response.output_item.added`` / ``.done``."""

    output_index: int = 0
    item: OutputItem | None = None


class PartEvent(ResponseEvent):
    """Text or reasoning-summary events (deltas, done texts, parts)."""

    item_id: str | None = None
    output_index: int = 0
    delta: str = ""
    text: str | None = None
    part: dict[str, Any] | None = None


class TextDeltaEvent(PartEvent):
    """``response.output_text.delta`` / ``.done`` and ``response.content_part.*``."""

    content_index: int = 0


class ReasoningDeltaEvent(PartEvent):
    """``response.reasoning_summary_text.*`` and ``response.reasoning_summary_part.*``."""

    summary_index: int = 0


class ArgumentsDeltaEvent(ResponseEvent):
    """``response.function_call_arguments.delta`` / ``.done``."""

    item_id: str | None = None
    output_index: int = 0
    delta: str = ""
    arguments: str | None = None


class ErrorEvent(ResponseEvent):
    """``error``: top-level ``code``, ``message``, ``param``."""

    code: str | None = None
    message: str = ""
    param: str | None = None


EVENT_TYPES: dict[str, type[ResponseEvent]] = {
    "error": ErrorEvent,
    **dict.fromkeys(
        (
            "response.created",
            "response.in_progress",
            "response.completed",
            "response.incomplete",
            "response.failed",
        ),
        ResponseLifecycleEvent,
    ),
    "response.output_item.added": OutputItemEvent,
    "response.output_item.done": OutputItemEvent,
    **dict.fromkeys(
        (
            "response.content_part.added",
            "response.content_part.done",
            "response.output_text.delta",
            "response.output_text.done",
        ),
        TextDeltaEvent,
    ),
    **dict.fromkeys(
        (
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
        ),
        ReasoningDeltaEvent,
    ),
    "response.function_call_arguments.delta": ArgumentsDeltaEvent,
    "response.function_call_arguments.done": ArgumentsDeltaEvent,
}
"""Event ``type`` -> model; anything else is an :class:`UnknownEvent`."""
