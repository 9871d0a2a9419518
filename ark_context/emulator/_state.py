"""What both emulated APIs share: clock, ids, auth, the fault queue and the record log.

Everything is guarded by one re-entrant lock, so the HTTP layer can run on uvicorn's event
loop while tests inspect state from other threads.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ._common import is_int, is_number
from ._errors import ApiError, EmulatorError
from ._faults import Fault, FaultKind, normalize_path
from ._responder import Responder, echo_responder


class EmulatorState:
    """Clock, ids, auth, faults and records; the API classes build on it.

    >>> state = EmulatorState(clock=lambda: 1000.0)
    >>> state.advance_clock(60)
    1060.0
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        responder: Responder | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_tokens: int = 1,
        max_records: int = 10_000,
    ) -> None:
        if api_keys is not None and isinstance(api_keys, str):
            raise EmulatorError("api_keys must be a collection of keys, not one string")
        self._api_keys = None if api_keys is None else frozenset(api_keys)
        if self._api_keys is not None and not all(self._api_keys):
            raise EmulatorError("api_keys must not contain an empty key")
        if not is_int(chunk_tokens) or chunk_tokens < 1:
            raise EmulatorError(f"chunk_tokens must be a positive integer, got {chunk_tokens!r}")
        if latency < 0 or chunk_delay < 0:
            raise EmulatorError("latency and chunk_delay must be >= 0 seconds")
        self.responder: Responder = responder or echo_responder
        self.latency = float(latency)
        self.chunk_delay = float(chunk_delay)
        self.chunk_tokens = chunk_tokens
        self._clock = clock or time.time
        self._sleep = sleep
        self._offset = 0.0
        self._lock = threading.RLock()
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._faults: list[Fault] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._id_prefix = f"021{int(time.time() * 1000)}{secrets.token_hex(4)}"

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """The emulator's clock: the injected clock plus every ``advance_clock``."""
        return self._clock() + self._offset

    def advance_clock(self, seconds: float) -> float:
        """Move the clock forward (contexts idle past their ttl and responses past their
        ``expire_at`` are gone); returns the new time."""
        if not is_number(seconds) or seconds < 0:
            raise EmulatorError(f"advance_clock needs seconds >= 0, got {seconds!r}")
        with self._lock:
            self._offset += seconds
            return self.now()

    async def sleep(self, seconds: float) -> None:
        """Wait (injectable via ``Emulator(sleep=...)``; default ``anyio.sleep``)."""
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            import anyio

            await anyio.sleep(seconds)

    # ------------------------------------------------------------------ ids
    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):08d}"

    # ------------------------------------------------------------------ auth
    def check_auth(self, header: str | None) -> None:
        if not header or not header.startswith("Bearer "):
            raise ApiError(
                401,
                "AuthenticationError",
                "The API key is missing or the Authorization header is malformed; "
                "send `Authorization: Bearer <API key>`.",
            )
        key = header[7:].strip()
        if not key or (self._api_keys is not None and key not in self._api_keys):
            raise ApiError(401, "AuthenticationError", "The API key in the request is invalid.")

    # ------------------------------------------------------------------ faults
    def inject_fault(self, path: str = "*", kind: FaultKind = "status", **options: Any) -> Fault:
        """Make the next ``times`` requests on ``path`` fail; see :class:`Fault`."""
        return self.add_fault(Fault(kind=kind, path=path, **options))

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, path: str, stream: bool) -> Fault | None:
        """The first pending fault for this request, consumed by one use."""
        if not self._faults:
            return None
        with self._lock:
            for f in self._faults:
                if f.path not in ("*", path) or (f.streams_only and not stream):
                    continue
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
                return dataclasses.replace(f, times=1)
        return None

    # ------------------------------------------------------------------ records
    def record(self, rec: dict[str, Any]) -> None:
        with self._lock:
            rec["seq"] = next(self._seq)
            self._records.append(rec)

    def records(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every API request's record (oldest first), optionally only those on ``path``."""
        want = None if path is None else normalize_path(path)
        with self._lock:
            out = [r for r in self._records if want is None or want == "*" or r["path"] == want]
            return copy.deepcopy(out)

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()
