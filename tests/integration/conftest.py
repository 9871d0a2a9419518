"""Integration tests talk to the emulator (and redis-server) over loopback only."""

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _loopback_only():
    pytest_socket.socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()
