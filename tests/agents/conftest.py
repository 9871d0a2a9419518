"""Fixtures of the agent tests: the shared emulator with a scripted responder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ark_context.emulator import Emulator


@pytest.fixture
def agent_emu(responses_emu: Emulator) -> Iterator[Emulator]:
    """An emulator on the real clock (reset; see ``responses_emulator``); the test scripts
    its replies."""
    yield responses_emu
