"""The one configuration object both adapters inherit: fields, env vars, validation.

``ChatArkContext`` and ``ArkContextLLM`` subclass :class:`ArkContextParams` next to
their framework base, so every field, default and environment variable is declared
once, here.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ._exceptions import ArkConfigError, register_secret
from ._validation import (
    DEFAULT_BASE_URL,
    check_base_url,
    check_truncation,
    check_ttl,
    check_unknown_kwargs,
    looks_secret,
)
from .adaptive import check_mode
from .catalog import model_id_advice, thinking_advice
from .costs import Prices
from .policy import check_fresh_context_retries
from .stores._base import ContextStore

if TYPE_CHECKING:
    from ._adapter_seam import ArkRouter
    from .catalog import Limits

__all__ = [
    "DEFAULT_BASE_URL",
    "ArkContextParams",
    "check_truncation",
    "check_ttl",
    "config_error",
]

_ROUTER_LOCK = threading.Lock()  # guards building routers; shared so models stay picklable


class _RouterCache(dict[Any, Any]):
    """A model's routers by settings. A copy (``copy``, ``deepcopy``, ``model_copy``)
    shares them; a pickle holds an empty cache (routers hold clients, locks and state), so
    an unpickled model builds its own, and frameworks that probe each private attribute
    for picklability (LlamaIndex's ``BaseComponent``) find nothing to remove and log
    nothing."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[_RouterCache], tuple[()]]:
        return (_RouterCache, ())

    def __copy__(self) -> _RouterCache:
        return _RouterCache(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> _RouterCache:
        return _RouterCache(self)


SAMPLING_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)


def config_error(owner: str, exc: ValidationError) -> ArkConfigError:
    """The first ArkConfigError a validator raised, else one naming every bad setting.

    Input values are left out on purpose: one of them may be the API key."""
    problems: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ArkConfigError):
            return cause
        field = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        problems.append(f"{field}: {err.get('msg', 'invalid')}")
    return ArkConfigError(f"Invalid {owner} settings: " + "; ".join(problems) + ".")


class ArkContextParams(BaseModel):
    """Fields shared by ``ChatArkContext`` and ``ArkContextLLM`` (a pydantic mixin).

    >>> from ark_context import ArkContextParams
    >>> p = ArkContextParams(model="ep-123", api_key="k", mode="common_prefix")
    >>> p.ark_sampling_params(temperature=0.2)
    {'temperature': 0.2}
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    #: Where unknown keyword arguments are pointed to (LlamaIndex: ``additional_kwargs``).
    _ark_passthrough: ClassVar[str] = "model_kwargs"

    model: str = Field(
        default="",
        description="Ark endpoint id (`ep-...`); empty: `ARK_MODEL`. Context-API endpoints "
        "only (a model such as doubao-1-5-pro-32k-250115).",
    )
    api_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        description="Ark API key; None: `ARK_API_KEY`. Never logged, printed or serialised.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        validate_default=True,
        description="API base URL, ending in `/api/v3`; when not passed: `ARK_BASE_URL`, "
        "then the official Beijing URL.",
    )
    caching_api: Literal["auto", "context", "responses"] = Field(
        default="auto",
        description="The caching API `model` uses. `auto`: from the model table (current "
        "models such as doubao-seed-1-6-251015 use the Responses API; endpoint ids `ep-...` "
        "and unknown names use the Context API). `context` or `responses`: that API, e.g. for "
        "an `ep-...` endpoint of a Responses-API model.",
    )
    mode: Literal["auto", "session", "common_prefix"] = Field(
        default="auto",
        description="`auto`: per call, a plain call, a shared context for a system prompt "
        "that repeats, or a session context for a conversation that continues, whichever "
        "the evidence says pays. `session`: always one context per conversation. "
        "`common_prefix`: always one shared, read-only context per system prompt.",
    )
    ttl: int | None = Field(
        default=None,
        description="Context time-to-live in seconds, [3600, 604800]; restarts at every use. "
        "None: 3600 in auto mode, 86400 otherwise.",
    )
    prices: dict[str, float] | None = Field(
        default=None,
        description="What auto mode judges by, CNY per million tokens: any of `input`, "
        "`output`, `cached_ratio` (cached input / input), `storage_per_hour`. None: the "
        "model's list prices when known, else doubao-1.5-pro-32k's.",
    )
    truncation_strategy: dict[str, Any] | None = Field(
        default=None,
        description='Session mode only: `{"type": "last_history_tokens", ...}` or '
        '`{"type": "rolling_tokens", ...}`; None: Ark picks by model.',
    )
    prefix_messages: int | None = Field(
        default=None,
        description="common_prefix and auto modes: how many leading messages form the shared "
        "prefix; "
        "None: all leading system messages.",
    )
    temperature: float | None = Field(default=None, description="Sampling temperature.")
    top_p: float | None = Field(default=None, description="Nucleus sampling threshold, [0, 1].")
    max_tokens: int | None = Field(
        default=None, description="Maximum reply length in tokens (Ark's default: 4096)."
    )
    stop: list[str] | None = Field(default=None, description="Up to 4 stop strings.")
    frequency_penalty: float | None = Field(default=None, description="[-2, 2].")
    presence_penalty: float | None = Field(default=None, description="[-2, 2].")
    logprobs: bool | None = Field(
        default=None, description="Return log probabilities of the output tokens."
    )
    top_logprobs: int | None = Field(default=None, description="[0, 20]; needs `logprobs`.")
    logit_bias: dict[str, int] | None = Field(
        default=None, description="Token id -> bias in [-100, 100]."
    )
    thinking: Literal["enabled", "disabled", "auto"] | None = Field(
        default=None,
        description="Deep thinking (`thinking.type`) for models that take it (see the model "
        "table); None: not sent, the model's default. Reasoning text is surfaced, counted "
        "and never resent. A value the model does not take raises.",
    )
    timeout: float = Field(default=60.0, description="Request timeout in seconds.")
    max_retries: int = Field(
        default=2,
        description="Retries for errors that are safe to retry (429, 5xx, connection).",
    )
    fresh_context_retries: int | None = Field(
        default=None,
        description=(
            "After a session send fails in a way that may be retried (connection cut, 5xx, "
            "429), how many times (0-3) the router starts over on a fresh context seeded "
            "from your history. None: 1, or 0 when max_retries is 0."
        ),
    )
    delete_retired: bool = Field(
        default=False,
        description="Responses API: delete the last response of a branch the conversation "
        "left (an edit, a regenerate, a rebuilt chain) so it stops costing storage; going "
        "back to that branch then rebuilds it from your history.",
    )
    stream_usage: bool = Field(
        default=True, description="Ask for the usage chunk at the end of streams."
    )
    default_headers: dict[str, str] | None = Field(
        default=None,
        description="Extra HTTP headers sent on every request (secret-looking values are "
        "hidden from repr).",
    )
    model_kwargs: dict[str, Any] = Field(
        default={},
        description="Extra request fields sent as they are (unknown keyword arguments raise "
        "instead).",
    )
    store: ContextStore | None = Field(
        default=None,
        exclude=True,
        description="Where the router remembers contexts; None: the process-wide `InMemoryStore`.",
    )
    http_client: Any = Field(
        default=None,
        exclude=True,
        description="An `httpx.Client` to send sync requests with; None: a shared pool.",
    )
    http_async_client: Any = Field(
        default=None,
        exclude=True,
        description="An `httpx.AsyncClient` to send async requests with; None: a shared pool.",
    )

    _ark_router_cache: Any = PrivateAttr(default=None)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.__doc__ = with_field_docs(cls)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(type(self).__name__, exc) from None
        if self.caching_api == "auto" and self.model and self.ark_caching_api() == "context":
            advice = model_id_advice(self.model)
            if advice is not None:
                warnings.warn(advice, UserWarning, stacklevel=2)

    @model_validator(mode="before")
    @classmethod
    def _ark_collect(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = set(cls.model_fields)
        for f in cls.model_fields.values():
            if f.alias:
                known.add(f.alias)
            va = f.validation_alias
            if isinstance(va, str):
                known.add(va)
            elif isinstance(va, AliasChoices):
                known.update(c for c in va.choices if isinstance(c, str))
        extra = {k: v for k, v in data.items() if k not in known}
        check_unknown_kwargs(cls.__name__, extra, cls.model_fields, cls._ark_passthrough)
        if data.get("model") is None:
            data = {**data, "model": os.environ.get("ARK_MODEL", "")}
        if not data.get("base_url"):
            data = {**data, "base_url": os.environ.get("ARK_BASE_URL") or DEFAULT_BASE_URL}
        return data

    @field_validator("ttl")
    @classmethod
    def _ark_ttl(cls, v: int | None) -> int | None:
        return None if v is None else check_ttl(v)

    @field_validator("mode", mode="before")
    @classmethod
    def _ark_mode(cls, v: Any) -> Any:
        return check_mode(v)

    @field_validator("prices", mode="before")
    @classmethod
    def _ark_prices(cls, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, Prices):
            v = {f: getattr(v, f) for f in ("input", "output", "cached_ratio", "storage_per_hour")}
        Prices.coerce(v, "prices")  # raises ArkConfigError naming prices.<field>
        return dict(v)

    @field_validator("fresh_context_retries", mode="before")
    @classmethod
    def _ark_fresh_retries(cls, v: Any) -> Any:
        return None if v is None else check_fresh_context_retries(v)

    @field_validator("api_key", mode="before")
    @classmethod
    def _ark_key(cls, v: Any) -> Any:
        if v is None or v == "":
            v = os.environ.get("ARK_API_KEY") or None
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if isinstance(raw, str):
            register_secret(raw)
        return v

    @field_validator("base_url", mode="before")
    @classmethod
    def _ark_base_url(cls, v: Any) -> str:
        return check_base_url(str(v or os.environ.get("ARK_BASE_URL") or DEFAULT_BASE_URL))

    def __repr_args__(self) -> Any:
        """Like pydantic's, with secret-looking header and request-field values hidden."""
        for name, value in super().__repr_args__():
            if name in ("default_headers", "model_kwargs") and isinstance(value, dict):
                value = {k: "**********" if looks_secret(str(k)) else v for k, v in value.items()}
            yield name, value

    @model_validator(mode="after")
    def _ark_check(self) -> ArkContextParams:
        check_truncation(self.mode, self.truncation_strategy)
        for name, value in (*(self.default_headers or {}).items(), *self.model_kwargs.items()):
            if isinstance(value, str) and looks_secret(name):
                register_secret(value)
        if self.stop is not None and len(self.stop) > 4:
            raise ArkConfigError("stop takes at most 4 strings.")
        if self.prefix_messages is not None and self.prefix_messages < 1:
            raise ArkConfigError(
                "prefix_messages must be >= 1 (or None for the leading system messages)."
            )
        if self.thinking is not None:
            advice = thinking_advice(self.model, self.thinking)
            if advice is not None:
                raise ArkConfigError(advice)
        return self

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = state.get("__pydantic_private__")
        if private and private.get("_ark_router_cache") is not None:
            state["__pydantic_private__"] = {**private, "_ark_router_cache": None}
        return state

    # -- what adapters call -------------------------------------------------

    def ark_secret(self) -> str:
        """The API key, or an ArkConfigError naming ``ARK_API_KEY``."""
        if self.api_key is None or not self.api_key.get_secret_value():
            raise ArkConfigError(
                "No API key: pass api_key=... or set the ARK_API_KEY environment variable."
            )
        return self.api_key.get_secret_value()

    def ark_sampling_params(
        self, stop: list[str] | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """Request fields for one call: set fields, then ``model_kwargs``, then per-call overrides.

        Only fields that are set are returned (Ark must never receive ``null``)."""
        out: dict[str, Any] = {}
        for name in SAMPLING_PARAMS:
            v = getattr(self, name)
            if v is not None:
                out[name] = v
        if self.thinking is not None:
            out["thinking"] = {"type": self.thinking}
        out.update(self.model_kwargs)
        if stop is not None:
            out["stop"] = stop
        for k, v in overrides.items():
            if v is not None:
                out[k] = v
        if "stop" in out and not out["stop"]:  # an empty list means "no stop strings"
            del out["stop"]
        return out

    def ark_caching_api(self, model: str | None = None) -> Literal["context", "responses"]:
        """The caching API calls for ``model`` use: the ``caching_api`` setting, else the
        model table; endpoint ids and unknown names: ``"context"``.

        >>> ArkContextParams(model="doubao-seed-1-6-251015", api_key="k").ark_caching_api()
        'responses'
        >>> ArkContextParams(model="ep-1", api_key="k").ark_caching_api()
        'context'
        """
        if self.caching_api != "auto":
            return self.caching_api
        from .catalog import caching_api

        return caching_api(model or self.model) or "context"

    def ark_limits(self, model: str | None = None) -> Limits | None:
        """The token limits of ``model`` (default: the ``model`` field) from the model
        table; ``None`` for endpoint ids and names the table does not know.

        >>> ArkContextParams(model="deepseek-v3-2-251201", api_key="k").ark_limits().max_input
        98304
        >>> ArkContextParams(model="ep-1", api_key="k").ark_limits() is None
        True
        """
        from .catalog import lookup

        info = lookup(model or self.model)
        return info.limits if info is not None else None

    def ark_router(self, model: str | None = None) -> ArkRouter:
        """The :class:`~ark_context.ArkRouter` for these settings and ``model`` (default:
        the ``model`` field; a per-call override gets its own): a ``ContextRouter`` or a
        ``ResponsesRouter``, by :meth:`ark_caching_api`. Built once per distinct settings,
        rebuilt when a setting changes."""
        from .router import ContextRouter

        model = model or self.model
        api = self.ark_caching_api(model) if model else "context"
        key = (
            api,
            model,
            self.api_key.get_secret_value() if self.api_key else None,
            self.base_url,
            self.mode,
            self.ttl,
            repr(self.truncation_strategy),
            self.prefix_messages,
            self.timeout,
            self.max_retries,
            self.fresh_context_retries,
            repr(self.prices),
            self.delete_retired,
            repr(self.default_headers),
            id(self.store),
            id(self.http_client),
            id(self.http_async_client),
        )
        with _ROUTER_LOCK:
            cache = self._ark_router_cache
            if cache is None:
                cache = self._ark_router_cache = _RouterCache()
            router: ArkRouter | None = cache.get(key)
            if router is not None:
                return router
            if not model:
                raise ArkConfigError(
                    "No model: pass model='ep-...' (your Ark endpoint id) or set ARK_MODEL."
                )
            if api == "responses":
                from .routing.responses_router import ResponsesRouter

                router = ResponsesRouter.from_settings(self, api_key=self.ark_secret(), model=model)
            else:
                router = ContextRouter.from_settings(self, api_key=self.ark_secret(), model=model)
            if len(cache) >= 16:  # settings changed often: drop the old routers
                cache.clear()
            cache[key] = router
            return router


def annotation_text(annotation: Any) -> str:
    """A field's type as a reader writes it: ``Literal['a', 'b']``, ``ContextStore | None``."""
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    text = re.sub(r"\b(?:[a-z_]+\.)+([A-Za-z]\w*)", r"\1", text)  # module paths off
    return text.replace("NoneType", "None")


def with_field_docs(cls: type[BaseModel]) -> str:
    """``cls``'s docstring plus one entry per setting (its type, default and description),
    so ``help()`` explains every field. The adapters' own fields are included."""
    own = set(ArkContextParams.model_fields) | set(getattr(cls, "__annotations__", {}))
    lines = [(cls.__doc__ or "").rstrip(), "", "Settings (keyword arguments):", ""]
    for name, field in cls.model_fields.items():
        if name not in own or not field.description:
            continue
        ann = annotation_text(field.annotation)
        default = "{}" if name == "model_kwargs" else repr(field.default)
        lines.append(f"    {name}: {ann} = {default}")
        lines.append(f"        {field.description}")
    return "\n".join(lines) + "\n"


ArkContextParams.__doc__ = with_field_docs(ArkContextParams)
