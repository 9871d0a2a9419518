"""Checks of the one invariant against the emulator's record (shared by integration tests).

For every completion, the transcript the server used (context contents + messages sent)
must equal exactly the conversation the caller passed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

_ids = itertools.count()

COMPLETION_PATHS = ("/context/chat/completions", "/chat/completions")


def new_request_id(tag: str = "call") -> str:
    """A unique X-Client-Request-Id, so records can be matched to calls."""
    return f"{tag}-{next(_ids)}"


def records_for(emu: Any, request_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in emu.records()
        if r.get("request_id") == request_id and r.get("path") in COMPLETION_PATHS
    ]


def assert_served_exactly(
    emu: Any, request_id: str, conversation: Sequence[Mapping[str, str]]
) -> list[dict[str, Any]]:
    """Every completion the model ran for ``request_id`` saw exactly ``conversation``.

    Returns those records. A record counts when the model ran (it has a reply) or the turn
    was applied to a context (a fault after processing, a cut stream)."""
    want = [dict(m) for m in conversation]
    ran = [
        r for r in records_for(emu, request_id) if r.get("reply") is not None or r.get("applied")
    ]
    for r in ran:
        got = [dict(m) for m in r["messages"]]
        assert got == want, (
            f"wrong transcript for {request_id} on {r.get('context_id')}:\n"
            f"  server saw {len(got)} messages: {_short(got)}\n"
            f"  caller had {len(want)} messages: {_short(want)}"
        )
        assert not r.get("dropped"), "no truncation is configured, yet the server dropped history"
    return ran


def assert_all_records_consistent(
    emu: Any, conversations: Mapping[str, Sequence[Mapping[str, str]]]
) -> None:
    """Check every completion in the record whose request id is in ``conversations``."""
    for rid, conv in conversations.items():
        assert_served_exactly(emu, rid, conv)


def _short(msgs: Sequence[Mapping[str, str]]) -> str:
    return " | ".join(f"{m['role'][0]}:{m['content'][:24]!r}" for m in msgs)
