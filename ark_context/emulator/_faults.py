"""Injected faults: what the next N requests on a path get instead of (or on top of) a reply."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from ._common import API_PATHS
from ._errors import EmulatorError

FaultKind = Literal["status", "latency", "drop", "cut_stream", "stream_error"]
_KINDS = ("status", "latency", "drop", "cut_stream", "stream_error")


def normalize_path(path: str) -> str:
    """``"context/create"``, ``"/api/v3/context/create"`` -> ``"/context/create"``."""
    if path == "*":
        return path
    p = "/" + path.strip().lstrip("/")
    if p.startswith("/api/v3/"):
        p = p[len("/api/v3") :]
    if p not in API_PATHS:
        raise EmulatorError(
            f"unknown fault path {path!r}: use one of {', '.join(API_PATHS)} or '*'"
        )
    return p


@dataclasses.dataclass
class Fault:
    """One injected fault, consumed by the next ``times`` matching requests.

    >>> Fault(kind="status", path="/chat/completions", status=429).applies
    False
    """

    kind: FaultKind
    #: API path (``/context/chat/completions`` ...) or ``"*"`` for every API path.
    path: str = "*"
    #: How many matching requests this fault hits before it is used up.
    times: int = 1
    #: ``status``: the HTTP status to answer with (429, 500, 502, 403, 404, ...);
    #: ``stream_error``: the status whose default code/message the error event carries.
    status: int = 500
    #: ``status``: the error code; default depends on the status (see ``default_fault_error``).
    code: str | None = None
    #: ``status``: the error message (Ark appends `` Request id: ...``).
    message: str | None = None
    #: ``status``: the ``Retry-After`` header value (429 defaults to ``"1"``).
    retry_after: str | None = None
    #: Whether the request is processed (turn appended, context created) before the fault
    #: hits. Default: ``False`` for ``status``, ``True`` for ``drop``; ``cut_stream`` and
    #: ``stream_error`` always are (a Responses stream that errors is ``failed``, not stored).
    apply: bool | None = None
    #: ``latency``: seconds added before the request is processed.
    seconds: float = 0.0
    #: ``cut_stream``: SSE events sent before the connection is closed (no ``[DONE]``);
    #: ``stream_error``: SSE events sent before an error event (then ``[DONE]``).
    after_chunks: int = 1

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise EmulatorError(f"unknown fault kind {self.kind!r}: use one of {', '.join(_KINDS)}")
        self.path = normalize_path(self.path)
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1:
            raise EmulatorError(f"fault times must be a positive integer, got {self.times!r}")
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise EmulatorError(f"fault status must be an integer, got {self.status!r}")
        if not 400 <= self.status <= 599:
            raise EmulatorError(f"fault status must be in 400..599, got {self.status}")
        if not isinstance(self.seconds, (int, float)) or self.seconds < 0:
            raise EmulatorError(f"fault seconds must be >= 0, got {self.seconds!r}")
        if not isinstance(self.after_chunks, int) or self.after_chunks < 0:
            raise EmulatorError(f"fault after_chunks must be >= 0, got {self.after_chunks!r}")
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)

    @property
    def streams_only(self) -> bool:
        """Whether only streaming requests consume this fault."""
        return self.kind in ("cut_stream", "stream_error")

    @property
    def applies(self) -> bool:
        """Whether the request is processed (applied to the context) before the fault hits."""
        if self.kind in ("cut_stream", "stream_error", "latency"):
            return True
        if self.apply is not None:
            return self.apply
        return self.kind == "drop"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["applies"] = self.applies
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build from admin-endpoint JSON; unknown keys are an ``EmulatorError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise EmulatorError(f"unknown fault field(s) {unknown}: known are {sorted(names)}")
        if "kind" not in data:
            raise EmulatorError(f"a fault needs a 'kind' ({', '.join(_KINDS)})")
        return cls(**{k: v for k, v in data.items() if v is not None or k == "apply"})
