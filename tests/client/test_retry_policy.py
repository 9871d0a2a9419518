"""Retry decisions, backoff bounds and Retry-After parsing (pure functions)."""

from __future__ import annotations

import email.utils
import random

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
from ark_context._retry import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    backoff_delay,
    parse_retry_after,
    should_retry,
)


def api(cls: type, status: int) -> ArkError:
    return cls("x", status_code=status)


@pytest.mark.parametrize(
    ("exc", "idempotent", "expected"),
    [
        (ArkConnectionError("refused", sent=False), False, True),
        (ArkConnectionError("refused", sent=False), True, True),
        (ArkTimeoutError("pool", sent=False), False, True),
        (ArkConnectionError("dropped", sent=True), False, False),
        (ArkConnectionError("dropped", sent=True), True, True),
        (ArkTimeoutError("read", sent=True), False, False),
        (ArkTimeoutError("read", sent=True), True, True),
        (api(ArkRateLimitError, 429), False, False),
        (api(ArkRateLimitError, 429), True, True),
        (api(ArkServerError, 503), False, False),
        (api(ArkServerError, 500), True, True),
        (api(ArkContextBusyError, 403), False, False),
        (api(ArkContextBusyError, 403), True, True),
        (api(ArkPermissionError, 403), True, False),
        (api(ArkAuthenticationError, 401), True, False),
        (api(ArkBadRequestError, 400), True, False),
        (api(ArkContextGoneError, 404), True, False),
        (ArkProtocolError("html"), True, False),
    ],
)
def test_should_retry_matrix(exc: ArkError, idempotent: bool, expected: bool):
    assert should_retry(exc, idempotent=idempotent) is expected


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
