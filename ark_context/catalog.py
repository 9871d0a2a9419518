"""Which Ark model caches through which API, what it accepts, and what it costs.

One table, as data: every Model ID that Volcengine Ark's public docs list for context
caching (模型列表 → 上下文缓存能力; prices from 模型服务价格 and each model's page). Ark states that a model supports at most one of the two caching
APIs (模型列表 → 上下文缓存能力: at most one caching API per model), so the model fixes the API:

* ``"context"``: ``POST /context/create`` + ``/context/chat/completions`` (Ark's past models:
  doubao-1.5-pro/lite-32k, deepseek-v3-250324, deepseek-r1);
* ``"responses"``: ``POST /responses`` with ``caching`` and ``previous_response_id`` (every
  current model: doubao-seed-1.6/1.8, deepseek-v3.1/3.2, kimi-k2).

An endpoint id (``ep-...``) names a deployment, not a model: the client cannot know which
model is behind it, so :func:`lookup` returns ``None`` for it and its caching API must come
from a setting (``caching_api``) or from :func:`lookup`'s ``extra`` table.

Prices are CNY per million tokens (storage: per million tokens per hour), online inference,
from the spec tables; ``None`` where the spec gives no figure.

>>> from ark_context.catalog import caching_api, lookup
>>> lookup("doubao-seed-1-6-251015").api, caching_api("doubao-1-5-pro-32k-250115")
('responses', 'context')
>>> lookup("ep-20250101000000-abcde") is None
True
>>> lookup("deepseek-v3-2-251201").prices.input_price(40_000)
4.0
>>> lookup("doubao-seed-1-6-251015").limits.max_input
229376
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "CACHING_APIS",
    "MODELS",
    "CachingAPI",
    "Limits",
    "ModelInfo",
    "PriceTier",
    "Prices",
    "caching_api",
    "is_endpoint_id",
    "lookup",
    "model_id_advice",
    "thinking_advice",
]

CachingAPI = Literal["context", "responses"]
CACHING_APIS: tuple[CachingAPI, ...] = ("context", "responses")

#: Storage price of every model in the spec's price table (CNY per million token-hours).
_STORAGE = 0.017
#: Output length (tokens) up to which the first tier's ``output_short`` price applies.
SHORT_OUTPUT_TOKENS = 200


@dataclass(frozen=True, slots=True)
class PriceTier:
    """The prices for prompts of up to ``up_to_k`` thousand input tokens (``None``: any)."""

    up_to_k: int | None
    input: float
    output: float | None
    #: Output price when the reply is at most 200 tokens (doubao-seed-1.6 and -lite, first
    #: tier); ``None``: the same as ``output``.
    output_short: float | None = None


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's list prices; tiers are by input length, in ascending order."""

    tiers: tuple[PriceTier, ...]
    cached_input: float
    storage: float | None = _STORAGE

    def tier(self, input_tokens: int) -> PriceTier:
        """The tier that prices a prompt of ``input_tokens`` (the last tier beyond all)."""
        for t in self.tiers:
            if t.up_to_k is None or input_tokens <= t.up_to_k * 1000:
                return t
        return self.tiers[-1]

    def input_price(self, input_tokens: int) -> float:
        """CNY per million uncached input tokens for a prompt of ``input_tokens``."""
        return self.tier(input_tokens).input

    def output_price(self, input_tokens: int, output_tokens: int) -> float | None:
        """CNY per million output tokens for this prompt and reply length."""
        t = self.tier(input_tokens)
        if t.output_short is not None and output_tokens <= SHORT_OUTPUT_TOKENS:
            return t.output_short
        return t.output


ThinkingType = Literal["enabled", "disabled", "auto"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the table knows about one Model ID."""

    model_id: str
    family: str
    api: CachingAPI
    #: Caching modes, in the API's own names: ``session``/``common_prefix`` (Context API),
    #: ``session``/``prefix`` (Responses API).
    modes: tuple[str, ...]
    #: Accepted ``thinking.type`` values; empty: do not send ``thinking``.
    thinking: tuple[ThinkingType, ...] = ()
    thinking_default: ThinkingType | None = None
    #: Accepts ``reasoning.effort`` (``minimal`` only when thinking is disabled).
    reasoning_effort: bool = False
    #: Accepts ``text.format`` ``json_object`` / ``json_schema`` (Responses API, beta).
    structured_output: bool = False
    #: Context API: the one truncation strategy the model supports, when the spec names it.
    truncation: str | None = None
    prices: Prices | None = None
    #: Token limits from the model's page (``None``: not documented).
    limits: Limits | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """A model's token limits (模型介绍 → <model>: 最大上下文长度, 最大输入长度, 最大回答长度).

    ``context_window``: input and output together; ``max_input``: the longest prompt (where
    the page gives none, the window less the longest answer); ``max_output``: the longest
    answer ``max_tokens`` can ask for (reasoning excluded).
    """

    context_window: int
    max_input: int
    max_output: int


# -- prices (Ark's public docs: 模型服务价格, 模型介绍/推荐模型/<model>) --------------------------

_SEED_16 = Prices(
    tiers=(
        PriceTier(32, 0.80, 8.00, output_short=2.00),
        PriceTier(128, 1.20, 16.00),
        PriceTier(256, 2.40, 24.00),
    ),
    cached_input=0.16,
)
_SEED_16_LITE = Prices(
    tiers=(
        PriceTier(32, 0.30, 2.40, output_short=0.60),
        PriceTier(128, 0.60, 4.00),
        PriceTier(256, 1.20, 12.00),
    ),
    cached_input=0.06,
)
_SEED_16_FLASH = Prices(
    tiers=(PriceTier(32, 0.15, 1.50), PriceTier(128, 0.30, 3.00), PriceTier(256, 0.60, 6.00)),
    cached_input=0.03,
)
_SEED_CODE = Prices(
    tiers=(PriceTier(32, 1.20, 8.00), PriceTier(128, 1.40, 12.00), PriceTier(256, 2.80, 16.00)),
    cached_input=0.24,
)
_DEEPSEEK_32 = Prices(
    tiers=(PriceTier(32, 2.00, 3.00), PriceTier(128, 4.00, 6.00)), cached_input=0.40
)
_DEEPSEEK_31 = Prices(tiers=(PriceTier(None, 4.00, 12.00),), cached_input=0.80)
_KIMI_K2 = Prices(tiers=(PriceTier(None, 4.00, 16.00),), cached_input=0.80)
# The Context API spec gives input and cached input only (no output or storage figure).
_DOUBAO_15_PRO = Prices(tiers=(PriceTier(None, 0.80, None),), cached_input=0.16, storage=None)

# -- the table ---------------------------------------------------------------------------------

_RESP_MODES = ("session", "prefix")
_CTX_MODES = ("session", "common_prefix")
_ON_OFF: tuple[ThinkingType, ...] = ("enabled", "disabled")


def _responses(
    family: str,
    ids: tuple[str, ...],
    prices: Prices | None,
    thinking: tuple[ThinkingType, ...] = (),
    thinking_default: ThinkingType | None = None,
    *,
    effort: bool = False,
    structured: bool = True,
) -> list[ModelInfo]:
    return [
        ModelInfo(
            model_id=i,
            family=family,
            api="responses",
            modes=_RESP_MODES,
            thinking=thinking,
            thinking_default=thinking_default,
            reasoning_effort=effort,
            structured_output=structured,
            prices=prices,
        )
        for i in ids
    ]


def _context(
    family: str,
    model_id: str,
    modes: tuple[str, ...] = _CTX_MODES,
    truncation: str | None = None,
    prices: Prices | None = None,
) -> ModelInfo:
    return ModelInfo(model_id, family, "context", modes, truncation=truncation, prices=prices)


_ENTRIES: list[ModelInfo] = [
    # Responses API (模型列表 → 上下文缓存能力; thinking values from 深度思考)
    ModelInfo(
        "doubao-seed-1-6-250615",
        "doubao-seed-1.6",
        "responses",
        _RESP_MODES,
        thinking=("enabled", "disabled", "auto"),
        thinking_default="enabled",
        structured_output=True,
        prices=_SEED_16,
    ),
    *_responses(
        "doubao-seed-1.6", ("doubao-seed-1-6-251015",), _SEED_16, _ON_OFF, "enabled", effort=True
    ),
    *_responses(
        "doubao-seed-1.6-lite",
        ("doubao-seed-1-6-lite-251015",),
        _SEED_16_LITE,
        _ON_OFF,
        "enabled",
        effort=True,
        structured=False,  # "doubao-seed-1-6-lite-251015 has no structured output"
    ),
    *_responses(
        "doubao-seed-1.6-vision", ("doubao-seed-1-6-vision-250815",), None, _ON_OFF, "enabled"
    ),
    *_responses(
        "doubao-seed-1.6-flash",
        (
            "doubao-seed-1-6-flash-250828",
            "doubao-seed-1-6-flash-250715",
            "doubao-seed-1-6-flash-250615",
        ),
        _SEED_16_FLASH,
        _ON_OFF,
        "enabled",
    ),
    *_responses(
        "doubao-seed-1.6-thinking",
        ("doubao-seed-1-6-thinking-250715", "doubao-seed-1-6-thinking-250615"),
        None,
    ),
    *_responses(
        "doubao-seed-code", ("doubao-seed-code-preview-251028",), _SEED_CODE, _ON_OFF, "enabled"
    ),
    # doubao-seed-1.8: not in the thinking list, so thinking is not sent (the spec's rule).
    *_responses("doubao-seed-1.8", ("doubao-seed-1-8-251215",), _SEED_16),
    *_responses("deepseek-v3.2", ("deepseek-v3-2-251201",), _DEEPSEEK_32, _ON_OFF, "disabled"),
    *_responses(
        "deepseek-v3.1",
        ("deepseek-v3-1-terminus", "deepseek-v3-1-250821"),
        _DEEPSEEK_31,
        _ON_OFF,
        "disabled",
    ),
    *_responses("kimi-k2", ("kimi-k2-250905", "kimi-k2-thinking-251104"), _KIMI_K2),
    # Context API
    _context(
        "doubao-1.5-pro-32k",
        "doubao-1-5-pro-32k-character-250715",
        truncation="rolling_tokens",
        prices=_DOUBAO_15_PRO,
    ),
    _context(
        "doubao-1.5-pro-32k",
        "doubao-1-5-pro-32k-character-250228",
        ("session",),
        truncation="rolling_tokens",
        prices=_DOUBAO_15_PRO,
    ),
    _context("doubao-1.5-pro-32k", "doubao-1-5-pro-32k-250115", prices=_DOUBAO_15_PRO),
    _context("doubao-1.5-lite-32k", "doubao-1-5-lite-32k-250115"),
    _context("deepseek-v3", "deepseek-v3-250324"),
    _context("deepseek-r1", "deepseek-r1-250528", ("common_prefix",)),
]

_K = 1024
# Token limits by family, from each model's page (模型介绍/推荐模型, 其他模型). doubao-seed-1.8
# and kimi-k2 state only the window (256k) and the longest answer: their max input is the
# window less that answer, as the seed-1.6 pages state it (224k of 256k).
_SEED = Limits(256 * _K, 224 * _K, 32 * _K)
_LIMITS: dict[str, Limits] = {
    "doubao-seed-1.6": _SEED,
    "doubao-seed-1.6-lite": _SEED,
    "doubao-seed-1.6-vision": _SEED,
    "doubao-seed-1.6-flash": _SEED,
    "doubao-seed-1.6-thinking": _SEED,
    "doubao-seed-code": _SEED,
    "doubao-seed-1.8": _SEED,
    "kimi-k2": _SEED,
    "deepseek-v3.2": Limits(128 * _K, 96 * _K, 32 * _K),
    "deepseek-v3.1": Limits(128 * _K, 96 * _K, 32 * _K),
    "deepseek-r1": Limits(128 * _K, 96 * _K, 32 * _K),
    "deepseek-v3": Limits(128 * _K, 112 * _K, 16 * _K),
    "doubao-1.5-pro-32k": Limits(32 * _K, 20 * _K, 12 * _K),  # the character versions
    "doubao-1.5-lite-32k": Limits(32 * _K, 20 * _K, 12 * _K),
}
# a version whose window differs from its family's ("128k 250115" on the doubao-1.5-pro page)
_MODEL_LIMITS: dict[str, Limits] = {
    "doubao-1-5-pro-32k-250115": Limits(128 * _K, 116 * _K, 12 * _K),
}

#: Model ID -> what the table knows. Read-only by convention; extend through ``extra``.
MODELS: Mapping[str, ModelInfo] = {
    m.model_id: replace(m, limits=_MODEL_LIMITS.get(m.model_id) or _LIMITS.get(m.family))
    for m in _ENTRIES
}


def is_endpoint_id(model: str) -> bool:
    """``ep-...``: an endpoint id, whose model the client cannot know."""
    return model.startswith("ep-")


def lookup(model: str, extra: Mapping[str, ModelInfo] | None = None) -> ModelInfo | None:
    """What the table (or ``extra``, which wins) knows about ``model``.

    ``None`` for endpoint ids that ``extra`` does not name and for unknown names (a gateway's
    alias, a model newer than this table)."""
    if extra is not None and model in extra:
        return extra[model]
    if is_endpoint_id(model):
        return None
    return MODELS.get(model)


def caching_api(
    model: str,
    override: CachingAPI | None = None,
    extra: Mapping[str, ModelInfo] | None = None,
) -> CachingAPI | None:
    """The caching API for ``model``: ``override`` when given, else the table's entry, else
    ``None`` (an endpoint id or an unknown name: the caller's setting must decide)."""
    if override is not None:
        return override
    info = lookup(model, extra)
    return info.api if info is not None else None


def model_id_advice(model: str, api: CachingAPI = "context") -> str | None:
    """What to tell a caller who passed ``model`` to a class that speaks ``api``, or ``None``
    when there is nothing to say. The one place this wording lives.

    With ``caching_api="auto"`` the adapters pick the API from this table, so the advice
    that matters is a Context-API Model ID: the Context API takes endpoint ids only."""
    info = lookup(model)
    if info is None or api != "context":
        return None
    if info.api == "responses":
        return (
            f"model={model!r} caches through Ark's Responses API, not the Context API, "
            "which Ark refuses for it. Leave caching_api='auto' (or set 'responses'), or pass "
            "the endpoint id (ep-...) of a Context-API model; caching_api='context' only if "
            "your gateway serves this name on the Context API."
        )
    return (
        f"model={model!r} is a Model ID, but Ark's Context API takes endpoint ids: pass the "
        "ep-... id of an endpoint on this model (Ark console, 在线推理), or set "
        "caching_api='context' if your gateway accepts model names."
    )


def thinking_advice(model: str, thinking: str) -> str | None:
    """What is wrong with the ``thinking`` setting for ``model``, or ``None`` (the model
    takes it, or the table does not know the model: an endpoint id or a newer name).

    >>> thinking_advice("doubao-seed-1-6-251015", "auto")
    "model='doubao-seed-1-6-251015' takes thinking 'enabled' or 'disabled', not 'auto'."
    >>> thinking_advice("doubao-seed-1-6-250615", "auto") is None
    True
    """
    info = lookup(model)
    if info is None:
        return None
    if not info.thinking:
        where = "the Context API" if info.api == "context" else "Ark's docs for this model"
        return (
            f"model={model!r} takes no thinking setting ({where}: do not send it); remove "
            f"thinking={thinking!r}."
        )
    if thinking not in info.thinking:
        accepted = " or ".join(repr(t) for t in info.thinking)
        return f"model={model!r} takes thinking {accepted}, not {thinking!r}."
    return None
