"""Setting checks shared by the client, the router and the settings model.

Plain functions, no pydantic: the client and router import them without building the
settings model (which keeps the core's import working set small)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import ArkConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "TTL_MAX",
    "TTL_MIN",
    "base_url_advice",
    "check_base_url",
    "check_truncation",
    "check_ttl",
    "check_unknown_kwargs",
    "looks_secret",
]

DEFAULT_BASE_URL = "https://ark.cn-beijing.volces.com/api/v3"
TTL_MIN, TTL_MAX = 3600, 604800


def check_ttl(ttl: Any) -> int:
    """Validate a ttl in seconds, [3600, 604800]."""
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise ArkConfigError(
            f"ttl must be an int number of seconds in [{TTL_MIN}, {TTL_MAX}]; got {ttl!r}."
        )
    if not TTL_MIN <= ttl <= TTL_MAX:
        raise ArkConfigError(
            f"ttl={ttl} is out of range; set ttl to seconds in [{TTL_MIN}, {TTL_MAX}] (1 hour to 7 days)."
        )
    return ttl


def check_truncation(mode: str, strategy: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate a truncation strategy for ``mode``."""
    if strategy is None:
        return None
    if mode not in ("session", "auto"):
        raise ArkConfigError(
            "truncation_strategy is only supported in session mode (and in auto mode, for "
            "the session contexts it creates); remove it or set mode='session'."
        )
    if not isinstance(strategy, dict):
        raise ArkConfigError(f"truncation_strategy must be a dict; got {type(strategy).__name__}.")
    kind = strategy.get("type")
    if kind == "last_history_tokens":
        n = strategy.get("last_history_tokens", 4096)
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n < 32768:
            raise ArkConfigError(
                "truncation_strategy.last_history_tokens must be an int in (0, 32768)."
            )
    elif kind == "rolling_tokens":
        if not isinstance(strategy.get("rolling_tokens", True), bool):
            raise ArkConfigError("truncation_strategy.rolling_tokens must be true or false.")
    else:
        raise ArkConfigError(
            "truncation_strategy.type must be 'last_history_tokens' or 'rolling_tokens'; "
            f"got {kind!r}."
        )
    return strategy


# Paths a client appends to the base URL: a base URL that already ends in one is a
# copy-paste of a full endpoint URL.
_ENDPOINT_PATHS = (
    "/context/chat/completions",
    "/context/create",
    "/chat/completions",
    "/responses",
)
_API_PATH = "/api/v3"


def _official(host: str) -> bool:
    return host == "volces.com" or host.endswith(".volces.com")


def check_base_url(url: str) -> str:
    """Validate a base URL: a scheme and host, not a full endpoint URL, and on Ark's own
    host the ``/api/v3`` path. Returns it without a trailing slash."""
    try:
        parsed = urlsplit(url) if "://" in url else None
        host = parsed.hostname if parsed is not None else None
    except ValueError:
        parsed, host = None, None
    if parsed is None or parsed.scheme not in ("http", "https") or not host:
        raise ArkConfigError(
            f"base_url {url!r} needs a scheme and host, like "
            f"'{DEFAULT_BASE_URL}'; set base_url or ARK_BASE_URL."
        )
    url = url.rstrip("/")
    path = parsed.path.rstrip("/")
    for suffix in _ENDPOINT_PATHS:
        if path.endswith(suffix):
            raise ArkConfigError(
                f"base_url {url!r} ends in the endpoint path {suffix!r}: drop it "
                f"(base_url={url[: -len(suffix)]!r}); the client appends the path of each "
                "call. Set base_url or ARK_BASE_URL."
            )
    if _official(host) and path != _API_PATH:
        raise ArkConfigError(
            f"base_url {url!r} lacks the API path: add {_API_PATH} "
            f"(base_url='{parsed.scheme}://{parsed.netloc}{_API_PATH}'). "
            "Set base_url or ARK_BASE_URL."
        )
    return url


def base_url_advice(request_url: str) -> str:
    """What to check when the server at ``request_url`` did not answer like Ark (a 404, an
    HTML page): ``base_url`` / ``ARK_BASE_URL``, and ``add /api/v3`` when the base lacks it."""
    try:
        parsed = urlsplit(request_url)
    except ValueError:
        return "Check base_url / ARK_BASE_URL."
    path = parsed.path.rstrip("/")
    for suffix in _ENDPOINT_PATHS:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if path.endswith(_API_PATH):
        return "Check base_url / ARK_BASE_URL."
    fixed = f"{parsed.scheme}://{parsed.netloc}{path}{_API_PATH}"
    return (
        f"Check base_url / ARK_BASE_URL: Ark's base URL ends in {_API_PATH}; "
        f"add {_API_PATH} (base_url={fixed!r}) unless your gateway documents another path."
    )


# -- keyword arguments ----------------------------------------------------------------------

#: Names other clients use for our fields (LangChain's ChatOpenAI, LlamaIndex's OpenAILike,
#: the official Ark SDK, Ark's environment variables).
FOREIGN_NAMES: Mapping[str, str] = {
    "openai_api_base": "base_url",
    "api_base": "base_url",
    "base": "base_url",
    "endpoint": "base_url",
    "ark_base_url": "base_url",
    "url": "base_url",
    "openai_api_key": "api_key",
    "ark_api_key": "api_key",
    "apikey": "api_key",
    "key": "api_key",
    "model_name": "model",
    "endpoint_id": "model",
    "ark_model": "model",
    "deployment_name": "model",
    "request_timeout": "timeout",
    "max_new_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "stop_sequences": "stop",
    "headers": "default_headers",
    "extra_headers": "default_headers",
    "extra_body": "model_kwargs",
    "client": "http_client",
    "async_client": "http_async_client",
    "context_mode": "mode",
    "context_ttl": "ttl",
}

_SECRET_PARTS = frozenset(
    {
        "key",
        "apikey",
        "secret",
        "password",
        "passwd",
        "pwd",
        "token",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "cookie",
        "sk",
        "ak",
    }
)


def looks_secret(name: str) -> bool:
    """Whether a setting, request field or header called ``name`` probably holds a secret
    (``ark_api_key``, ``Authorization``, ``X-Api-Key``, ``access_token``; not
    ``max_tokens``)."""
    low = name.lower()
    parts = re.split(r"[^a-z0-9]+", low)
    return any(p in _SECRET_PARTS for p in parts) or "apikey" in low or "secret" in low


def _suggestion(name: str, known: Iterable[str]) -> str | None:
    known = list(known)
    low = name.lower()
    target = FOREIGN_NAMES.get(low)
    if target is not None and target in known:
        return target
    if low in known:
        return low
    close = difflib.get_close_matches(low, known, n=1, cutoff=0.75)
    return close[0] if close else None


def check_unknown_kwargs(
    owner: str,
    unknown: Mapping[str, Any],
    known: Iterable[str],
    passthrough: str = "model_kwargs",
) -> None:
    """Raise one :class:`ArkConfigError` for keyword arguments that are not fields.

    Names each one with a did-you-mean (near misses and other clients' names), never its
    value (one of them may be a key: a secret-looking value is also registered, so every
    later error scrubs it), and says how to send a request field on purpose."""
    if not unknown:
        return
    from ._exceptions import register_secret

    known = list(known)
    parts: list[str] = []
    for name, value in unknown.items():
        if isinstance(value, str):
            if looks_secret(name):
                register_secret(value)
        elif hasattr(value, "get_secret_value") and looks_secret(name):
            register_secret(value.get_secret_value())
        hint = _suggestion(name, known)
        parts.append(f"{name!r} (did you mean {hint}?)" if hint else repr(name))
    noun = "argument" if len(parts) == 1 else "arguments"
    raise ArkConfigError(
        f"{owner} got unknown keyword {noun} {', '.join(parts)}. Fix the name; to send an "
        f"extra request field to Ark on purpose, pass {passthrough}={{...}}."
    )
