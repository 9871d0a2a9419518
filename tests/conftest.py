"""Fixtures every component's tests share, and the socket policy.

Tests are sorted by component (tests/client/, tests/routing/, ...). Whether a test is a unit
or an integration test is its ``integration`` marker (``pytestmark`` in the module):

- marked ``integration``: sockets to loopback only (the emulator, redis-server);
- anything else: sockets disabled (unix socketpairs stay allowed for asyncio), so a unit
  test that tried to reach the network fails instead of passing by luck.

Run one kind with ``pytest -m integration`` or ``pytest -m "not integration"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import pytest_socket

from tests.redis_server import redis_server

if TYPE_CHECKING:
    from ark_context.emulator import Emulator

__all__ = ["redis_server"]  # a session fixture: a real redis-server on a free loopback port

LOOPBACK = ["127.0.0.1", "localhost", "::1"]


@pytest.fixture(autouse=True)
def _socket_policy(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("integration") is not None:
        pytest_socket.socket_allow_hosts(LOOPBACK, allow_unix_socket=True)
    else:
        pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[Emulator]:
    """One emulator server for the whole session (tests reset it through ``emu``)."""
    from ark_context.emulator import run_emulator

    with run_emulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def responses_emulator() -> Iterator[Emulator]:
    """A second emulator server for the session whose clock no test advances: Responses API
    calls send fixed ``expire_at`` deadlines from the real clock, which the shared server
    refuses once a test has moved its clock forward. Never call ``advance_clock`` on it."""
    from ark_context.emulator import run_emulator

    with run_emulator() as emu:
        yield emu


@pytest.fixture
def responses_emu(responses_emulator: Emulator) -> Iterator[Emulator]:
    """:func:`responses_emulator`, reset before and after the test (its responder too)."""
    saved = responses_emulator.responder
    responses_emulator.reset()
    yield responses_emulator
    responses_emulator.reset()
    responses_emulator.responder = saved


@pytest.fixture
def emu(shared_emulator: Emulator) -> Iterator[Emulator]:
    """The shared emulator server, reset (no contexts, records, faults; clock kept).

    Unit tests of the emulator define their own in-process ``emu`` (no server)."""
    shared_emulator.reset()
    yield shared_emulator
    shared_emulator.reset()
