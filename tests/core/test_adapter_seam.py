"""The adapter seam's examples run, and what ark_router() hands out is shared per settings."""

from __future__ import annotations

import doctest

import ark_context._adapter_seam
from ark_context import ArkContextParams


def test_docstring_examples() -> None:
    result = doctest.testmod(ark_context._adapter_seam)
    assert result.attempted >= 2 and result.failed == 0


def test_one_router_per_model_and_settings() -> None:
    p = ArkContextParams(model="ep-1", api_key="k", base_url="http://127.0.0.1:9/api/v3")
    router = p.ark_router()
    assert p.ark_router("ep-1") is router  # the model field is the default
    assert p.ark_router("ep-2") is not router  # a per-call model gets its own
    p.ttl = 7200
    assert p.ark_router() is not router  # a changed setting builds a new one
