"""Setting checks shared by the client, the router and the settings model.

Plain functions, no pydantic: the client and router import them without building the
settings model (which keeps the core's import working set small)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ._exceptions import ArkConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "TTL_MAX",
    "TTL_MIN",
    "check_base_url",
    "check_truncation",
    "check_ttl",
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
    if mode != "session":
        raise ArkConfigError(
            "truncation_strategy is only supported in session mode; remove it or set mode='session'."
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


def check_base_url(url: str) -> str:
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
    return url.rstrip("/")
