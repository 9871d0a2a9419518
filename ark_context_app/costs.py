"""Per-turn cache statistics and the input-cost arithmetic of the demo, chat and notebooks.

Prices are doubao-1.5-pro-32k's list prices in CNY per million tokens: input 0.80, cached
input 0.16 (about 20%). The baseline is what a plain ``/chat/completions`` call that resends
the whole history bills: every prompt token at the full input price. With contexts, the
uncached part of each prompt is billed at the full price, the cached part at the cached
price, and creating a context bills its initial messages at the full price once.

Output tokens cost the same both ways and are left out. Ark also bills context storage per
token-hour; that fee is small and not modelled here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ark_context.costs import DEFAULT_PRICES, BilledUsage

__all__ = [
    "PRICE_CACHED_INPUT",
    "PRICE_INPUT",
    "PRICE_MODEL",
    "Totals",
    "TurnStats",
    "input_cost",
]

PRICE_MODEL = "doubao-1.5-pro-32k"
#: CNY per million input tokens (the core's default prices: ``ark_context.costs``).
PRICE_INPUT = DEFAULT_PRICES.input
#: CNY per million cached input tokens.
PRICE_CACHED_INPUT = DEFAULT_PRICES.cached_input


def input_cost(uncached: int, cached: int = 0, created: int = 0) -> float:
    """Input cost in CNY: ``uncached`` and ``created`` tokens at the full price, ``cached`` at
    the cached price.

    >>> round(input_cost(1_000_000), 2), round(input_cost(0, cached=1_000_000), 2)
    (0.8, 0.16)
    """
    return BilledUsage(full_price_input=uncached, cached_input=cached, creation=created).cost_cny()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class TurnStats:
    """What one call cost and what the router did for it.

    ``prompt_tokens`` includes ``cached_tokens``; ``create_tokens`` are the prompt tokens
    billed for creating a context during the call; ``request_bytes`` is the size of the chat
    request body, ``resend_bytes`` what a full-history request would have been.

    >>> t = TurnStats(turn=2, prompt_tokens=400, cached_tokens=300, outcome="reused")
    >>> t.hit_pct, t.uncached_tokens
    (75.0, 100)
    """

    turn: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int = 0
    create_tokens: int = 0
    request_bytes: int = 0
    resend_bytes: int = 0
    latency_s: float = 0.0
    outcome: str | None = None
    miss_reason: str | None = None
    context_id: str | None = None

    @property
    def uncached_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    @property
    def hit_pct(self) -> float:
        """Share of the prompt served from the cache, in percent."""
        return 100.0 * self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def context_label(self) -> str:
        """``reused``, ``created (new)``, ``bypassed (new)``, ... for tables."""
        if not self.outcome:
            return "-"
        return f"{self.outcome} ({self.miss_reason})" if self.miss_reason else self.outcome

    @classmethod
    def from_metadata(
        cls,
        turn: int,
        meta: Mapping[str, Any],
        *,
        latency_s: float = 0.0,
        resend_bytes: int = 0,
    ) -> TurnStats:
        """From the flat keys both adapters return (LlamaIndex ``additional_kwargs``; LangChain
        ``response_metadata`` plus the usage): ``prompt_tokens``, ``cached_tokens``,
        ``completion_tokens``, ``context_create_tokens``, ``request_bytes``,
        ``context_outcome``, ``context_miss_reason``, ``context_id``."""
        outcome = meta.get("context_outcome")
        reason = meta.get("context_miss_reason")
        context_id = meta.get("context_id")
        return cls(
            turn=turn,
            prompt_tokens=_int(meta.get("prompt_tokens")),
            cached_tokens=_int(meta.get("cached_tokens")),
            completion_tokens=_int(meta.get("completion_tokens")),
            create_tokens=_int(meta.get("context_create_tokens")),
            request_bytes=_int(meta.get("request_bytes")),
            resend_bytes=resend_bytes,
            latency_s=latency_s,
            outcome=outcome if isinstance(outcome, str) else None,
            miss_reason=reason if isinstance(reason, str) else None,
            context_id=context_id if isinstance(context_id, str) else None,
        )


@dataclass(frozen=True)
class Totals:
    """Sums over turns, and the input cost with contexts against full resend.

    >>> tot = Totals.of([TurnStats(1, 400, 350, create_tokens=350), TurnStats(2, 500, 450)])
    >>> tot.prompt_tokens, round(tot.baseline_cost * 1e6), round(tot.cost * 1e6)
    (900, 720, 488)
    """

    turns: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    create_tokens: int = 0
    request_bytes: int = 0
    resend_bytes: int = 0
    latency_s: float = 0.0

    @classmethod
    def of(cls, turns: Iterable[TurnStats]) -> Totals:
        out = cls()
        for t in turns:
            out = cls(
                turns=out.turns + 1,
                prompt_tokens=out.prompt_tokens + t.prompt_tokens,
                cached_tokens=out.cached_tokens + t.cached_tokens,
                completion_tokens=out.completion_tokens + t.completion_tokens,
                create_tokens=out.create_tokens + t.create_tokens,
                request_bytes=out.request_bytes + t.request_bytes,
                resend_bytes=out.resend_bytes + t.resend_bytes,
                latency_s=out.latency_s + t.latency_s,
            )
        return out

    @property
    def uncached_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    @property
    def full_price_tokens(self) -> int:
        """Tokens billed at the full input price with contexts: uncached plus creation."""
        return self.uncached_tokens + self.create_tokens

    @property
    def hit_pct(self) -> float:
        return 100.0 * self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def baseline_cost(self) -> float:
        """Input cost in CNY of resending the full history every turn (nothing cached)."""
        return input_cost(self.prompt_tokens)

    @property
    def cost(self) -> float:
        """Input cost in CNY with contexts: uncached + creation at full price, cached at 20%."""
        return input_cost(self.uncached_tokens, self.cached_tokens, self.create_tokens)

    @property
    def savings_pct(self) -> float:
        """How much cheaper than full resend, in percent (negative: more expensive)."""
        base = self.baseline_cost
        return 100.0 * (base - self.cost) / base if base else 0.0
