"""What the client's unit tests share: a mocked base URL, a key to look for in leaks, and
one ``client`` fixture that builds clients against them (respx mocks the HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ark_context import ArkContextClient

BASE = "http://ark.test/api/v3"
KEY = "sk-client-SECRET-4242"  # tests assert it never shows in errors, reprs and logs
USER = [{"role": "user", "content": "hi"}]

MakeClient = Callable[..., ArkContextClient]


@pytest.fixture
def client() -> MakeClient:
    """``client(**kw)`` -> an :class:`ArkContextClient` on ``BASE`` with ``KEY`` whose retry
    backoff does not sleep; any keyword overrides (``sleep=`` to record the delays)."""

    def make(**kw: Any) -> ArkContextClient:
        kw.setdefault("api_key", KEY)
        kw.setdefault("base_url", BASE)
        kw.setdefault("sleep", lambda s: None)
        return ArkContextClient(**kw)

    return make
