"""The Context API's data: contexts, turns, request checks and truncation (pure, no state)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ._common import is_int as _is_int
from ._common import null_free as _null_free
from ._errors import ApiError, invalid, missing

TTL_MIN = 3600
TTL_MAX = 604800
TTL_DEFAULT = 86400
DEFAULT_MODEL_WINDOW = 32768
DEFAULT_MAX_TOKENS = 4096
LAST_HISTORY_DEFAULT = 4096
ROLLING_WINDOW_DEFAULT = 4096


_ROLES = frozenset(("system", "user", "assistant"))
#: Fields the Context API rejects on ``/context/chat/completions`` when set (non-null).
UNSUPPORTED_ON_CONTEXT = ("tools", "tool_choice", "function_call", "functions", "response_format",
                          "thinking")  # fmt: skip
RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}


@dataclasses.dataclass
class Context:
    id: str
    model: str
    mode: str
    ttl: int
    truncation: dict[str, Any] | None
    #: Never dropped: the leading system messages given at create (session), or all initial
    #: messages (common_prefix).
    pinned: list[dict[str, Any]]
    pinned_tokens: int
    #: Droppable by truncation: the rest of the initial messages, then every appended turn.
    history: list[dict[str, Any]]
    history_tokens: list[int]
    #: ``sum(history_tokens)``, kept current.
    history_total: int
    initial_count: int
    created_at: float
    last_used: float
    busy: bool = False
    turns: int = 0
    dropped: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "mode": self.mode,
            "ttl": self.ttl,
            "truncation_strategy": copy.deepcopy(self.truncation),
            "messages": copy.deepcopy(self.pinned + self.history),
            "tokens": self.pinned_tokens + self.history_total,
            "initial_count": self.initial_count,
            "turns": self.turns,
            "dropped_messages": self.dropped,
            "created_at": self.created_at,
            "last_used": self.last_used,
            "expires_at": self.last_used + self.ttl,
            "in_progress": self.busy,
        }


@dataclasses.dataclass
class Turn:
    """A validated completion request, with its effective prompt fixed."""

    request_id: str
    completion_id: str
    path: str
    model: str
    stream: bool
    include_usage: bool
    ctx: Context | None
    sent: list[dict[str, Any]]
    sent_tokens: list[int]
    effective: list[dict[str, Any]]
    from_context: int
    prompt_tokens: int
    cached_tokens: int
    budget: int
    stop: list[str]
    params: dict[str, Any]
    dropped: int
    created: int
    # filled by generate()
    reply: str = ""
    finish_reason: str = "stop"
    usage: dict[str, Any] | None = None
    applied: bool = False
    tool_calls: list[dict[str, Any]] | None = None  # plain chat with tools: the calls made


def check_messages(raw: Any, tools: bool = False) -> list[dict[str, Any]]:
    """Validate ``messages``. ``tools``: plain chat, which also takes assistant
    ``tool_calls`` and ``{"role": "tool", "tool_call_id", "content"}`` results."""
    if raw is None:
        raise missing("messages")
    if not isinstance(raw, list):
        raise invalid("messages", "must be an array of messages")
    if not raw:
        raise invalid("messages", "must not be empty")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise invalid("messages", f"message {i} must be an object")
        msg = _null_free(m)
        role = msg.get("role")
        if role is None:
            raise missing("messages.role")
        if tools and (role == "tool" or (role == "assistant" and "tool_calls" in msg)):
            _check_tool_fields(msg, i)
            msg.setdefault("content", "")
        elif role not in _ROLES:
            raise invalid("messages", f"message {i} has unsupported role {role!r}")
        content = msg.get("content")
        if content is None:
            raise missing("messages.content")
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text":
                    raise invalid("messages", f"message {i}: only text content is supported")
                if not isinstance(part.get("text"), str):
                    raise invalid("messages", f"message {i}: a text part needs a string 'text'")
        elif not isinstance(content, str):
            raise invalid("messages", f"message {i}: content must be a string or text parts")
        out.append(msg)
    return out


def check_ttl(v: Any) -> int:
    if v is None:
        return TTL_DEFAULT
    ttl: int | None = None
    if _is_int(v):
        ttl = v
    elif isinstance(v, float) and v.is_integer():
        ttl = int(v)
    elif isinstance(v, str) and v.strip().isdigit():
        ttl = int(v.strip())
    if ttl is None:
        raise invalid("ttl", "must be an integer number of seconds")
    if not TTL_MIN <= ttl <= TTL_MAX:
        raise invalid("ttl", f"must lie in [{TTL_MIN}, {TTL_MAX}], got {ttl}")
    return ttl


def parse_truncation(raw: Any, mode: str, model_window: int) -> dict[str, Any] | None:
    if mode == "common_prefix":
        if raw is not None:
            raise invalid("truncation_strategy", "it is only supported in session mode")
        return None
    if raw is None:
        return {
            "type": "rolling_tokens",
            "rolling_tokens": True,
            "max_window_tokens": model_window,
            "rolling_window_tokens": ROLLING_WINDOW_DEFAULT,
        }
    if not isinstance(raw, dict):
        raise invalid("truncation_strategy", "must be an object")
    kind = raw.get("type")
    if kind is None:
        raise missing("truncation_strategy.type")
    if kind == "last_history_tokens":
        n = raw.get("last_history_tokens")
        n = LAST_HISTORY_DEFAULT if n is None else n
        if not _is_int(n) or not 0 < n < 32768:
            raise invalid("truncation_strategy.last_history_tokens", "must lie in (0, 32768)")
        return {"type": kind, "last_history_tokens": n}
    if kind == "rolling_tokens":
        rolling = raw.get("rolling_tokens")
        rolling = True if rolling is None else rolling
        if not isinstance(rolling, bool):
            raise invalid("truncation_strategy.rolling_tokens", "must be true or false")
        window = raw.get("max_window_tokens")
        window = model_window if window is None else window
        step = raw.get("rolling_window_tokens")
        step = ROLLING_WINDOW_DEFAULT if step is None else step
        for name, v in (("max_window_tokens", window), ("rolling_window_tokens", step)):
            if not _is_int(v) or v < 1:
                raise invalid(f"truncation_strategy.{name}", "must be a positive integer")
        return {
            "type": kind,
            "rolling_tokens": rolling,
            "max_window_tokens": window,
            "rolling_window_tokens": step,
        }
    raise invalid("truncation_strategy.type", "must be 'last_history_tokens' or 'rolling_tokens'")


def prune_last_history(ctx: Context) -> int:
    """``last_history_tokens``: drop the oldest history until it fits; returns drops."""
    if ctx.truncation is None or ctx.truncation["type"] != "last_history_tokens":
        return 0
    limit = ctx.truncation["last_history_tokens"]
    total = ctx.history_total
    n = 0
    while n < len(ctx.history) and total > limit:
        total -= ctx.history_tokens[n]
        n += 1
    if n:
        del ctx.history[:n]
        del ctx.history_tokens[:n]
        ctx.history_total = total
        ctx.dropped += n
    return n


def roll(ctx: Context, incoming: int) -> int:
    """``rolling_tokens: true``: while the prompt overflows the window, drop about
    ``rolling_window_tokens`` of the oldest whole history messages. Returns drops."""
    tr = ctx.truncation
    if tr is None or tr["type"] != "rolling_tokens" or not tr["rolling_tokens"]:
        return 0
    window, step = tr["max_window_tokens"], tr["rolling_window_tokens"]
    total = ctx.pinned_tokens + ctx.history_total + incoming
    n = 0
    while total > window and n < len(ctx.history):
        freed = 0
        while n < len(ctx.history) and freed < step:
            freed += ctx.history_tokens[n]
            n += 1
        total -= freed
    if n:
        del ctx.history[:n]
        del ctx.history_tokens[:n]
        ctx.history_total = total - incoming - ctx.pinned_tokens
        ctx.dropped += n
    return n


def chat_usage(prompt: int, completion: int, cached: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def out_of_context(tokens: int, window: int) -> ApiError:
    return ApiError(
        400,
        "OutofContextError",
        f"The prompt has {tokens} tokens, more than the model's context window of {window}.",
        "messages",
    )


def _check_tool_fields(msg: dict[str, Any], i: int) -> None:
    """A tool result needs its ``tool_call_id``; tool calls need an id, a name and JSON
    string arguments (function calling on plain chat)."""
    if msg["role"] == "tool":
        if not isinstance(msg.get("tool_call_id"), str) or not msg["tool_call_id"]:
            raise missing("messages.tool_call_id")
        return
    calls = msg.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        raise invalid("messages", f"message {i}: tool_calls must be a non-empty array")
    for c in calls:
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict) or not isinstance(c.get("id"), str):
            raise invalid("messages", f"message {i}: a tool call needs an id and a function")
        if not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
            raise invalid("messages", f"message {i}: a function needs a name and string arguments")


def check_chat_tools(raw: Any) -> list[dict[str, Any]] | None:
    """Plain chat ``tools``: function tools in the chat shape (``{"type": "function",
    "function": {"name", ...}}``); returned flat (``{"type", "name", ...}``), like the
    Responses API's, for the responder."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise invalid("tools", "must be an array of tools")
    out = []
    for t in raw:
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(fn, dict):
            raise invalid("tools", "only function tools are supported")
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise invalid("tools", "a function tool needs a name")
        out.append({"type": "function", **fn})
    return out
