"""The one configuration object both adapters inherit: fields, env vars, validation.

``ChatArkContext`` and ``ArkContextLLM`` subclass :class:`ArkContextParams` next to
their framework base, so every field, default and environment variable is declared
once, here.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ._exceptions import ArkConfigError, register_secret
from ._validation import DEFAULT_BASE_URL, check_base_url, check_truncation, check_ttl
from .policy import check_request_fields

if TYPE_CHECKING:
    from ._adapter_seam import ArkRouter

__all__ = [
    "DEFAULT_BASE_URL",
    "ArkContextParams",
    "check_truncation",
    "check_ttl",
    "config_error",
]

_ROUTER_LOCK = threading.Lock()  # guards building routers; shared so models stay picklable
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

    model: str = Field(default_factory=lambda: os.environ.get("ARK_MODEL", ""))
    """Ark endpoint id (``ep-...``). Falls back to ``ARK_MODEL``."""

    api_key: SecretStr | None = Field(default=None, validate_default=True)
    """Ark API key. Falls back to ``ARK_API_KEY``. Never logged or serialised."""

    base_url: str = Field(default="", validate_default=True)
    """API base URL. Falls back to ``ARK_BASE_URL``, then the official Beijing URL."""

    mode: Literal["session", "common_prefix"] = "session"
    """``session``: the context grows with the chat. ``common_prefix``: one shared,
    immutable context per system prompt."""

    ttl: int = 86400
    """Context time-to-live in seconds, [3600, 604800]; restarts at every use."""

    truncation_strategy: dict[str, Any] | None = None
    """Session mode only: ``{"type": "last_history_tokens", ...}`` or ``{"type": "rolling_tokens", ...}``."""

    prefix_messages: int | None = None
    """common_prefix mode: how many leading messages form the cached prefix
    (default: all leading system messages)."""

    temperature: float | None = None
    """Sampling temperature."""

    top_p: float | None = None
    """Nucleus sampling threshold, [0, 1]."""

    max_tokens: int | None = None
    """Maximum reply length in tokens (Ark's default: 4096)."""

    stop: list[str] | None = None
    """Up to 4 stop strings."""

    frequency_penalty: float | None = None
    """[-2, 2]."""

    presence_penalty: float | None = None
    """[-2, 2]."""

    logprobs: bool | None = None
    """Return log probabilities of the output tokens."""

    top_logprobs: int | None = None
    """[0, 20]; needs ``logprobs``."""

    logit_bias: dict[str, int] | None = None
    """Token id -> bias in [-100, 100]."""

    timeout: float = 60.0
    """Request timeout in seconds."""

    max_retries: int = 2
    """Retries for errors that are safe to retry (429, 5xx, connection)."""

    stream_usage: bool = True
    """Ask for the usage chunk at the end of streams."""

    default_headers: dict[str, str] | None = None
    """Extra HTTP headers sent on every request."""

    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra request fields passed through as they are."""

    store: Any = Field(default=None, exclude=True)
    """A ``ContextStore`` (default: the process-wide in-memory store)."""

    http_client: Any = Field(default=None, exclude=True)
    """Optional ``httpx.Client`` to send sync requests with."""

    http_async_client: Any = Field(default=None, exclude=True)
    """Optional ``httpx.AsyncClient`` to send async requests with."""

    _ark_router_cache: Any = PrivateAttr(default=None)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(type(self).__name__, exc) from None

    @model_validator(mode="before")
    @classmethod
    def _ark_collect(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = set(cls.model_fields)
        for f in cls.model_fields.values():
            if f.alias:
                known.add(f.alias)
        extra = {k: v for k, v in data.items() if k not in known}
        if extra:
            data = {k: v for k, v in data.items() if k in known}
            kwargs = dict(data.get("model_kwargs") or {})
            for k, v in extra.items():
                warnings.warn(
                    f"{k!r} is not a known field of {cls.__name__}; it is sent as a request "
                    "field through model_kwargs.",
                    UserWarning,
                    stacklevel=4,
                )
                kwargs[k] = v
            data["model_kwargs"] = kwargs
        return data

    @field_validator("ttl")
    @classmethod
    def _ark_ttl(cls, v: int) -> int:
        return check_ttl(v)

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
        v = v or os.environ.get("ARK_BASE_URL") or DEFAULT_BASE_URL
        return check_base_url(str(v))

    @model_validator(mode="after")
    def _ark_check(self) -> ArkContextParams:
        check_truncation(self.mode, self.truncation_strategy)
        if self.stop is not None and len(self.stop) > 4:
            raise ArkConfigError("stop takes at most 4 strings.")
        if self.prefix_messages is not None and self.prefix_messages < 1:
            raise ArkConfigError(
                "prefix_messages must be >= 1 (or None for the leading system messages)."
            )
        check_request_fields(self.model_kwargs, "model_kwargs")
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
        out.update(self.model_kwargs)
        if stop is not None:
            out["stop"] = stop
        for k, v in overrides.items():
            if v is not None:
                out[k] = v
        if "stop" in out and not out["stop"]:  # an empty list means "no stop strings"
            del out["stop"]
        check_request_fields(out)
        return out

    def ark_router(self, model: str | None = None) -> ArkRouter:
        """The :class:`~ark_context.ArkRouter` (a ``ContextRouter``) for these settings and ``model``
        (default: the ``model`` field; a per-call override gets its own). Built once per
        distinct settings, rebuilt when a setting changes."""
        from .router import ContextRouter

        model = model or self.model
        key = (
            model,
            self.api_key.get_secret_value() if self.api_key else None,
            self.base_url,
            self.mode,
            self.ttl,
            repr(self.truncation_strategy),
            self.prefix_messages,
            self.timeout,
            self.max_retries,
            repr(self.default_headers),
            id(self.store),
            id(self.http_client),
            id(self.http_async_client),
        )
        with _ROUTER_LOCK:
            cache = self._ark_router_cache
            if cache is None:
                cache = self._ark_router_cache = {}
            router: ArkRouter | None = cache.get(key)
            if router is not None:
                return router
            if not model:
                raise ArkConfigError(
                    "No model: pass model='ep-...' (your Ark endpoint id) or set ARK_MODEL."
                )
            router = ContextRouter.from_settings(self, api_key=self.ark_secret(), model=model)
            if len(cache) >= 16:  # settings changed often: drop the old routers
                cache.clear()
            cache[key] = router
            return router
