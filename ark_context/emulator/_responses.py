"""The Responses API's protocol logic for ``POST /responses``: validation, every caching
rule, the transcript of a chain, the reply, usage. Stored responses live in
``_response_store``. No HTTP here (see ``_responses_handlers``). Readings chosen where the docs are silent or
contradict themselves are listed in the package docstring ("Responses API").
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from collections.abc import Mapping
from typing import Any

from ._common import PATH_RESPONSES, is_int, is_number, new_record
from ._errors import ApiError, invalid, required_model
from ._responder import FunctionCall, echo_responder
from ._response_items import (
    check_call_outputs,
    check_input,
    function_arguments,
    function_tools,
    input_item,
    last_user_text,
    output_context_item,
    parse_caching,
    parse_thinking,
    parse_tool_choice,
    responder_error,
    response_usage,
    schema_instance,
    text_format,
)
from ._response_store import ResponseStore, Stored
from ._tokens import MESSAGE_OVERHEAD, count_tokens, truncate_tokens

_INSTRUCTIONS_MESSAGE = (
    "The parameter `instructions` specified in the request are not valid: "
    "caching is not supported for instructions."
)
_EFFORTS = frozenset(("minimal", "low", "medium", "high"))


@dataclasses.dataclass
class ResponseTurn:
    """A validated ``POST /responses``: its transcript fixed, its reply still to make."""

    request_id: str
    stored: Stored
    stream: bool
    sent: list[dict[str, Any]]
    from_context: int
    input_tokens: int
    cached_tokens: int
    max_output_tokens: int
    thinking_on: bool
    tools: list[dict[str, Any]] | None
    tool_choice: Any
    fmt: dict[str, Any] | None
    params: dict[str, Any]
    applied: bool = False


class ResponsesAPI(ResponseStore):
    """The Responses API's state and logic; :class:`Emulator` adds HTTP.

    >>> api = ResponsesAPI(clock=lambda: 1_700_000_000.0)
    >>> turn = api.prepare_response({"model": "doubao-seed-1-6-251015", "input": "hi"}, "r1")
    >>> api.generate_response(turn)["output"][0]["content"][0]["text"]
    '[saw 1 messages, 4 tokens, 0 cached] echo: hi'
    """

    def _parent(self, previous: Any, model: str) -> Stored | None:
        if previous is None:
            return None
        if not isinstance(previous, str) or not previous:
            raise invalid("previous_response_id", "must be a non-empty string")
        parent = self._live_response(previous, "previous_response_id")
        waited = self.now() - parent.completed_at
        if waited < self.chain_gap:
            raise invalid(
                "previous_response_id",
                f"the response {previous} completed {waited * 1000:.0f} ms ago; wait about "
                f"{self.chain_gap * 1000:.0f} ms between chained requests",
            )
        for a in parent.ancestors():
            if a.deleted_seq is None and self._expired(a):
                # Reading of unknown #5: a turn's content does not outlive its ancestors.
                raise ApiError(
                    404,
                    "NotFound.Response",
                    f"The specified response {previous} is not found or expired: "
                    f"its ancestor {a.id} expired at {a.expire_at}.",
                    "previous_response_id",
                )
        if parent.model != model:
            raise invalid("model", f"the response {previous} was created with another model")
        return parent

    # ------------------------------------------------------------------ create
    def prepare_response(self, body: Mapping[str, Any], request_id: str) -> ResponseTurn:
        """Validate ``POST /responses`` against every documented rule and fix its transcript."""
        model = required_model(body)
        items = check_input(body.get("input"))
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise invalid("instructions", "must be a string")
        caching, prefix = parse_caching(body.get("caching"))
        store = body.get("store")
        if store is not None and not isinstance(store, bool):
            raise invalid("store", "must be true or false")
        store = True if store is None else store
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise invalid("stream", "must be true or false")
        stream = bool(stream)
        thinking = parse_thinking(body.get("thinking"))
        reasoning = body.get("reasoning")
        if reasoning is not None:
            if not isinstance(reasoning, dict) or reasoning.get("effort") not in _EFFORTS:
                raise invalid("reasoning.effort", "must be minimal, low, medium or high")
            if thinking == {"type": "disabled"} and reasoning["effort"] != "minimal":
                raise invalid(
                    "reasoning.effort", "only 'minimal' is allowed with thinking disabled"
                )
        for name, (lo, hi) in (("temperature", (0.0, 2.0)), ("top_p", (0.0, 1.0))):
            v = body.get(name)
            if v is not None and (not is_number(v) or not lo <= v <= hi):
                raise invalid(name, f"must be a number in [{lo:g}, {hi:g}]")
        max_out = body.get("max_output_tokens")
        max_out = self.max_output_tokens if max_out is None else max_out
        if not is_int(max_out) or max_out < 1:
            raise invalid("max_output_tokens", "must be a positive integer")
        fmt = text_format(body.get("text"))

        # caching rules that need no chain
        if caching and not store:
            raise invalid("store", "caching needs store: writing to the cache requires storage")
        if caching and instructions is not None:
            raise ApiError(400, "InvalidParameter", _INSTRUCTIONS_MESSAGE, "instructions")
        if prefix and stream:
            raise invalid("stream", "a prefix cache (caching.prefix) cannot be streamed")
        if caching and any(i.get("partial") for i in items):
            raise invalid("input", "partial (prefill) is not supported with caching")

        with self._lock:
            now = self.now()
            created = int(now)
            parent = self._parent(body.get("previous_response_id"), model)
            chain_caching = parent is not None and parent.chain_caching
            if caching and parent is not None and parent.chain_instructions:
                raise ApiError(400, "InvalidParameter", _INSTRUCTIONS_MESSAGE, "instructions")
            raw_tools = body.get("tools")
            if chain_caching and raw_tools:
                raise invalid(
                    "tools",
                    "tools can only be set in the first turn of a caching chain; "
                    "later turns inherit them",
                )
            tools = function_tools(raw_tools, caching or chain_caching)
            if chain_caching and fmt is not None and fmt["type"] == "json_schema":
                raise invalid(
                    "text.format",
                    "json_schema is not supported after a turn with caching enabled "
                    "(json_object is)",
                )
            expire_at = self._expire_at(body.get("expire_at"), created, caching)

            ancestors = [] if parent is None else parent.ancestors()
            alive = [a for a in ancestors if a.deleted_seq is None]
            if chain_caching:
                root = ancestors[0]
                # inherited from the first turn; gone with it when it was deleted
                tools = None if root.deleted_seq is not None else root.root_tools
            chain_views: list[dict[str, Any]] = []
            chain_tokens = 0
            chain_count = 0
            for a in alive:
                for item in itertools.chain(a.inputs, a.context_output):
                    chain_views.append(item.view)
                    chain_tokens += item.tokens
                    chain_count += 1
            new_ids = [self._item_id(i) for i in items]
            new_items = [input_item(i, item_id) for i, item_id in zip(items, new_ids, strict=True)]
            check_call_outputs(chain_views, items)
            if chain_count + len(new_items) > self.max_chain_items:
                raise invalid(
                    "previous_response_id",
                    f"the chain would hold {chain_count + len(new_items)} items, more than "
                    f"the limit of {self.max_chain_items}; start a new chain",
                )
            transcript: list[dict[str, Any]] = []
            instr_tokens = 0
            if instructions is not None:
                transcript.append({"role": "system", "content": instructions})
                instr_tokens = MESSAGE_OVERHEAD + count_tokens(instructions)
            transcript.extend(chain_views)
            transcript.extend(i.view for i in new_items)
            input_tokens = instr_tokens + chain_tokens + sum(i.tokens for i in new_items)
            if prefix and input_tokens < self.prefix_min_tokens:
                raise invalid(
                    "input",
                    f"a prefix cache needs at least {self.prefix_min_tokens} input tokens, "
                    f"got {input_tokens}",
                )
            self._check_window(input_tokens, max_out, caching)
            same_thinking = parent is None or parent.thinking == thinking
            cached = 0
            if parent is not None and same_thinking and instructions is None:
                cached = self._cache_read(parent)
            wrote = (
                caching
                and store
                and same_thinking
                and (parent is None or parent.wrote_cache or prefix)
            )
            tool_choice = parse_tool_choice(body.get("tool_choice"), tools)
            stored = Stored(
                id=f"resp_{self.new_id()}",
                model=model,
                parent=parent,
                created_seq=next(self._events),
                created_at=now,
                expire_at=expire_at,
                inputs=new_items,
                output=[],
                context_output=[],
                thinking=thinking,
                caching=caching,
                prefix=prefix,
                instructions=instructions is not None,
                chain_caching=chain_caching or caching,
                chain_instructions=(parent is not None and parent.chain_instructions)
                or instructions is not None,
                root_tools=tools if parent is None else parent.root_tools,
                wrote_cache=wrote,
                cache_tokens=0,
                chain_items=chain_count + len(new_items),
                transcript=transcript,
                body={},
                stored=store,
            )
        params = {k: v for k, v in body.items() if v is not None and k != "input"}
        params["prompt_info"] = {
            "messages": len(transcript),
            "tokens": input_tokens,
            "cached_tokens": cached,
            "from_context": len(chain_views),
            "context_id": None,
            "response_id": stored.id,
            "previous_response_id": None if parent is None else parent.id,
            "mode": "prefix" if prefix else ("caching" if caching else None),
            "path": PATH_RESPONSES,
        }
        if tools is not None:
            params["tools"] = tools
        return ResponseTurn(
            request_id=request_id,
            stored=stored,
            stream=stream,
            sent=items,
            from_context=len(chain_views),
            input_tokens=input_tokens,
            cached_tokens=cached,
            max_output_tokens=max_out,
            thinking_on=thinking == {"type": "enabled"},
            tools=tools,
            tool_choice=tool_choice,
            fmt=fmt,
            params=params,
        )

    def _item_id(self, item: Mapping[str, Any]) -> str:
        prefix = {"function_call": "fc", "function_call_output": "fco"}.get(item["type"], "msg")
        return f"{prefix}_{self.new_id()}"

    def _expire_at(self, raw: Any, created: int, caching: bool) -> int:
        if raw is None:
            return created + self.expire_default
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not is_int(raw):
            raise invalid("expire_at", "must be an integer UTC Unix timestamp in seconds")
        limit = self.caching_expire_max if caching else self.expire_max
        if not created < raw <= created + limit:
            raise invalid(
                "expire_at",
                f"must lie in ({created}, {created + limit}] "
                f"(at most {limit} seconds after creation{' with caching' if caching else ''})",
            )
        return int(raw)

    def _check_window(self, input_tokens: int, max_out: int, caching: bool) -> None:
        window = self.response_window
        if input_tokens > window:
            raise ApiError(
                400,
                "OutofContextError",
                f"The input has {input_tokens} tokens, more than the model's context window "
                f"of {window}.",
                "input",
            )
        if caching and input_tokens > window - max_out:
            raise ApiError(
                400,
                "OutofContextError",
                f"The cache would hold {input_tokens} tokens, more than the context window "
                f"({window}) minus max_output_tokens ({max_out}); the cache is never "
                "truncated: start a new chain from a shorter transcript.",
                "input",
            )

    # ------------------------------------------------------------------ reply
    def _reply(self, turn: ResponseTurn) -> str | list[FunctionCall]:
        """The responder's reply (the default one follows ``tool_choice`` and ``text``)."""
        transcript = turn.stored.transcript
        if self.responder is not echo_responder:
            reply = self.responder([dict(m) for m in transcript], copy.deepcopy(turn.params))
            if isinstance(reply, FunctionCall):
                return [reply]
            if isinstance(reply, str):
                return reply
            calls = (
                [c for c in reply if isinstance(c, FunctionCall)]
                if isinstance(reply, list | tuple)
                else []
            )
            if calls and len(calls) == len(reply):
                return calls
            raise responder_error(f"returned {type(reply).__name__}, not str or FunctionCall(s)")
        answered = bool(transcript) and transcript[-1].get("type") == "function_call_output"
        functions = [t for t in turn.tools or () if t["type"] == "function"]
        forced: dict[str, Any] | None = None
        if isinstance(turn.tool_choice, dict):
            forced = next(t for t in functions if t["name"] == turn.tool_choice["name"])
        elif turn.tool_choice == "required" and functions:
            forced = functions[0]
        text = echo_responder(transcript, turn.params)
        if forced is not None and not answered:
            args = schema_instance(forced.get("parameters") or {"type": "object"}, text)
            return [FunctionCall(forced["name"], args)]
        if turn.fmt is not None and turn.fmt["type"] == "json_schema":
            return json.dumps(schema_instance(turn.fmt["schema"], text), ensure_ascii=False)
        if turn.fmt is not None:
            return json.dumps({"answer": text}, ensure_ascii=False)
        return text

    def generate_response(self, turn: ResponseTurn) -> dict[str, Any]:
        """Make the reply, fix usage and status, store the response; returns its body."""
        r = turn.stored
        output: list[dict[str, Any]] = []
        budget = turn.max_output_tokens
        reasoning_tokens = 0
        incomplete = False
        if not r.prefix:
            if turn.thinking_on:
                summary = f"Thinking about: {last_user_text(r.transcript)}"
                summary, incomplete = truncate_tokens(summary, budget)
                reasoning_tokens = count_tokens(summary)
                budget -= reasoning_tokens
                output.append(
                    {
                        "type": "reasoning",
                        "id": f"rs_{self.new_id()}",
                        "status": "incomplete" if incomplete else "completed",
                        "summary": [{"type": "summary_text", "text": summary}],
                    }
                )
            reply = self._reply(turn) if not incomplete else ""
            if isinstance(reply, list):
                output.extend(self._calls(reply, turn.tools, turn.tool_choice))
            elif not incomplete:
                text, incomplete = truncate_tokens(reply, budget)
                output.append(
                    {
                        "type": "message",
                        "id": f"msg_{self.new_id()}",
                        "role": "assistant",
                        "status": "incomplete" if incomplete else "completed",
                        "content": [{"type": "output_text", "text": text, "annotations": []}],
                    }
                )
        context_output = [c for c in map(output_context_item, output) if c is not None]
        out_tokens = reasoning_tokens + sum(c.tokens - MESSAGE_OVERHEAD for c in context_output)
        r.output = output
        r.context_output = context_output
        if r.wrote_cache:
            r.cache_tokens = turn.input_tokens + sum(c.tokens for c in context_output)
        status = "incomplete" if incomplete else "completed"
        usage = response_usage(turn.input_tokens, turn.cached_tokens, out_tokens, reasoning_tokens)
        r.body = self._body(r, turn, status, usage)
        r.completed_at = self.now()
        with self._lock:
            if r.stored:
                if len(self._responses) % 1024 == 1023:
                    self._sweep_responses()
                self._responses[r.id] = r
                turn.applied = True
        return r.body

    def _calls(
        self, calls: list[FunctionCall], tools: list[dict[str, Any]] | None, choice: Any
    ) -> list[dict[str, Any]]:
        names = {t["name"] for t in tools or () if t["type"] == "function"}
        out = []
        for call in calls:
            if call.name not in names or choice == "none":
                raise responder_error(f"called {call.name!r}, which the request does not offer")
            try:
                arguments = function_arguments(call.arguments)
            except (TypeError, ValueError):
                raise responder_error(f"gave {call.name!r} arguments that are not JSON") from None
            out.append(
                {
                    "type": "function_call",
                    "id": f"fc_{self.new_id()}",
                    "call_id": f"call_{self.new_id()}",
                    "name": call.name,
                    "arguments": arguments,
                    "status": "completed",
                }
            )
        return out

    def _body(
        self, r: Stored, turn: ResponseTurn, status: str, usage: dict[str, Any]
    ) -> dict[str, Any]:
        p = turn.params
        caching: dict[str, Any] = {"type": "enabled" if r.caching else "disabled"}
        if r.prefix:
            caching["prefix"] = True
        return {
            "id": r.id,
            "object": "response",
            "created_at": int(r.created_at),
            "model": r.model,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "length"} if status == "incomplete" else None,
            "previous_response_id": None if r.parent is None else r.parent.id,
            "instructions": p.get("instructions"),
            "max_output_tokens": turn.max_output_tokens,
            "thinking": r.thinking,
            "service_tier": p.get("service_tier", "default"),
            "temperature": p.get("temperature"),
            "top_p": p.get("top_p"),
            "text": None if turn.fmt is None else {"format": turn.fmt},
            "tools": turn.tools,
            "tool_choice": turn.tool_choice,
            "parallel_tool_calls": p.get("parallel_tool_calls"),
            "output": r.output,
            "usage": usage,
            "caching": caching,
            "store": r.stored,
            "expire_at": r.expire_at,
        }

    def fail_response(self, turn: ResponseTurn) -> None:
        """A response that failed mid-stream is not stored (and cannot be chained from)."""
        with self._lock:
            if self._responses.get(turn.stored.id) is turn.stored:
                del self._responses[turn.stored.id]
            turn.applied = False

    def set_in_progress(self, turn: ResponseTurn, busy: bool) -> None:
        with self._lock:
            turn.stored.in_progress = busy
            turn.stored.completed_at = self.now()

    def response_record(self, turn: ResponseTurn, **outcome: Any) -> dict[str, Any]:
        r = turn.stored
        body = r.body or None
        reply = None
        if body is not None:
            texts = [o for o in r.output if o["type"] == "message"]
            reply = texts[0]["content"][0]["text"] if texts else None
        rec = new_record(
            PATH_RESPONSES,
            turn.request_id,
            response_id=r.id,
            previous_response_id=None if r.parent is None else r.parent.id,
            mode=turn.params["prompt_info"]["mode"],
            model=r.model,
            stream=turn.stream,
            messages=r.transcript,
            from_context=turn.from_context,
            sent=turn.sent,
            reply=reply,
            output=None if body is None else r.output,
            finish_reason=None if body is None else body["status"],
            usage=None if body is None else body["usage"],
            applied=turn.applied,
            status=200,
        )
        rec.update(outcome)
        return rec


__all__ = ["ResponseTurn", "ResponsesAPI", "Stored"]
