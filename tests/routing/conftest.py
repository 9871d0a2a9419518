"""Routing unit tests: flows driven with scripted results and fakes, sockets disabled."""

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _no_sockets():
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()
