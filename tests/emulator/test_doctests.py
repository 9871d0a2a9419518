"""The docstring examples of the emulator and the CLI stay runnable."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "ark_context.emulator._emulator",
        "ark_context.emulator._contexts",
        "ark_context.emulator._state",
        "ark_context.emulator._core",
        "ark_context.emulator._responses",
        "ark_context.emulator._response_store",
        "ark_context.emulator._response_items",
        "ark_context.emulator._errors",
        "ark_context.emulator._faults",
        "ark_context.emulator._responder",
        "ark_context.emulator._tokens",
        "ark_context_app.cli",
    ],
)
def test_docstring_examples(module: str):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
