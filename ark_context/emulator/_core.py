"""Both emulated APIs on one shared state (clock, auth, faults, records)."""

from __future__ import annotations

from ._contexts import ContextAPI
from ._responses import ResponsesAPI


class EmulatorCore(ContextAPI, ResponsesAPI):
    """The protocol logic of every endpoint, without HTTP; :class:`Emulator` adds the app.

    >>> core = EmulatorCore()
    >>> core.reset()
    >>> core.records()
    []
    """

    def reset(self) -> None:
        """Forget contexts, responses, records and faults; the clock offset stays."""
        with self._lock:
            self._contexts.clear()
            self.forget_responses()
            self._token_hours_released = 0
            self._records.clear()
            self._faults.clear()
