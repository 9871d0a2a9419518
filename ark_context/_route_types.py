"""What a routed call returns: the completion plus what the router did.

Both backends (the Context API and the Responses API) hand back the same shapes, so an
adapter has one code path: :class:`RoutedCompletion` carries a normalised
:class:`~ark_context.conversation.ResponsesResult` (``.result``: text, tool calls in wire
form, reasoning, usage with cached and reasoning tokens, finish reason) and its
:class:`RouteInfo`; a routed stream yields :class:`~ark_context.conversation.StreamDelta`
values from ``deltas()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._models import ChatCompletion, PromptTokensDetails, Usage

if TYPE_CHECKING:
    from ._replies import ResponsesResult, ResponsesUsage
    from .catalog import Prices
    from .costs import BilledUsage

__all__ = ["Api", "MissReason", "Outcome", "RouteInfo", "RoutedCompletion", "usage_from"]

Api = Literal["context", "responses"]
Outcome = Literal["created", "reused", "recreated", "bypassed"]
MissReason = Literal[
    "new",
    "no_prefix",
    "branch",
    "expired",
    "gone",
    "evicted",
    "busy",
    "failure",
    "one_off",
    "no_repeat",
    "window_slides",
    "tools",
    "params",
    "new_chain",
    "json_schema",
]
"""Why a call missed (docs/architecture.md, "Miss reasons"): ``new`` (nothing recorded),
``no_prefix`` (nothing to seed from: no system prompt and no reply yet), ``branch`` (the
history diverges from a recorded transcript: an edit or a second branch), ``expired``
(past its ttl or ``expire_at`` by the router's clock), ``gone`` (the server no longer
knows the context or response), ``evicted`` (the store dropped it for capacity), ``busy``
(another call holds it), ``failure`` (a failed or uncertain earlier call), ``tools`` (a
Context API call with tools or tool messages: sent plain, with its tools), ``params``
(a Context API call with ``response_format`` or ``thinking``, which only plain chat takes:
sent plain), ``new_chain``
(Responses API: the chain's pinned settings changed — tools, thinking, reasoning, model —
so a new chain starts; :attr:`RouteInfo.new_chain` says which), ``json_schema``
(Responses API: ``json_schema`` output after a cached turn is refused by the API, so the
call goes uncached). ``mode="auto"`` says why it chose a plain call: ``one_off`` (first
sight of this system prompt), ``no_repeat`` (seen, but not often enough for a context to
pay), ``window_slides`` (earlier turns that extend nothing seen: a trimmed or rewritten
history)."""


@dataclass(slots=True)
class RouteInfo:
    """What the router did for one call.

    ``outcome``: created (a new context or chain), reused (an existing one), recreated (a
    new one after the old one expired, was gone, busy or failed), bypassed (an uncached
    call). ``reason``: why a miss happened (None on reuse). ``context_id``: the context id
    (Context API) or the ``previous_response_id`` the call chained from (Responses API).
    ``create_tokens``: prompt tokens Ark bills for the state this call created (Context
    API contexts, Responses prefix caches; not part of the completion's usage).
    ``truncated``: the server dropped history from the context. ``api``: which caching
    API served the call. ``response_id``: the new response's id (Responses API).
    ``expire_at``: its deadline (UTC seconds). ``new_chain``: which pinned setting changed
    (``tools``, ``thinking``, ``reasoning``, ``model``), when ``reason == "new_chain"``.
    ``dropped``: request fields the API has no place for (e.g. ``stop`` on Responses).
    ``decision``: ``mode="auto"`` only, why it chose this plan (``continues``,
    ``group_continues``, ``prefix_repeats``, ``one_off``, ``no_repeat``,
    ``window_slides``, ``no_prefix``; see docs/architecture.md, "The auto policy")."""

    outcome: Outcome
    reason: MissReason | None
    context_id: str | None
    mode: str
    sent_messages: int = 0
    request_bytes: int = 0
    attempts: int = 1
    create_tokens: int = 0  # prompt tokens billed for creating contexts during this call
    truncated: bool = False  # the server served less history than the context held
    decision: str | None = None  # mode="auto": why this plan (adaptive.Reason)
    api: Api = "context"
    response_id: str | None = None
    expire_at: int | None = None
    new_chain: str | None = None
    dropped: tuple[str, ...] = ()

    def as_metadata(self) -> dict[str, Any]:
        """Flat keys both adapters put in their response metadata."""
        meta: dict[str, Any] = {
            "context_id": self.context_id,
            "context_mode": self.mode,
            "context_outcome": self.outcome,
            "context_miss_reason": self.reason,
            "request_bytes": self.request_bytes,
            "context_create_tokens": self.create_tokens,
            "context_truncated": self.truncated,
            "context_decision": self.decision,
        }
        if self.api == "responses":
            meta["caching_api"] = "responses"
            meta["response_id"] = self.response_id
            meta["previous_response_id"] = self.context_id
            meta["expire_at"] = self.expire_at
            if self.new_chain is not None:
                meta["new_chain"] = self.new_chain
        if self.dropped:
            meta["dropped_params"] = list(self.dropped)
        return meta


def usage_from(usage: ResponsesUsage | None) -> Usage:
    """Chat-shaped :class:`~ark_context.Usage` from a normalised usage (zeros for None);
    reasoning tokens go to ``completion_tokens_details.reasoning_tokens``."""
    if usage is None:
        return Usage()
    extra: dict[str, Any] = {}
    if usage.reasoning_tokens:
        extra["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return Usage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
        **extra,
    )


@dataclass(slots=True)
class RoutedCompletion:
    """A completion plus its route, the same shape for both caching APIs.

    ``result`` is the normalised reply (:class:`~ark_context.conversation.ResponsesResult`:
    ``text``, ``tool_calls`` in wire form, ``reasoning``, ``usage`` with cached and
    reasoning tokens, ``finish_reason``, ``wire_message()``). ``completion`` is the
    chat completion (on the Responses API: a chat-completion view of the reply, built by
    :meth:`from_result`); ``raw`` is the server's JSON either way. ``usage`` is
    chat-shaped and never None.

    >>> from ark_context import ChatCompletion
    >>> rc = RoutedCompletion(ChatCompletion.model_validate({"choices": [{"message": {
    ...     "role": "assistant", "content": "Hi"}, "finish_reason": "stop"}]}),
    ...     RouteInfo("bypassed", "no_prefix", None, "session"))
    >>> rc.result.text, rc.result.finish_reason, rc.usage.prompt_tokens
    ('Hi', 'stop', 0)
    """

    completion: ChatCompletion
    route: RouteInfo
    _result: ResponsesResult | None = field(default=None, repr=False)

    @classmethod
    def from_result(cls, result: ResponsesResult, route: RouteInfo) -> RoutedCompletion:
        """A Responses API reply: the result, plus its chat-completion view."""
        message: dict[str, Any] = {"role": "assistant", "content": result.text}
        if result.tool_calls:
            message["tool_calls"] = [dict(c) for c in result.tool_calls]
        if result.reasoning:
            message["reasoning_content"] = result.reasoning
        completion = ChatCompletion.model_validate(
            {
                "id": result.id or "",
                "model": result.model or "",
                "choices": [{"message": message, "finish_reason": result.finish_reason}],
            }
        )
        completion.usage = usage_from(result.usage)
        return cls(completion, route, result)

    @property
    def result(self) -> ResponsesResult:
        """The normalised reply (parsed once from the chat completion when needed)."""
        if self._result is None:
            from ._replies import parse_chat_completion

            self._result = parse_chat_completion(self.completion.model_dump())
        return self._result

    @property
    def usage(self) -> Usage:
        return self.completion.usage or Usage()

    @property
    def text(self) -> str:
        return self.completion.text

    @property
    def raw(self) -> dict[str, Any]:
        """The server's JSON: the chat completion, or the Response object."""
        if self.route.api == "responses" and self._result is not None:
            return dict(self._result.raw)
        return self.completion.model_dump()

    def billed(self) -> BilledUsage:
        """The tokens Ark bills for this call by price class (full-price input, cached
        input, creation of contexts or prefix caches, output), both APIs."""
        from .costs import billed_usage

        return billed_usage(self.usage, self.route.create_tokens)

    def cost_cny(self, prices: Prices | None = None) -> float | None:
        """This call's cost in CNY at ``prices`` (default: the model table's list prices
        for the model the server reported; None when unknown, e.g. behind an ``ep-`` id).
        Storage (per token-hour until a chain's ``expire_at``) is not included."""
        if prices is None:
            from .catalog import lookup

            info = lookup(self.completion.model or "")
            prices = info.prices if info is not None else None
            if prices is None:
                return None
        b = self.billed()
        out = prices.output_price(b.input_tokens, b.output) or 0.0
        full = (b.full_price_input + b.creation) * prices.input_price(b.input_tokens)
        return (full + b.cached_input * prices.cached_input + b.output * out) / 1e6

    def metadata(self) -> dict[str, Any]:
        """Usage (flat) plus route metadata, for ``additional_kwargs``/``response_metadata``."""
        meta = self.route.as_metadata()
        meta.update(self.usage.as_dict())
        if self.route.api == "responses":
            usage = self.result.usage
            meta["reasoning_tokens"] = usage.reasoning_tokens if usage is not None else 0
        return meta
