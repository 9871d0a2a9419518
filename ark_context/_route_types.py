"""What a routed call returns: the completion plus what the router did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ._models import ChatCompletion, Usage

__all__ = ["MissReason", "Outcome", "RouteInfo", "RoutedCompletion"]

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
]
"""Why a call missed (docs/architecture.md, "Miss reasons"): ``new`` (nothing recorded),
``no_prefix`` (nothing to seed from: no system prompt and no reply yet), ``branch`` (the
history diverges from a recorded transcript: an edit or a second branch), ``expired``
(past its ttl by the router's clock), ``gone`` (the server no longer knows the context),
``evicted`` (the store dropped it for capacity), ``busy`` (another call holds it),
``failure`` (a failed or uncertain earlier call). ``mode="auto"`` says why it chose a plain
call: ``one_off`` (first sight of this system prompt), ``no_repeat`` (seen, but not often
enough for a context to pay), ``window_slides`` (earlier turns that extend nothing seen:
a trimmed or rewritten history)."""


@dataclass(slots=True)
class RouteInfo:
    """What the router did for one call.

    ``outcome``: created (a new context), reused (an existing one), recreated (a new one
    after the old one expired, was gone, busy or failed), bypassed (plain /chat/completions).
    ``reason``: why a miss happened (None on reuse). ``create_tokens``: prompt tokens Ark
    bills for the contexts this call created (not part of the completion's usage).
    ``truncated``: the server dropped history from the context (fewer cached tokens than it
    held). Without a configured ``truncation_strategy`` such a context is never reused.
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

    def as_metadata(self) -> dict[str, Any]:
        """Flat keys both adapters put in their response metadata."""
        return {
            "context_id": self.context_id,
            "context_mode": self.mode,
            "context_outcome": self.outcome,
            "context_miss_reason": self.reason,
            "request_bytes": self.request_bytes,
            "context_create_tokens": self.create_tokens,
            "context_truncated": self.truncated,
            "context_decision": self.decision,
        }


@dataclass(slots=True)
class RoutedCompletion:
    """A completion plus its route. ``usage`` is never None (zeros if the server sent none)."""

    completion: ChatCompletion
    route: RouteInfo

    @property
    def usage(self) -> Usage:
        return self.completion.usage or Usage()

    @property
    def text(self) -> str:
        return self.completion.text

    def metadata(self) -> dict[str, Any]:
        """Usage (flat) plus route metadata, for ``additional_kwargs``/``response_metadata``."""
        meta = self.route.as_metadata()
        meta.update(self.usage.as_dict())
        return meta
