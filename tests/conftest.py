"""Integration tests talk to the emulator (and redis-server) over loopback only."""

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _loopback_only():
    pytest_socket.socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(scope="session")
def shared_emulator():
    """One emulator server for the whole session (tests reset it through ``emu``)."""
    from ark_context.emulator import run_emulator

    with run_emulator() as emu:
        yield emu


@pytest.fixture
def emu(shared_emulator):
    """The shared emulator, reset (no contexts, records, faults; clock kept)."""
    shared_emulator.reset()
    yield shared_emulator
    shared_emulator.reset()
