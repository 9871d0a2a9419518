"""The docstring examples of the cost model, the auto decision and the usage counters run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "ark_context.costs",
        "ark_context.adaptive",
        "ark_context.routing.auto",
        "llama_index_ark_context.usage",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
