"""ark_context.policy: retry decisions, backoff bounds and Retry-After parsing (pure)."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from ark_context._exceptions import (
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkError,
    ArkPermissionError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkServerError,
    ArkTimeoutError,
)
from ark_context.policy import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)


def api(cls: type, status: int) -> ArkError:
    return cls("x", status_code=status)


IDEM, REFUSED, UNSENT = "idempotent", "refused", "unsent"


@pytest.mark.parametrize(
    ("exc", "retried_under"),
    [
        # never left this process: every kind of call may resend it
        (ArkConnectionError("refused", sent=False), {IDEM, REFUSED, UNSENT}),
        (ArkTimeoutError("pool", sent=False), {IDEM, REFUSED, UNSENT}),
        # may have reached the server: only idempotent calls resend it
        (ArkConnectionError("dropped", sent=True), {IDEM}),
        (ArkTimeoutError("read", sent=True), {IDEM}),
        (api(ArkServerError, 503), {IDEM}),
        (api(ArkServerError, 500), {IDEM}),
        # refused by the server: POST /responses ("refused") may resend, session chat not
        (api(ArkRateLimitError, 429), {IDEM, REFUSED}),
        (api(ArkContextBusyError, 403), {IDEM, REFUSED}),
        # never retried
        (api(ArkPermissionError, 403), set()),
        (api(ArkAuthenticationError, 401), set()),
        (api(ArkBadRequestError, 400), set()),
        (api(ArkContextGoneError, 404), set()),
        (ArkProtocolError("html"), set()),
        (ValueError("not ours"), set()),
    ],
)
def test_is_retryable_matrix(exc: Exception, retried_under: set[str]):
    for safety in (IDEM, REFUSED, UNSENT):
        assert is_retryable(exc, safety=safety) is (safety in retried_under), safety  # type: ignore[arg-type]


def test_is_retryable_defaults_to_idempotent():
    assert is_retryable(ArkConnectionError("dropped", sent=True))
    assert is_retryable(api(ArkServerError, 502))


def test_backoff_full_jitter_within_capped_ceiling():
    random.seed(1234)
    for attempt in range(12):
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        samples = [backoff_delay(attempt) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # full jitter really spreads: the samples cover most of [0, ceiling]
        assert max(samples) > 0.8 * ceiling and min(samples) < 0.2 * ceiling


def test_backoff_huge_attempt_does_not_overflow():
    assert 0.0 <= backoff_delay(10_000) <= BACKOFF_CAP


def test_retry_after_wins_and_is_capped():
    assert backoff_delay(0, retry_after=3.0) == 3.0
    assert backoff_delay(5, retry_after=0.0) == 0.0
    assert backoff_delay(0, retry_after=3600.0) == RETRY_AFTER_CAP


def test_backoff_takes_a_raw_retry_after_header():
    assert backoff_delay(3, retry_after="2") == 2.0
    future = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15.0 < backoff_delay(0, retry_after=future) <= 20.0
    random.seed(7)
    assert 0.0 <= backoff_delay(0, retry_after="soon") <= BACKOFF_BASE  # unreadable: jitter


def test_parse_retry_after_seconds():
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": " 1.5 "}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": ""}) is None
    assert parse_retry_after({"retry-after": "-3"}) is None
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


def test_parse_retry_after_ms_preferred():
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "junk", "retry-after": "9"}) == 9.0
