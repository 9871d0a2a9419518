"""Shared constants and small helpers of the emulator (no state, no HTTP)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The API root every endpoint lives under.
API_PREFIX = "/api/v3"

PATH_CREATE = "/context/create"
PATH_CONTEXT_CHAT = "/context/chat/completions"
PATH_CHAT = "/chat/completions"
PATH_RESPONSES = "/responses"
#: Record/fault path of ``GET|DELETE /responses/{id}``.
PATH_RESPONSE = "/responses/{id}"
#: Record/fault path of ``GET /responses/{id}/input_items``.
PATH_INPUT_ITEMS = "/responses/{id}/input_items"

#: The API paths a fault can target and records are filed under (relative to the base URL).
API_PATHS = (
    PATH_CREATE,
    PATH_CONTEXT_CHAT,
    PATH_CHAT,
    PATH_RESPONSES,
    PATH_RESPONSE,
    PATH_INPUT_ITEMS,
)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the way the emulator writes every body."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def null_free(message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` without its explicit JSON nulls (they count as unset everywhere)."""
    return {k: v for k, v in message.items() if v is not None}


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def new_record(path: str, request_id: str, **fields: Any) -> dict[str, Any]:
    """One request record with every key both APIs share (see the package docstring)."""
    rec: dict[str, Any] = {
        "request_id": request_id,
        "path": path,
        "context_id": None,
        "response_id": None,
        "previous_response_id": None,
        "mode": None,
        "model": None,
        "stream": False,
        "messages": None,
        "from_context": 0,
        "sent": None,
        "reply": None,
        "output": None,
        "finish_reason": None,
        "usage": None,
        "dropped": 0,
        "applied": False,
        "status": None,
        "error": None,
        "fault": None,
        "cut": False,
        "outcome": "ok",
    }
    rec.update(fields)
    return rec
