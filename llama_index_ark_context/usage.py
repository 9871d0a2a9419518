"""Billed-token accounting for LlamaIndex.

``ArkContextLLM`` puts the Ark response in ``ChatResponse.raw`` with the usage as billed:
``raw["usage"]["prompt_tokens"]`` counts the tokens Ark billed to create contexts during
the call (Ark's own usage stays in ``raw["ark_usage"]``). So ``TokenCountingHandler``'s
``prompt_llm_token_count`` totals every billed input token. It has no field for the
price classes inside them; :class:`CachedTokenCounter` is a small instrumentation event
handler that totals full-price, cached and creation tokens per model, and prices them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)
from pydantic import PrivateAttr

from ark_context.costs import DEFAULT_PRICES, BilledUsage, Prices

__all__ = ["CachedTokenCounter", "ModelTokenUsage"]

_MAX_OPEN_SPANS = 4096


@dataclass
class ModelTokenUsage:
    """Totals for one model, as billed. ``prompt_tokens`` includes ``cached_tokens`` and
    ``creation_tokens`` (billed at the full input price to create contexts).

    >>> from llama_index_ark_context import ModelTokenUsage
    >>> u = ModelTokenUsage(calls=2, prompt_tokens=300, completion_tokens=40, cached_tokens=200,
    ...                     creation_tokens=60)
    >>> u.full_price_tokens, round(u.cost_cny(), 7)
    (40, 0.000192)
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    creation_tokens: int = 0

    @property
    def full_price_tokens(self) -> int:
        """Input tokens billed at the full price, creation excluded."""
        return self.prompt_tokens - self.cached_tokens - self.creation_tokens

    @property
    def billed(self) -> BilledUsage:
        return BilledUsage(
            self.full_price_tokens,
            self.cached_tokens,
            self.creation_tokens,
            self.completion_tokens,
            self.calls,
        )

    def cost_cny(self, prices: Prices = DEFAULT_PRICES) -> float:
        """Estimated CNY at ``prices`` (storage excluded)."""
        return self.billed.cost_cny(prices)


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _is_usage(usage: Any) -> bool:
    return any(
        isinstance(_get(usage, k), int) and not isinstance(_get(usage, k), bool)
        for k in ("prompt_tokens", "completion_tokens")
    )


def response_usage(response: Any) -> tuple[int, int, int, int] | None:
    """``(prompt, completion, cached, creation)`` billed tokens of a Chat/CompletionResponse,
    or None. ``prompt`` includes cached and creation tokens.

    Reads ``raw["usage"]`` (a dict, as ``ArkContextLLM`` sets it, or an OpenAI-style
    object), then falls back to the flat ``additional_kwargs`` (Ark's usage plus
    ``context_create_tokens``). A ``usage`` without integer token counts is not one: e.g.
    a field of the output model a ``StructuredLLM`` puts in ``raw``."""
    if response is None:
        return None
    usage = _get(_get(response, "raw"), "usage")
    if _is_usage(usage):
        details = _get(usage, "prompt_tokens_details")
        return (
            _int(_get(usage, "prompt_tokens")),
            _int(_get(usage, "completion_tokens")),
            _int(_get(details, "cached_tokens")),
            _int(_get(details, "cache_creation_tokens")),
        )
    extra = _get(response, "additional_kwargs") or {}
    if "prompt_tokens" in extra:
        created = _int(extra.get("context_create_tokens"))
        return (
            _int(extra.get("prompt_tokens")) + created,
            _int(extra.get("completion_tokens")),
            _int(extra.get("cached_tokens")),
            created,
        )
    return None


class CachedTokenCounter(BaseEventHandler):
    """Totals cached prompt tokens (and prompt/completion tokens) per model.

    It listens to LlamaIndex's LLM end events, so one ``chat``/``complete``/stream call
    counts once (a stream counts when it ends, from its usage chunk). Attach it to the
    root dispatcher, or use it as a context manager:

    >>> from llama_index_ark_context import CachedTokenCounter
    >>> with CachedTokenCounter() as counter:
    ...     pass  # llm.chat(...), query_engine.query(...), ...
    >>> counter.cached_tokens, counter.by_model
    (0, {})

    ``counter.by_model["ep-..."].cached_tokens`` gives one model's total; the model is the
    call's ``model=`` argument, else the ``model_name`` the LLM reports (its ``model``
    setting), else the response's ``model``.
    """

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _by_model: dict[str, ModelTokenUsage] = PrivateAttr(default_factory=dict)
    _span_model: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def class_name(cls) -> str:
        return "CachedTokenCounter"

    # -- results ---------------------------------------------------------------------

    @property
    def by_model(self) -> dict[str, ModelTokenUsage]:
        """A copy of the per-model totals."""
        with self._lock:
            return {k: ModelTokenUsage(**vars(v)) for k, v in self._by_model.items()}

    @property
    def cached_tokens(self) -> int:
        """Cached prompt tokens over all models."""
        with self._lock:
            return sum(u.cached_tokens for u in self._by_model.values())

    @property
    def prompt_tokens(self) -> int:
        """Billed input tokens (cached and creation included) over all models."""
        with self._lock:
            return sum(u.prompt_tokens for u in self._by_model.values())

    @property
    def creation_tokens(self) -> int:
        """Tokens billed to create contexts, over all models."""
        with self._lock:
            return sum(u.creation_tokens for u in self._by_model.values())

    @property
    def billed(self) -> BilledUsage:
        """Full-price, cached, creation and output tokens over all models."""
        return sum((u.billed for u in self.by_model.values()), BilledUsage(calls=0))

    def cost_cny(self, prices: Prices = DEFAULT_PRICES) -> float:
        """Estimated CNY over all models at ``prices`` (storage excluded)."""
        return self.billed.cost_cny(prices)

    def reset(self) -> None:
        """Forget every total."""
        with self._lock:
            self._by_model.clear()
            self._span_model.clear()

    # -- wiring ----------------------------------------------------------------------

    def attach(self) -> CachedTokenCounter:
        """Add this handler to LlamaIndex's root dispatcher (idempotent)."""
        root = get_dispatcher()
        if not any(h is self for h in root.event_handlers):
            root.add_event_handler(self)
        return self

    def detach(self) -> None:
        """Remove this handler from the root dispatcher."""
        root = get_dispatcher()
        root.event_handlers = [h for h in root.event_handlers if h is not self]

    def __enter__(self) -> CachedTokenCounter:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- event handling --------------------------------------------------------------

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, (LLMChatStartEvent, LLMCompletionStartEvent)):
            name = (event.additional_kwargs or {}).get("model")  # a per-call model
            if not isinstance(name, str) or not name:
                name = event.model_dict.get("model_name") if event.model_dict else None
            if event.span_id and isinstance(name, str):
                with self._lock:
                    if len(self._span_model) >= _MAX_OPEN_SPANS:  # abandoned streams
                        self._span_model.pop(next(iter(self._span_model)))
                    self._span_model[event.span_id] = name
        elif isinstance(event, (LLMChatEndEvent, LLMCompletionEndEvent)):
            counts = response_usage(event.response)
            with self._lock:
                model = self._span_model.pop(event.span_id, None) if event.span_id else None
                if counts is None:
                    return
                if model is None or model == "unknown":
                    raw_model = _get(_get(event.response, "raw"), "model")
                    model = raw_model if isinstance(raw_model, str) and raw_model else "unknown"
                totals = self._by_model.setdefault(model, ModelTokenUsage())
                totals.calls += 1
                totals.prompt_tokens += counts[0]
                totals.completion_tokens += counts[1]
                totals.cached_tokens += counts[2]
                totals.creation_tokens += counts[3]
