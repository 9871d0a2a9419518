"""Retry decisions and backoff: which errors may be retried, and how long to wait.

The one knob is ``idempotent``. A non-idempotent call (session-mode context chat: the
server appends every turn it sees) is retried only when the request provably never
left this process. An idempotent call also retries timeouts, dropped connections,
429, 5xx and 403 ``InvalidState`` (context busy).

>>> from ark_context._exceptions import ArkConnectionError
>>> should_retry(ArkConnectionError("refused", sent=False), idempotent=False)
True
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

from ._exceptions import ArkAPIError, ArkConnectionError, ArkError

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "RETRY_AFTER_CAP",
    "backoff_delay",
    "parse_retry_after",
    "should_retry",
]

BACKOFF_BASE = 0.5
"""First backoff ceiling in seconds; doubles every attempt (full jitter below it)."""

BACKOFF_CAP = 8.0
"""Largest backoff ceiling in seconds."""

RETRY_AFTER_CAP = 60.0
"""A server's ``Retry-After`` is honoured up to this many seconds."""


def should_retry(exc: ArkError, *, idempotent: bool) -> bool:
    """Whether ``exc`` may be retried on a call with this idempotency."""
    if isinstance(exc, ArkConnectionError):
        return idempotent or not exc.sent
    if isinstance(exc, ArkAPIError):
        return idempotent and exc.retryable
    return False


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    ``Retry-After`` wins when the server sent one (capped at :data:`RETRY_AFTER_CAP`);
    otherwise full jitter: uniform in ``[0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)]``.
    """
    if retry_after is not None:
        return max(0.0, min(retry_after, RETRY_AFTER_CAP))
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2.0 ** min(attempt, 30)))
    return random.uniform(0.0, ceiling)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date) or ``retry-after-ms``.

    Returns ``None`` when absent or unreadable; never negative."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value:  # not NaN
            return value
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None
    import email.utils  # lazy: only HTTP-date Retry-After needs it

    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
