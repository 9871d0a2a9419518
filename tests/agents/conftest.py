"""Fixtures of the agent tests: the shared emulator with a scripted responder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ark_context.emulator import Emulator


@pytest.fixture
def agent_emu(emu: Emulator) -> Iterator[Emulator]:
    """The shared emulator (reset); the test scripts its replies, restored afterwards."""
    saved = emu.responder
    yield emu
    emu.responder = saved
