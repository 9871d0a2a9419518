"""Incremental Server-Sent Events parser: bytes in, events out.

Why not ``httpx-sse``: it decodes text with httpx's line iterator, knows nothing of
Ark's ``[DONE]`` sentinel or in-band ``{"error": ...}`` events, and would be one more
dependency for ~80 lines. This parser splits lines on *bytes* (``\\r``, ``\\n`` never
occur inside a UTF-8 multi-byte sequence), so a chunk boundary anywhere, including
inside a character, is harmless, and each complete line is decoded once.

>>> p = SSEParser()
>>> [e.data for e in p.feed(b"data: {}\\n\\ndata: [DO")] + [e.data for e in p.feed(b"NE]\\n\\n")]
['{}', '[DONE]']
"""

from __future__ import annotations

from typing import NamedTuple

from ._exceptions import ArkStreamError

__all__ = ["SSEEvent", "SSEParser"]


class SSEEvent(NamedTuple):
    """One dispatched event: ``data`` lines joined with ``\\n``."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Feed raw bytes with :meth:`feed`; call :meth:`close` at end of stream.

    Follows the WHATWG event-stream rules: ``data:`` lines accumulate, a blank line
    dispatches, ``:`` starts a comment, ``event``/``id``/``retry`` are kept, unknown
    fields are ignored, and CRLF, CR and LF all end a line.

    >>> SSEParser().feed(b": ping\\r\\ndata: a\\r\\ndata: b\\r\\n\\r\\n")[0].data
    'a\\nb'
    """

    __slots__ = ("_buf", "_data", "_error", "_event", "_id", "_retry", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False  # the previous chunk ended with CR: a leading LF belongs to it
        self._started = False  # a leading BOM is dropped once
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._error: ArkStreamError | None = None  # raised after the events before it

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk``; return the events it completed (possibly none)."""
        if self._error is not None:
            raise self._error
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buf = self._buf + chunk if self._buf else chunk
        if not self._started:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(buf):
                self._buf = buf
                return []
            self._started = True
            if buf[:3] == b"\xef\xbb\xbf":
                buf = buf[3:]
        if b"\r" in buf:
            if buf[-1:] == b"\r":
                self._skip_lf = True
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        out: list[SSEEvent] = []
        for line in lines:
            try:
                self._line(line, out)
            except ArkStreamError as exc:
                if not out:
                    raise
                # Deliver the events completed before the bad line first (one may be
                # [DONE]), so the outcome does not depend on how the bytes were chunked.
                self._error = exc
                break
        return out

    def close(self) -> list[SSEEvent]:
        """End of stream: return a last event left without its blank line (lenient)."""
        if self._error is not None:
            raise self._error
        out: list[SSEEvent] = []
        if self._buf:
            line, self._buf = self._buf, b""
            self._line(line, out)
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
                out.append(SSEEvent(data, self._event or "message", self._id, self._retry))
                self._data = []
            self._event = ""
            return
        if line[:5] == b"data:":  # fast path: almost every line
            value = line[6:] if line[5:6] == b" " else line[5:]
            self._data.append(_decode(value))
            return
        if line[:1] == b":":
            return
        name, sep, raw = line.partition(b":")
        if sep and raw[:1] == b" ":
            raw = raw[1:]
        field = _decode(name)
        value_s = _decode(raw)
        if field == "data":  # "data" without a colon: an empty data line
            self._data.append(value_s)
        elif field == "event":
            self._event = value_s
        elif field == "id":
            if "\0" not in value_s:
                self._id = value_s
        elif field == "retry" and value_s.isascii() and value_s.isdigit():
            self._retry = int(value_s)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArkStreamError(f"The event stream is not valid UTF-8 ({exc.reason}).") from None
