"""Prices, the bill of one call, and when creating a context pays.

Ark bills a routed call in four parts: input tokens at full price (what the context did
not serve), cached input tokens (what it served, at about 20% of the input price),
context creation (every token a ``/context/create`` seeds is billed once at the full
input price) and output tokens. A context also costs storage per token-hour while it
lives, i.e. until ``ttl`` seconds after its last use.

Everything here is pure arithmetic over small frozen dataclasses: the adapters map
:class:`BilledUsage` to their frameworks' usage shapes, and the adaptive router asks
:class:`CostModel` whether creating a context is worth it.

>>> from ark_context.costs import Prices, billed_usage
>>> u = billed_usage({"prompt_tokens": 1000, "completion_tokens": 100,
...                   "prompt_tokens_details": {"cached_tokens": 800}}, create_tokens=300)
>>> (u.full_price_input, u.cached_input, u.creation, u.output, u.input_tokens)
(200, 800, 300, 100, 1300)
>>> round(u.cost_cny(Prices()), 6)  # 0.8 CNY/M input, cached 20% of it, 2.0 CNY/M output
0.000728
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import ArkConfigError

__all__ = [
    "DEFAULT_PRICES",
    "BilledUsage",
    "CostModel",
    "Prices",
    "billed_usage",
    "prices_for",
]

_PER = 1_000_000.0  # prices are CNY per million tokens


def _price(name: str, value: Any, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ArkConfigError(f"{name} must be a finite number >= 0; got {value!r}.")
    if value < 0 or (upper is not None and value > upper):
        bound = f" and <= {upper:g}" if upper is not None else ""
        raise ArkConfigError(f"{name} must be >= 0{bound}; got {value!r}.")
    return float(value)


@dataclass(frozen=True, slots=True)
class Prices:
    """Ark list prices in CNY per million tokens (defaults: doubao-1.5-pro-32k).

    ``cached_ratio`` is the price of a cached input token relative to ``input`` (0.2:
    0.16 vs 0.80 CNY/M). ``storage_per_hour`` is a context's storage, CNY per million
    tokens per hour. Invalid values raise :class:`~ark_context.ArkConfigError` naming the
    setting (``prices.input``, ``prices.cached_ratio``, ...).

    >>> p = Prices(input=0.8, output=2.0)
    >>> p.cached_input
    0.16
    >>> Prices(cached_ratio=1.5)
    Traceback (most recent call last):
    ...
    ark_context._exceptions.ArkConfigError: prices.cached_ratio must be >= 0 and <= 1; got 1.5.
    """

    input: float = 0.80
    output: float = 2.00
    cached_ratio: float = 0.2
    storage_per_hour: float = 0.017

    def __post_init__(self) -> None:
        _price("prices.input", self.input)
        _price("prices.output", self.output)
        _price("prices.cached_ratio", self.cached_ratio, upper=1.0)
        _price("prices.storage_per_hour", self.storage_per_hour)

    @property
    def cached_input(self) -> float:
        """CNY per million cached input tokens."""
        return round(self.input * self.cached_ratio, 12)

    @classmethod
    def coerce(cls, value: Any, setting: str = "prices") -> Prices:
        """``None`` -> defaults; a ``Prices``; or a mapping of its fields (unknown keys and
        bad values raise :class:`~ark_context.ArkConfigError` naming ``setting``)."""
        if value is None:
            return DEFAULT_PRICES
        if isinstance(value, Prices):
            return value
        if isinstance(value, Mapping):
            known = {"input", "output", "cached_ratio", "storage_per_hour"}
            unknown = sorted(str(k) for k in value if k not in known)
            if unknown:
                raise ArkConfigError(
                    f"{setting} has unknown keys {unknown}; use {sorted(known)} "
                    "(CNY per million tokens; cached_ratio relative to input)."
                )
            try:
                return cls(**value)
            except ArkConfigError as exc:
                raise ArkConfigError(str(exc).replace("prices.", f"{setting}.", 1)) from None
        raise ArkConfigError(
            f"{setting} must be a Prices or a mapping of its fields; got {type(value).__name__}."
        )


DEFAULT_PRICES = Prices()


def prices_for(model: str, given: Any = None, setting: str = "prices") -> Prices:
    """The prices ``auto`` judges by for ``model``: the catalog's list prices when it knows
    the model (its first tier), else :data:`DEFAULT_PRICES` (the Context API's
    doubao-1.5-pro-32k), with the fields of ``given`` (a :class:`Prices` or a mapping of
    some of its fields) on top. Bad values raise :class:`~ark_context.ArkConfigError`
    naming ``setting``.

    >>> prices_for("ep-123", {"cached_ratio": 0.1}).cached_ratio
    0.1
    >>> prices_for("doubao-seed-1-6-250615").input
    0.8
    """
    if isinstance(given, Prices):
        return given
    base = DEFAULT_PRICES
    from .catalog import lookup  # the model table; only read for a model it may know

    info = lookup(model) if model else None
    if info is not None and info.prices is not None and info.prices.tiers:
        tier, listed = info.prices.tiers[0], info.prices
        base = Prices(
            input=tier.input,
            output=tier.output if tier.output is not None else DEFAULT_PRICES.output,
            cached_ratio=round(min(listed.cached_input / tier.input, 1.0), 6)
            if tier.input
            else 0.2,
            storage_per_hour=listed.storage
            if listed.storage is not None
            else DEFAULT_PRICES.storage_per_hour,
        )
    if given is None:
        return base
    if not isinstance(given, Mapping):
        return Prices.coerce(given, setting)  # raises, naming the setting
    fields = {
        "input": base.input,
        "output": base.output,
        "cached_ratio": base.cached_ratio,
        "storage_per_hour": base.storage_per_hour,
    }
    return Prices.coerce({**fields, **given} if set(given) <= set(fields) else given, setting)


@dataclass(frozen=True, slots=True)
class BilledUsage:
    """The tokens Ark bills for one call (or a total of calls), by price class.

    ``full_price_input``: input at the full price, excluding creation; ``cached_input``:
    input the context served; ``creation``: tokens billed for creating contexts during the
    call; ``output``: completion tokens. ``input_tokens`` is what LangChain calls
    ``input_tokens`` (all three input classes). Add them up with ``+`` or ``sum()``.

    >>> a = BilledUsage(full_price_input=10, cached_input=90, creation=0, output=5)
    >>> (a + a).input_tokens, sum([a, a]).output
    (200, 10)
    """

    full_price_input: int = 0
    cached_input: int = 0
    creation: int = 0
    output: int = 0
    calls: int = field(default=1, compare=False)

    @property
    def input_tokens(self) -> int:
        """Every billed input token: full price + cached + creation."""
        return self.full_price_input + self.cached_input + self.creation

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output

    def input_units(self, prices: Prices = DEFAULT_PRICES) -> float:
        """Input cost in full-price-token equivalents (cached tokens count ``cached_ratio``)."""
        return self.full_price_input + self.creation + self.cached_input * prices.cached_ratio

    def cost_cny(self, prices: Prices = DEFAULT_PRICES) -> float:
        """Estimated CNY for input, cached input, creation and output (storage excluded:
        see :meth:`CostModel.storage_cny`)."""
        full = (self.full_price_input + self.creation) * prices.input
        return (full + self.cached_input * prices.cached_input + self.output * prices.output) / _PER

    def as_dict(self, prices: Prices | None = None) -> dict[str, Any]:
        """Flat dict; with ``prices``, also ``cost_cny``."""
        out: dict[str, Any] = {
            "full_price_input_tokens": self.full_price_input,
            "cached_input_tokens": self.cached_input,
            "creation_tokens": self.creation,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output,
        }
        if prices is not None:
            out["cost_cny"] = self.cost_cny(prices)
        return out

    def as_ark_usage(self) -> dict[str, Any]:
        """The bill in Ark's usage shape: ``prompt_tokens`` counts creation too, and
        ``prompt_tokens_details`` has ``cached_tokens`` and ``cache_creation_tokens``
        (what LlamaIndex's ``TokenCountingHandler`` reads from ``raw["usage"]``)."""
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {
                "cached_tokens": self.cached_input,
                "cache_creation_tokens": self.creation,
            },
        }

    def as_usage_metadata(self) -> dict[str, Any]:
        """The bill in LangChain's ``UsageMetadata`` shape (a plain dict): ``input_tokens``
        counts cached and creation tokens; ``input_token_details`` splits them out."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output,
            "total_tokens": self.total_tokens,
            "input_token_details": {
                "cache_read": self.cached_input,
                "cache_creation": self.creation,
            },
        }

    @classmethod
    def from_mapping(cls, usage: Any) -> BilledUsage:
        """Read a bill back from LangChain's ``usage_metadata`` (``input_tokens``, ...) or
        from :meth:`as_ark_usage`'s shape, e.g. the totals of
        ``get_usage_metadata_callback()``, to price them:

        >>> totals = {"input_tokens": 1300, "output_tokens": 100, "total_tokens": 1400,
        ...           "input_token_details": {"cache_read": 800, "cache_creation": 300}}
        >>> BilledUsage.from_mapping(totals).full_price_input
        200
        """
        if _field(usage, "input_tokens") is not None:
            total = _count(_field(usage, "input_tokens"))
            details = _field(usage, "input_token_details")
            cached = _count(_field(details, "cache_read"))
            creation = _count(_field(details, "cache_creation"))
            output = _count(_field(usage, "output_tokens"))
        else:
            total = _count(_field(usage, "prompt_tokens"))
            details = _field(usage, "prompt_tokens_details")
            cached = _count(_field(details, "cached_tokens"))
            creation = _count(_field(details, "cache_creation_tokens"))
            output = _count(_field(usage, "completion_tokens"))
        creation = min(creation, total)
        cached = min(cached, total - creation)
        return cls(total - cached - creation, cached, creation, output)

    def __add__(self, other: BilledUsage) -> BilledUsage:
        if not isinstance(other, BilledUsage):
            return NotImplemented
        return BilledUsage(
            self.full_price_input + other.full_price_input,
            self.cached_input + other.cached_input,
            self.creation + other.creation,
            self.output + other.output,
            self.calls + other.calls,
        )

    def __radd__(self, other: object) -> BilledUsage:
        if other == 0:  # sum() starts at 0
            return self
        return NotImplemented


def _field(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def billed_usage(usage: Any, create_tokens: int = 0) -> BilledUsage:
    """Ark usage of a completion (the ``Usage`` model, or its dict) plus the tokens billed
    for contexts the call created (``RouteInfo.create_tokens``) -> :class:`BilledUsage`.

    Ark's ``prompt_tokens`` includes ``cached_tokens``; creation is billed separately at
    the full input price, so it is added on top. Missing fields count as 0.

    >>> billed_usage(None, 40).input_tokens
    40
    """
    prompt = _count(_field(usage, "prompt_tokens"))
    cached = min(_count(_field(_field(usage, "prompt_tokens_details"), "cached_tokens")), prompt)
    return BilledUsage(
        full_price_input=prompt - cached,
        cached_input=cached,
        creation=_count(create_tokens),
        output=_count(_field(usage, "completion_tokens")),
    )


@dataclass(frozen=True, slots=True)
class CostModel:
    """Prices plus a context's ttl: what a context costs to create, keep and reuse.

    All ``*_units`` figures are in full-price input tokens (1 unit = one input token at
    the full price). Creating a context of ``T`` tokens and using it in the same call costs
    ``T`` (creation) + ``cached_ratio * T`` (the call reads it from the cache) + storage;
    each later call that reuses it saves ``(1 - cached_ratio) * T`` over sending ``T``
    at full price.

    >>> m = CostModel(Prices(storage_per_hour=0.0), ttl=3600)
    >>> m.break_even_reuses(1000)  # creating pays once it is reused 0.25 times on average
    0.25
    >>> m.creation_pays(1000, expected_reuses=1.0)
    True
    """

    prices: Prices = DEFAULT_PRICES
    ttl: int = 86400

    def __post_init__(self) -> None:
        if not isinstance(self.prices, Prices):
            raise ArkConfigError(
                f"prices must be a Prices instance; got {type(self.prices).__name__}."
            )
        if isinstance(self.ttl, bool) or not isinstance(self.ttl, int) or self.ttl <= 0:
            raise ArkConfigError(f"ttl must be an int number of seconds > 0; got {self.ttl!r}.")

    @property
    def storage_units_per_token_hour(self) -> float:
        """Storage of one token for one hour, in full-price input tokens."""
        p = self.prices
        return p.storage_per_hour / p.input if p.input > 0 else 0.0

    def storage_units(self, tokens: int, hours: float | None = None) -> float:
        """Storage of ``tokens`` for ``hours`` (default: the ttl, how long a context lives
        after its last use), in full-price input tokens."""
        h = self.ttl / 3600.0 if hours is None else hours
        return tokens * h * self.storage_units_per_token_hour

    def storage_cny(self, token_hours: float) -> float:
        return token_hours * self.prices.storage_per_hour / _PER

    def creation_extra_units(self, tokens: int, *, served_now: int = 0) -> float:
        """What creating a context of ``tokens`` costs this call beyond the alternative,
        where the alternative already serves ``served_now`` of them from a cache (e.g. a
        shared prefix context), plus the storage for one ttl."""
        r = self.prices.cached_ratio
        alternative = (tokens - served_now) + served_now * r
        return tokens * (1.0 + r) - alternative + self.storage_units(tokens)

    def saving_per_reuse_units(self, tokens: int, *, served_otherwise: int = 0) -> float:
        """What one later call saves by reading ``tokens`` from this context instead of
        sending them (``served_otherwise`` of them would be cached anyway)."""
        r = self.prices.cached_ratio
        return (tokens - served_otherwise) * (1.0 - r)

    def break_even_reuses(self, tokens: int, *, served_otherwise: int = 0) -> float:
        """Expected later reuses at which creating a context of ``tokens`` pays (``inf``
        when no number of reuses does)."""
        saving = self.saving_per_reuse_units(tokens, served_otherwise=served_otherwise)
        if saving <= 0:
            return math.inf
        extra = self.creation_extra_units(tokens, served_now=served_otherwise)
        return extra / saving

    def creation_pays(
        self, tokens: int, expected_reuses: float, *, served_otherwise: int = 0
    ) -> bool:
        """True when ``expected_reuses`` later calls recover what creating costs."""
        if tokens <= 0:
            return False
        return expected_reuses > self.break_even_reuses(tokens, served_otherwise=served_otherwise)
