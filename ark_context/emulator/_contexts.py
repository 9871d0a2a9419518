"""The Context API's protocol logic: contexts, completions, truncation (no HTTP here)."""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from ._common import PATH_CHAT, PATH_CONTEXT_CHAT, new_record
from ._common import is_int as _is_int
from ._common import is_number as _is_number
from ._context_model import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL_WINDOW,
    RANGES,
    UNSUPPORTED_ON_CONTEXT,
    Context,
    Turn,
    chat_usage,
    check_chat_tools,
    check_messages,
    check_ttl,
    out_of_context,
    parse_truncation,
    prune_last_history,
    roll,
)
from ._errors import (
    ApiError,
    EmulatorError,
    context_busy,
    context_not_found,
    invalid,
    missing,
    required_model,
    unsupported,
)
from ._responder import FunctionCall, echo_responder
from ._state import EmulatorState
from ._tokens import MESSAGE_OVERHEAD, count_tokens, message_tokens, truncate_tokens


class ContextAPI(EmulatorState):
    """The Context API's state and logic (contexts, completions); :class:`Emulator` adds HTTP.

    >>> api = ContextAPI()
    >>> api.create_context(model="ep-test", messages=[{"role": "system", "content": "Hi"}])[:4]
    'ctx-'
    """

    def _init_contexts(self, model_window: int, default_max_tokens: int) -> None:
        if not _is_int(model_window) or model_window < 1:
            raise EmulatorError(f"model_window must be a positive integer, got {model_window!r}")
        self.model_window = model_window
        self.default_max_tokens = default_max_tokens
        self._contexts: dict[str, Context] = {}

    def __init__(
        self,
        *,
        model_window: int = DEFAULT_MODEL_WINDOW,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        **state: Any,
    ) -> None:
        super().__init__(**state)
        self._init_contexts(model_window, default_max_tokens)

    def _new_context_id(self) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now()))
        return f"ctx-{stamp}-{secrets.token_hex(4)}"

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

    def completions(self) -> list[dict[str, Any]]:
        """Records of completion requests (both chat paths) only."""
        with self._lock:
            out = [r for r in self._records if r["path"] in (PATH_CONTEXT_CHAT, PATH_CHAT)]
            return copy.deepcopy(out)

    def forget_contexts(self) -> int:
        """Drop every context, like a server restart; returns how many were dropped."""
        with self._lock:
            n = len(self._contexts)
            self._contexts.clear()
            return n

    # ------------------------------------------------------------------ contexts
    def _sweep(self) -> None:
        now = self.now()
        dead = [k for k, c in self._contexts.items() if now - c.last_used > c.ttl]
        for k in dead:
            del self._contexts[k]

    def _live(self, context_id: str) -> Context:
        ctx = self._contexts.get(context_id)
        if ctx is None:
            raise context_not_found(context_id)
        if self.now() - ctx.last_used > ctx.ttl:
            del self._contexts[context_id]
            raise context_not_found(context_id)
        return ctx

    def create(self, body: Mapping[str, Any], request_id: str) -> tuple[dict[str, Any], Context]:
        """``POST /context/create``: validate, store, return (response body, context)."""
        model = required_model(body)
        messages = check_messages(body.get("messages"))
        mode = body.get("mode")
        mode = "session" if mode is None else mode
        if mode not in ("session", "common_prefix"):
            raise invalid("mode", "must be 'session' or 'common_prefix'")
        ttl = check_ttl(body.get("ttl"))
        truncation = parse_truncation(body.get("truncation_strategy"), mode, self.model_window)
        tokens = [message_tokens(m) for m in messages]
        prompt_tokens = sum(tokens)
        if prompt_tokens > self.model_window:
            raise out_of_context(prompt_tokens, self.model_window)
        if mode == "session":
            k = 0
            while k < len(messages) and messages[k]["role"] == "system":
                k += 1
        else:
            k = len(messages)
        with self._lock:
            now = self.now()
            ctx = Context(
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
            prune_last_history(ctx)
            if len(self._contexts) % 1024 == 1023:
                self._sweep()  # expired contexts otherwise linger until the next inspection
            self._contexts[ctx.id] = ctx
        out: dict[str, Any] = {"id": ctx.id, "model": model, "mode": mode, "ttl": ttl}
        if truncation is not None:
            out["truncation_strategy"] = dict(truncation)
        out["usage"] = chat_usage(prompt_tokens, 0, 0)
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
        model = required_model(body)
        on_context = path == PATH_CONTEXT_CHAT
        context_id = body.get("context_id") if on_context else None
        if on_context:
            if context_id is None:
                raise missing("context_id")
            if not isinstance(context_id, str):
                raise invalid("context_id", "must be a string")
        sent = check_messages(body.get("messages"), tools=not on_context)
        tools = None if on_context else check_chat_tools(body.get("tools"))
        if on_context:
            if sent[-1]["role"] == "assistant":
                raise invalid("messages", "the last message must not have role 'assistant'")
            for name in UNSUPPORTED_ON_CONTEXT:
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
        for name, (lo, hi) in RANGES.items():
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
            ctx: Context | None = None
            if context_id is not None:
                ctx = self._live(context_id)
                if model != ctx.model:
                    raise invalid("model", f"the context {ctx.id} was created for another model")
                if ctx.mode == "session":
                    if ctx.busy:
                        raise context_busy()
                    dropped = roll(ctx, sum(sent_tokens))
                from_context = len(ctx.pinned) + len(ctx.history)
                effective = ctx.pinned + ctx.history + sent
                cached = ctx.pinned_tokens + ctx.history_total
            else:
                from_context = 0
                effective = list(sent)
                cached = 0
            prompt_tokens = cached + sum(sent_tokens)
            if prompt_tokens > self.model_window:
                raise out_of_context(prompt_tokens, self.model_window)
            budget = min(max_tokens, self.model_window - prompt_tokens)
            if ctx is not None:
                tr = ctx.truncation
                if tr is not None and tr["type"] == "rolling_tokens" and not tr["rolling_tokens"]:
                    budget = min(budget, max(0, tr["max_window_tokens"] - prompt_tokens))
                if ctx.mode == "session":
                    ctx.busy = True
                ctx.last_used = now
        params = {k: v for k, v in body.items() if v is not None and k != "messages"}
        if tools is not None:
            params["tools"] = tools  # flat function tools, as the Responses API gives them
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
            reply = responder([dict(m) for m in turn.effective], copy.deepcopy(turn.params))
            if turn.params.get("tools") and not isinstance(reply, str):
                turn.tool_calls = self._chat_calls(reply, turn.params["tools"])
                reply = ""
            if not isinstance(reply, str):
                raise ApiError(
                    500,
                    "InternalServiceError",
                    f"The emulator's responder returned {type(reply).__name__}, not str.",
                )
            text = reply
        finish = "tool_calls" if turn.tool_calls else "stop"
        if turn.stop:
            cut = min((i for i in (text.find(s) for s in turn.stop) if i >= 0), default=-1)
            if cut >= 0:
                text = text[:cut]
        text, was_cut = truncate_tokens(text, turn.budget)
        if was_cut:
            finish = "length"
        # a tool call's name and arguments are generated tokens too (as on /responses)
        completion_tokens = count_tokens(text) + sum(
            count_tokens(c["function"]["name"]) + count_tokens(c["function"]["arguments"])
            for c in turn.tool_calls or ()
        )
        turn.reply = text
        turn.finish_reason = finish
        turn.usage = chat_usage(turn.prompt_tokens, completion_tokens, turn.cached_tokens)
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
                turn.dropped += prune_last_history(ctx)
        turn.applied = ctx is not None and ctx.mode == "session"

    def _chat_calls(self, reply: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A responder's function call(s) as chat ``tool_calls`` (declared tools only)."""
        calls = [reply] if isinstance(reply, FunctionCall) else list(reply)
        names = {t["name"] for t in tools}
        out = []
        for call in calls:
            if not isinstance(call, FunctionCall) or call.name not in names:
                raise ApiError(
                    500,
                    "InternalServiceError",
                    f"The emulator's responder called {getattr(call, 'name', call)!r}, which "
                    "the request does not offer.",
                )
            args = call.arguments
            text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            fn = {"name": call.name, "arguments": text}
            out.append({"id": f"call_{self.new_id()}", "type": "function", "function": fn})
        return out

    def completion_body(self, turn: Turn) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn.reply}
        if turn.tool_calls:
            message["tool_calls"] = turn.tool_calls
        return {
            "id": turn.completion_id,
            "object": "chat.completion",
            "created": turn.created,
            "model": turn.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": turn.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": turn.usage,
        }

    def turn_record(self, turn: Turn, **outcome: Any) -> dict[str, Any]:
        ctx = turn.ctx
        rec = new_record(
            turn.path,
            turn.request_id,
            context_id=None if ctx is None else ctx.id,
            mode=None if ctx is None else ctx.mode,
            model=turn.model,
            stream=turn.stream,
            messages=turn.effective,
            from_context=turn.from_context,
            sent=turn.sent,
            reply=turn.reply if turn.usage is not None else None,
            finish_reason=turn.finish_reason if turn.usage is not None else None,
            usage=turn.usage,
            dropped=turn.dropped,
            applied=turn.applied,
            status=200,
        )
        rec.update(outcome)
        return rec


__all__ = ["ContextAPI", "Turn"]
