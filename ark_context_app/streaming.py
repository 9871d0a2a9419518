"""Streaming one ``ChatArkContext`` reply to the console, with its cache statistics.

LangChain and rich are imported by the callers; this module only touches the objects
they pass in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .costs import TurnStats

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from rich.console import Console

    from langchain_ark_context import ChatArkContext

__all__ = ["resend_bytes", "stream_turn", "wire_history"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def wire_history(history: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages (system, human, ai; text content) as ``{role, content}`` dicts."""
    return [
        {
            "role": _ROLES.get(m.type, m.type),
            "content": m.content if isinstance(m.content, str) else "",
        }
        for m in history
    ]


def resend_bytes(model: str, messages: Sequence[Mapping[str, Any]], **params: Any) -> int:
    """Size of the JSON body a plain ``/chat/completions`` call with the whole history sends.

    >>> resend_bytes("ep-1", [{"role": "user", "content": "hi"}])
    60
    """
    body = {"model": model, "messages": list(messages), **params}
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def stream_turn(
    con: Console, llm: ChatArkContext, history: Sequence[BaseMessage], turn: int
) -> tuple[str, TurnStats]:
    """Stream ``llm``'s reply to ``history`` onto the console ``con``; return the reply text
    and the turn's statistics (usage and route come from the stream's closing chunk).

    ``resend_bytes`` is what a plain ``/chat/completions`` request with the same history
    and the same options would have weighed. ArkErrors propagate."""
    started = time.perf_counter()
    parts: list[str] = []
    usage: Mapping[str, Any] = {}
    route: Mapping[str, Any] = {}
    try:
        for chunk in llm.stream(history):
            text = chunk.content if isinstance(chunk.content, str) else ""
            if text:
                parts.append(text)
                con.out(text, end="", highlight=False)
                con.file.flush()
            if chunk.usage_metadata is not None:  # the closing chunk: usage and route
                usage = chunk.usage_metadata
                route = chunk.response_metadata
    finally:
        con.out("")
    latency = time.perf_counter() - started
    details = usage.get("input_token_details") or {}
    meta = {
        **route,
        # input_tokens counts the creation tokens too (as billed); TurnStats keeps them
        # apart (create_tokens, from the route), so take Ark's prompt tokens here
        "prompt_tokens": usage.get("input_tokens", 0) - details.get("cache_creation", 0),
        "completion_tokens": usage.get("output_tokens", 0),
        "cached_tokens": details.get("cache_read", 0),
    }
    params = dict(llm.ark_sampling_params())
    params.update(stream=True, stream_options={"include_usage": True})
    size = resend_bytes(llm.model, wire_history(history), **params)
    return "".join(parts), TurnStats.from_metadata(turn, meta, latency_s=latency, resend_bytes=size)
