"""A real ``redis-server`` on a free 127.0.0.1 port, in a temp dir, for tests and benchmarks.

Any test can ask for the ``redis_server`` fixture (the root conftest registers it)::

    def test_x(redis_server):
        store = RedisStore(redis_server.url, prefix="t:")

or the class directly (benchmarks)::

    with RedisServer.start() as server:
        ...

When ``redis-server`` is not installed the fixture skips the test on a developer machine
and fails it in CI (``CI`` set to anything but ``""``/``0``/``false``): ``make system-deps``
installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RedisServer", "redis_server", "redis_server_or_skip"]

MISSING = "redis-server is not installed (run `make system-deps`, or apt-get install redis-server)"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running ``redis-server`` process (no persistence, loopback only)."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    _tmp: Any = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, *, timeout: float = 20.0, attempts: int = 3) -> RedisServer:
        """Start a server and wait until it answers PING (a port taken in between is
        retried with another port)."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError(MISSING)
        last = ""
        for _ in range(attempts):
            tmp = tempfile.TemporaryDirectory(prefix="ark-redis-")
            port = _free_port()
            log = Path(tmp.name) / "redis.log"
            args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            args += ["--appendonly", "no", "--dir", tmp.name, "--logfile", str(log)]
            proc = subprocess.Popen(
                args,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if _ping(port):
                    return cls(port, proc, Path(tmp.name), tmp)
                time.sleep(0.02)  # start-up poll, not a retry of anything under test
            last = log.read_text(errors="replace")[-500:] if log.exists() else ""
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            tmp.cleanup()
        raise RuntimeError(f"redis-server did not start after {attempts} attempts: {last}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def redis_server_or_skip() -> RedisServer:
    """Start a server; skip the test when redis-server is missing (fail in CI)."""
    if shutil.which("redis-server") is None:
        if _in_ci():
            pytest.fail(f"{MISSING}; CI must run the Redis tests.", pytrace=False)
        pytest.skip(MISSING)
    return RedisServer.start()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session (tests use their own key prefixes, or
    flush the database)."""
    server = redis_server_or_skip()
    try:
        yield server
    finally:
        server.stop()
