"""The emulator's state (contexts, records, faults, clock) and its protocol logic.

Everything here is synchronous and guarded by one re-entrant lock, so the HTTP layer
(``_app``) can run on uvicorn's event loop while tests inspect state from other threads.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from ._errors import (
    ApiError,
    EmulatorError,
    context_busy,
    context_not_found,
    invalid,
    missing,
    unsupported,
)
from ._faults import Fault, FaultKind, normalize_path
from ._responder import Responder, echo_responder
from ._tokens import MESSAGE_OVERHEAD, content_text, count_tokens, message_tokens, truncate_tokens

TTL_MIN = 3600
TTL_MAX = 604800
TTL_DEFAULT = 86400
DEFAULT_MODEL_WINDOW = 32768
DEFAULT_MAX_TOKENS = 4096
LAST_HISTORY_DEFAULT = 4096
ROLLING_WINDOW_DEFAULT = 4096

PATH_CREATE = "/context/create"
PATH_CONTEXT_CHAT = "/context/chat/completions"
PATH_CHAT = "/chat/completions"

_ROLES = frozenset(("system", "user", "assistant"))
#: Fields the Context API rejects on ``/context/chat/completions`` when set (non-null).
_UNSUPPORTED_ON_CONTEXT = ("tools", "tool_choice", "function_call", "functions", "response_format",
                          "thinking")  # fmt: skip
_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}


@dataclasses.dataclass
class _Context:
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
    ctx: _Context | None
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


def _null_free(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if v is not None}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_messages(raw: Any) -> list[dict[str, Any]]:
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
        if role not in _ROLES:
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


def _check_ttl(v: Any) -> int:
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


class Emulator:
    """A local Ark Context API: state, protocol logic and an ASGI app (``emu.app``).

    >>> emu = Emulator()
    >>> emu.create_context(model="ep-test", messages=[{"role": "system", "content": "Hi"}])[:4]
    'ctx-'
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        model_window: int = DEFAULT_MODEL_WINDOW,
        responder: Responder | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_tokens: int = 1,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        max_records: int = 10_000,
    ) -> None:
        if api_keys is not None and isinstance(api_keys, str):
            raise EmulatorError("api_keys must be a collection of keys, not one string")
        self._api_keys = None if api_keys is None else frozenset(api_keys)
        if self._api_keys is not None and not all(self._api_keys):
            raise EmulatorError("api_keys must not contain an empty key")
        if not _is_int(model_window) or model_window < 1:
            raise EmulatorError(f"model_window must be a positive integer, got {model_window!r}")
        if not _is_int(chunk_tokens) or chunk_tokens < 1:
            raise EmulatorError(f"chunk_tokens must be a positive integer, got {chunk_tokens!r}")
        if latency < 0 or chunk_delay < 0:
            raise EmulatorError("latency and chunk_delay must be >= 0 seconds")
        self.model_window = model_window
        self.responder: Responder = responder or echo_responder
        self.latency = float(latency)
        self.chunk_delay = float(chunk_delay)
        self.chunk_tokens = chunk_tokens
        self.default_max_tokens = default_max_tokens
        self._clock = clock or time.time
        self._sleep = sleep
        self._offset = 0.0
        self._lock = threading.RLock()
        self._contexts: dict[str, _Context] = {}
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._faults: list[Fault] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._id_prefix = f"021{int(time.time() * 1000)}{secrets.token_hex(4)}"
        self._app: Any = None
        #: Set by ``run_emulator`` while served over a socket.
        self.base_url: str | None = None
        #: ``http://host:port`` (admin endpoints live under ``/_emulator``) while served.
        self.root_url: str | None = None

    # ------------------------------------------------------------------ app
    @property
    def app(self) -> Any:
        """The ASGI app (Starlette), API under ``/api/v3``, admin under ``/_emulator``."""
        if self._app is None:
            try:
                from ._app import build_app
            except ModuleNotFoundError as exc:
                from ._errors import missing_emulator_extra

                raise missing_emulator_extra(exc) from exc

            self._app = build_app(self)
        return self._app

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """The emulator's clock: the injected clock plus every ``advance_clock``."""
        return self._clock() + self._offset

    def advance_clock(self, seconds: float) -> float:
        """Move the clock forward (contexts idle longer than their ttl expire); returns now."""
        if not _is_number(seconds) or seconds < 0:
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

    def _new_context_id(self) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now()))
        return f"ctx-{stamp}-{secrets.token_hex(4)}"

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

    # ------------------------------------------------------------------ inspection
    def contexts(self) -> list[dict[str, Any]]:
        """Every live context with its transcript (``messages``), oldest first."""
        with self._lock:
            self._sweep()
            return [c.snapshot() for c in self._contexts.values()]

    def context(self, context_id: str) -> dict[str, Any] | None:
        """One live context's snapshot, or ``None`` when unknown or expired."""
        with self._lock:
            self._sweep()
            ctx = self._contexts.get(context_id)
            return None if ctx is None else ctx.snapshot()

    def records(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every API request's record (oldest first), optionally only those on ``path``."""
        want = None if path is None else normalize_path(path)
        with self._lock:
            out = [r for r in self._records if want is None or want == "*" or r["path"] == want]
            return copy.deepcopy(out)

    def completions(self) -> list[dict[str, Any]]:
        """Records of completion requests (both chat paths) only."""
        with self._lock:
            out = [r for r in self._records if r["path"] != PATH_CREATE]
            return copy.deepcopy(out)

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()

    def forget_contexts(self) -> int:
        """Drop every context, like a server restart; returns how many were dropped."""
        with self._lock:
            n = len(self._contexts)
            self._contexts.clear()
            return n

    def reset(self) -> None:
        """Forget contexts, records and faults; the clock offset stays."""
        with self._lock:
            self._contexts.clear()
            self._records.clear()
            self._faults.clear()

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
                if f.path not in ("*", path) or (f.kind == "cut_stream" and not stream):
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

    # ------------------------------------------------------------------ contexts
    def _sweep(self) -> None:
        now = self.now()
        dead = [k for k, c in self._contexts.items() if now - c.last_used > c.ttl]
        for k in dead:
            del self._contexts[k]

    def _live(self, context_id: str) -> _Context:
        ctx = self._contexts.get(context_id)
        if ctx is None:
            raise context_not_found(context_id)
        if self.now() - ctx.last_used > ctx.ttl:
            del self._contexts[context_id]
            raise context_not_found(context_id)
        return ctx

    def _truncation(self, raw: Any, mode: str) -> dict[str, Any] | None:
        if mode == "common_prefix":
            if raw is not None:
                raise invalid("truncation_strategy", "it is only supported in session mode")
            return None
        if raw is None:
            return {
                "type": "rolling_tokens",
                "rolling_tokens": True,
                "max_window_tokens": self.model_window,
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
            window = self.model_window if window is None else window
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
        raise invalid(
            "truncation_strategy.type", "must be 'last_history_tokens' or 'rolling_tokens'"
        )

    @staticmethod
    def _prune_last_history(ctx: _Context) -> int:
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

    def create(self, body: Mapping[str, Any], request_id: str) -> tuple[dict[str, Any], _Context]:
        """``POST /context/create``: validate, store, return (response body, context)."""
        model = body.get("model")
        if model is None:
            raise missing("model")
        if not isinstance(model, str) or not model:
            raise invalid("model", "must be a non-empty string")
        messages = _check_messages(body.get("messages"))
        mode = body.get("mode")
        mode = "session" if mode is None else mode
        if mode not in ("session", "common_prefix"):
            raise invalid("mode", "must be 'session' or 'common_prefix'")
        ttl = _check_ttl(body.get("ttl"))
        truncation = self._truncation(body.get("truncation_strategy"), mode)
        tokens = [message_tokens(m) for m in messages]
        prompt_tokens = sum(tokens)
        if prompt_tokens > self.model_window:
            raise _out_of_context(prompt_tokens, self.model_window)
        if mode == "session":
            k = 0
            while k < len(messages) and messages[k]["role"] == "system":
                k += 1
        else:
            k = len(messages)
        with self._lock:
            now = self.now()
            ctx = _Context(
                id=self._new_context_id(),
                model=model,
                mode=mode,
                ttl=ttl,
                truncation=truncation,
                pinned=messages[:k],
                pinned_tokens=sum(tokens[:k]),
                history=messages[k:],
                history_tokens=tokens[k:],
                history_total=sum(tokens[k:]),
                initial_count=len(messages),
                created_at=now,
                last_used=now,
            )
            self._prune_last_history(ctx)
            if len(self._contexts) % 1024 == 1023:
                self._sweep()  # expired contexts otherwise linger until the next inspection
            self._contexts[ctx.id] = ctx
        out: dict[str, Any] = {"id": ctx.id, "model": model, "mode": mode, "ttl": ttl}
        if truncation is not None:
            out["truncation_strategy"] = dict(truncation)
        out["usage"] = _usage(prompt_tokens, 0, 0)
        return out, ctx

    def create_context(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        mode: str = "session",
        ttl: int | None = None,
        truncation_strategy: dict[str, Any] | None = None,
    ) -> str:
        """Create a context in-process (no HTTP, not recorded); returns its id."""
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "mode": mode,
            "ttl": ttl,
            "truncation_strategy": truncation_strategy,
        }
        try:
            out, _ = self.create(body, self.new_id())
        except ApiError as e:
            raise EmulatorError(f"{e.code}: {e.message}") from None
        return str(out["id"])

    # ------------------------------------------------------------------ completions
    def prepare(self, body: Mapping[str, Any], path: str, request_id: str) -> Turn:
        """Validate a completion and fix its effective prompt; marks a session context busy."""
        model = body.get("model")
        if model is None:
            raise missing("model")
        if not isinstance(model, str) or not model:
            raise invalid("model", "must be a non-empty string")
        on_context = path == PATH_CONTEXT_CHAT
        context_id = body.get("context_id") if on_context else None
        if on_context:
            if context_id is None:
                raise missing("context_id")
            if not isinstance(context_id, str):
                raise invalid("context_id", "must be a string")
        sent = _check_messages(body.get("messages"))
        if on_context:
            if sent[-1]["role"] == "assistant":
                raise invalid("messages", "the last message must not have role 'assistant'")
            for name in _UNSUPPORTED_ON_CONTEXT:
                if body.get(name) is not None:
                    raise unsupported(name)
            tier = body.get("service_tier")
            if tier is not None and tier != "default":
                raise unsupported("service_tier", "context chat supports only 'default'")
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise invalid("stream", "must be true or false")
        stream_options = body.get("stream_options")
        if stream_options is not None and not isinstance(stream_options, dict):
            raise invalid("stream_options", "must be an object")
        include_usage = bool(stream and stream_options and stream_options.get("include_usage"))
        max_tokens = body.get("max_tokens")
        max_tokens = self.default_max_tokens if max_tokens is None else max_tokens
        if not _is_int(max_tokens) or max_tokens < 0:
            raise invalid("max_tokens", "must be a non-negative integer")
        stop_raw = body.get("stop")
        if stop_raw is None:
            stop: list[str] = []
        elif isinstance(stop_raw, str):
            stop = [stop_raw] if stop_raw else []
        elif isinstance(stop_raw, list) and all(isinstance(s, str) for s in stop_raw):
            if len(stop_raw) > 4:
                raise invalid("stop", "at most 4 stop strings are supported")
            stop = [s for s in stop_raw if s]
        else:
            raise invalid("stop", "must be a string or an array of strings")
        for name, (lo, hi) in _RANGES.items():
            v = body.get(name)
            if v is not None and (not _is_number(v) or not lo <= v <= hi):
                raise invalid(name, f"must be a number in [{lo:g}, {hi:g}]")
        top_logprobs = body.get("top_logprobs")
        if top_logprobs is not None and (not _is_int(top_logprobs) or not 0 <= top_logprobs <= 20):
            raise invalid("top_logprobs", "must be an integer in [0, 20]")

        sent_tokens = [message_tokens(m) for m in sent]
        dropped = 0
        with self._lock:
            now = self.now()
            ctx: _Context | None = None
            if context_id is not None:
                ctx = self._live(context_id)
                if model != ctx.model:
                    raise invalid("model", f"the context {ctx.id} was created for another model")
                if ctx.mode == "session":
                    if ctx.busy:
                        raise context_busy()
                    dropped = self._roll(ctx, sum(sent_tokens))
                from_context = len(ctx.pinned) + len(ctx.history)
                effective = ctx.pinned + ctx.history + sent
                cached = ctx.pinned_tokens + ctx.history_total
            else:
                from_context = 0
                effective = list(sent)
                cached = 0
            prompt_tokens = cached + sum(sent_tokens)
            if prompt_tokens > self.model_window:
                raise _out_of_context(prompt_tokens, self.model_window)
            budget = min(max_tokens, self.model_window - prompt_tokens)
            if ctx is not None:
                tr = ctx.truncation
                if tr is not None and tr["type"] == "rolling_tokens" and not tr["rolling_tokens"]:
                    budget = min(budget, max(0, tr["max_window_tokens"] - prompt_tokens))
                if ctx.mode == "session":
                    ctx.busy = True
                ctx.last_used = now
        params = {k: v for k, v in body.items() if v is not None and k != "messages"}
        params["prompt_info"] = {
            "messages": len(effective),
            "tokens": prompt_tokens,
            "cached_tokens": cached,
            "from_context": from_context,
            "context_id": context_id,
            "mode": None if ctx is None else ctx.mode,
            "path": path,
        }
        return Turn(
            request_id=request_id,
            completion_id=self.new_id(),
            path=path,
            model=model,
            stream=bool(stream),
            include_usage=include_usage,
            ctx=ctx,
            sent=sent,
            sent_tokens=sent_tokens,
            effective=effective,
            from_context=from_context,
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
            budget=budget,
            stop=stop,
            params=params,
            dropped=dropped,
            created=int(now),
        )

    @staticmethod
    def _roll(ctx: _Context, incoming: int) -> int:
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

    def release(self, turn: Turn) -> None:
        """Mark the turn's session context idle again."""
        if turn.ctx is not None and turn.ctx.mode == "session":
            with self._lock:
                turn.ctx.busy = False

    def generate(self, turn: Turn) -> None:
        """Run the responder, apply stop/max_tokens/window, append the turn (session)."""
        responder = self.responder
        if responder is echo_responder:
            text = echo_responder(turn.effective, turn.params)
        else:
            text = responder([dict(m) for m in turn.effective], copy.deepcopy(turn.params))
            if not isinstance(text, str):
                raise ApiError(
                    500,
                    "InternalServiceError",
                    f"The emulator's responder returned {type(text).__name__}, not str.",
                )
        finish = "stop"
        if turn.stop:
            cut = min((i for i in (text.find(s) for s in turn.stop) if i >= 0), default=-1)
            if cut >= 0:
                text = text[:cut]
        text, was_cut = truncate_tokens(text, turn.budget)
        if was_cut:
            finish = "length"
        completion_tokens = count_tokens(text)
        turn.reply = text
        turn.finish_reason = finish
        turn.usage = _usage(turn.prompt_tokens, completion_tokens, turn.cached_tokens)
        ctx = turn.ctx
        if ctx is not None and ctx.mode == "session":
            reply_msg = {"role": "assistant", "content": text}
            reply_tokens = MESSAGE_OVERHEAD + completion_tokens
            with self._lock:
                ctx.history.extend(turn.sent)
                ctx.history_tokens.extend(turn.sent_tokens)
                ctx.history.append(reply_msg)
                ctx.history_tokens.append(reply_tokens)
                ctx.history_total += sum(turn.sent_tokens) + reply_tokens
                ctx.turns += 1
                ctx.last_used = self.now()
                turn.dropped += self._prune_last_history(ctx)
        turn.applied = ctx is not None and ctx.mode == "session"

    def completion_body(self, turn: Turn) -> dict[str, Any]:
        return {
            "id": turn.completion_id,
            "object": "chat.completion",
            "created": turn.created,
            "model": turn.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": turn.reply},
                    "finish_reason": turn.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": turn.usage,
        }

    def turn_record(self, turn: Turn, **outcome: Any) -> dict[str, Any]:
        ctx = turn.ctx
        rec: dict[str, Any] = {
            "request_id": turn.request_id,
            "path": turn.path,
            "context_id": None if ctx is None else ctx.id,
            "mode": None if ctx is None else ctx.mode,
            "model": turn.model,
            "stream": turn.stream,
            "messages": turn.effective,
            "from_context": turn.from_context,
            "sent": turn.sent,
            "reply": turn.reply if turn.usage is not None else None,
            "finish_reason": turn.finish_reason if turn.usage is not None else None,
            "usage": turn.usage,
            "dropped": turn.dropped,
            "applied": turn.applied,
            "status": 200,
            "error": None,
            "fault": None,
            "cut": False,
            "outcome": "ok",
        }
        rec.update(outcome)
        return rec


def _usage(prompt: int, completion: int, cached: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _out_of_context(tokens: int, window: int) -> ApiError:
    return ApiError(
        400,
        "OutofContextError",
        f"The prompt has {tokens} tokens, more than the model's context window of {window}.",
        "messages",
    )


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


__all__ = ["Emulator", "Turn", "content_text"]
