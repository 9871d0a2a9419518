"""Serving the emulator: in a background thread (tests, notebooks) or in the foreground (CLI)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from ._emulator import Emulator
from ._errors import EmulatorError

API_PREFIX = "/api/v3"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto is TCP,
    # and without it every response stalls ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise EmulatorError(f"cannot bind the emulator to {host}:{port}: {e}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(emu: Emulator, log_level: str, graceful: int) -> Any:
    emu.app  # noqa: B018 - builds the app first: a missing extra fails with its name
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        from ._errors import missing_emulator_extra

        raise missing_emulator_extra(exc) from exc

    config = uvicorn.Config(
        emu.app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=graceful,
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def run_emulator(
    emulator: Emulator | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    **options: Any,
) -> Iterator[Emulator]:
    """Serve an emulator on ``host:port`` (default: a free loopback port) in a background thread.

    ``options`` go to :class:`Emulator` when no ``emulator`` is given. The yielded emulator has
    ``base_url`` (``http://127.0.0.1:PORT/api/v3``) and ``root_url`` set while it runs; on exit
    the server stops (open streams are cut after one second) and the thread is joined.

    >>> with run_emulator() as emu:  # doctest: +SKIP
    ...     emu.base_url
    'http://127.0.0.1:50123/api/v3'
    """
    if emulator is not None and options:
        raise EmulatorError("pass either an Emulator or Emulator options, not both")
    emu = emulator if emulator is not None else Emulator(**options)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    server = _server(emu, log_level, graceful=1)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # reported to the caller below
            failure.append(e)

    thread = threading.Thread(target=target, name=f"ark-emulator-{bound_port}", daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
        if not thread.is_alive():
            sock.close()
            raise EmulatorError(f"the emulator failed to start: {failure[:1]!r}")
    root = _url(host, bound_port)
    emu.root_url = root
    emu.base_url = root + API_PREFIX
    try:
        yield emu
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        emu.base_url = None
        emu.root_url = None


def serve(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 8765,
          log_level: str = "warning", announce: Any = None) -> None:  # fmt: skip
    """Serve in the foreground until interrupted (Ctrl-C / SIGTERM); used by the CLI.

    ``announce(base_url)`` is called once the socket is bound (port 0 picks a free port).
    Quiet by default: uvicorn's startup and shutdown lines show from ``log_level="info"``.
    """
    sock = _bind(host, port)
    root = _url(host, sock.getsockname()[1])
    emulator.root_url = root
    emulator.base_url = root + API_PREFIX
    if announce is not None:
        announce(emulator.base_url)
    server = _server(emulator, log_level, graceful=2)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
