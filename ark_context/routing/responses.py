"""The Responses API backend: a response id is immutable state with a fixed deadline.

The second implementation of the :class:`~ark_context.routing.backend.Backend` seam (the
flows are shared). Each turn of a caching chain is a ``POST /responses`` with
``caching: {"type": "enabled"}``, ``store: true``, an explicit ``expire_at`` and
``previous_response_id`` = the response whose transcript is the longest recorded prefix
of the caller's history. What the seam's operations mean here:

* ``create`` (a session seed) makes no request: a chain starts with a reply, so the seed
  travels with the first turn (state ``""``). ``create(shared=True)`` builds a prefix
  cache (``caching.prefix: true``, not streamed, no reply) for ``common_prefix``.
* ``send(state, tail)``: ``state`` ``None`` is an uncached call (``store: false``, the
  whole history); ``""`` the first turn of a new chain (seed + tail, tools declared);
  otherwise a chained turn (tools inherited, never resent; thinking and reasoning
  resent unchanged). ``instructions`` are never sent: a system prompt is an input item.
* State ids carry their chain's deadline (``resp_…@<expire_at>``): every turn of a chain
  keeps its first turn's ``expire_at`` (a turn may not outlive its ancestors, unknown
  #5), so the store's records expire with the chain and a chain near its deadline is
  rebuilt from the caller's history.
* Calls chaining from one id are serialised per parent id, and wait until
  ``chain_gap`` (0.1 s) after the parent completed; only the waiting thread or task
  sleeps (unknowns #2, #3).

>>> b = ResponsesBackend(model="doubao-seed-1-6-251015", client_kwargs={"api_key": "k",
...     "base_url": "http://127.0.0.1:1/api/v3"}, expire_after=3600)
>>> b.mutable_state, b.deadline("resp_1@1760427411")
(False, 1760427411.0)
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._client import ArkContextClient, AsyncArkContextClient
from .._exceptions import ArkContextBusyError, ArkContextGoneError, ArkInputError
from .._replies import ResponsesResult, parse_response
from .._responses_input import is_json_schema_format, to_input_items, to_request_fields
from ..tokens import CJK, cjk_chars
from .backend import CallSpec, Created, LazyClients
from .drivers import KeyedLocks, LoopLocks

if TYPE_CHECKING:
    from .._messages import WireMessage

__all__ = ["MAX_CACHE_SECONDS", "ResponsesBackend", "ResponsesCall", "estimate_tokens"]

MAX_CACHE_SECONDS = 259200 - 60  # caching turns: at most 3 days, minus a margin (unknown #4)
PREFIX_MIN_TOKENS = 1025  # "大于1024" vs "大于等于1024": require more (unknown #16)
_SEP = "@"

_WORDS = re.compile(rf"[^\W{CJK}]+|[^\w\s]")


def estimate_tokens(messages: list[WireMessage]) -> int:
    """A conservative (low) token count of ``messages``: one per word run or punctuation
    mark, one per two CJK characters, nothing for message framing. Real tokenizers give
    at least this many, so a prefix cache is only attempted when it is surely long enough.

    >>> estimate_tokens([{"role": "system", "content": "Be brief, please. 你好吗"}])
    6
    """
    n = 0
    for m in messages:
        text = m.get("content") or ""
        n += len(_WORDS.findall(text)) + cjk_chars(text) // 2
    return n


@dataclass(slots=True)
class ResponsesCall:
    """One call's Responses request, converted once (kept on ``CallSpec.extra``)."""

    fields: dict[str, Any]  # converted request fields (tools, text, thinking, sampling)
    dropped: list[str]
    pinned: dict[str, Any] = field(default_factory=dict)  # chain settings (thinking, reasoning)
    seed: list[WireMessage] = field(default_factory=list)  # a new chain's history before the turn
    uncached_reason: str | None = None  # why this call must not cache (json_schema)
    sent_id: str | None = None  # the response id (from the reply or response.created)
    expire_at: int | None = None


def responses_call(params: Mapping[str, Any]) -> ResponsesCall:
    """Convert chat-shaped ``params`` once per call (raises before any network call)."""
    fields, dropped = to_request_fields(params)
    pinned: dict[str, Any] = {k: fields[k] for k in ("thinking", "reasoning") if k in fields}
    call = ResponsesCall(fields, dropped, pinned)
    if is_json_schema_format(fields.get("text")):
        call.uncached_reason = "json_schema"
    return call


def check_model_support(model: str, call: ResponsesCall) -> None:
    """Refuse, before the network, what the model table says ``model`` does not take:
    a ``thinking`` type, ``reasoning_effort``, structured output. Unknown models and
    endpoint ids are not checked.

    >>> check_model_support("kimi-k2-250905", responses_call({"thinking": {"type": "enabled"}}))
    Traceback (most recent call last):
    ...
    ark_context._responses_input.ArkResponsesInputError: thinking={'type': 'enabled'} is not supported by kimi-k2-250905 (it takes no thinking field); remove the thinking setting.
    """
    from .._responses_input import ArkResponsesInputError
    from ..catalog import lookup

    info = lookup(model)
    if info is None:
        return
    f = call.fields
    thinking = f.get("thinking")
    if thinking is not None and thinking["type"] not in info.thinking:
        takes = "/".join(info.thinking) if info.thinking else "no thinking field"
        raise ArkResponsesInputError(
            f"thinking={thinking!r} is not supported by {model} (it takes {takes}); "
            "remove the thinking setting."
        )
    effort = (f.get("reasoning") or {}).get("effort")
    if effort is not None:
        if not info.reasoning_effort:
            raise ArkResponsesInputError(
                f"reasoning_effort is not supported by {model}; remove the setting."
            )
        if thinking is not None and thinking["type"] == "disabled" and effort != "minimal":
            raise ArkResponsesInputError(
                f"reasoning_effort={effort!r} needs thinking enabled on {model}; with "
                "thinking disabled only 'minimal' is allowed."
            )
    if "text" in f and not info.structured_output:
        raise ArkResponsesInputError(
            f"response_format (structured output) is not supported by {model}; remove it "
            "or use a model that has it."
        )


def chain_settings(call: ResponsesCall) -> dict[str, Any]:
    """What a chain pins at its first turn (folded into the namespace digest)."""
    f = call.fields
    return {k: f[k] for k in ("tools", "thinking", "reasoning") if k in f}


class ResponsesBackend(LazyClients):
    """``POST /responses`` chains (see the module docstring). Clients are built on first use."""

    name = "responses"
    mutable_state = False

    def __init__(
        self,
        *,
        model: str,
        client_kwargs: Mapping[str, Any],
        expire_after: int,
        chain_gap: float = 0.1,
        http_client: Any = None,
        http_async_client: Any = None,
        client: ArkContextClient | None = None,
        async_client: AsyncArkContextClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.model = model
        self.expire_after = min(int(expire_after), MAX_CACHE_SECONDS)
        self.chain_gap = chain_gap
        self._clients(client_kwargs, (http_client, http_async_client), (client, async_client))
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._done: OrderedDict[str, float] = OrderedDict()  # response id -> completed at
        self._done_lock = threading.Lock()
        self._locks: KeyedLocks[threading.Lock] = KeyedLocks(threading.Lock)
        self._alocks = LoopLocks()

    # -- state ids ---------------------------------------------------------------------

    @staticmethod
    def split(state: str) -> tuple[str, int | None]:
        """``resp_…@deadline`` -> (response id, deadline)."""
        rid, sep, when = state.rpartition(_SEP)
        if not sep or not when.isdigit():
            return state, None
        return rid, int(when)

    def deadline(self, state: str) -> float | None:
        when = self.split(state)[1]
        return float(when) if when is not None else None

    def state_after_turn(self, state: str, result: object) -> str:
        rid = _response_id(result)
        if not rid:
            raise ArkInputError("The Responses reply has no id; it cannot be chained from.")
        self._completed(rid)
        deadline = self.split(state)[1] if state else None
        when = deadline if deadline is not None else _expire_at(result)
        return f"{rid}{_SEP}{when}" if when is not None else rid

    def is_gone(self, exc: BaseException) -> bool:
        return isinstance(exc, ArkContextGoneError)

    def is_busy(self, exc: BaseException) -> bool:
        return isinstance(exc, ArkContextBusyError)

    # -- requests ----------------------------------------------------------------------

    def _rcall(self, call: CallSpec) -> ResponsesCall:
        rc = call.extra
        if not isinstance(rc, ResponsesCall):
            rc = call.extra = responses_call(call.params)
        return rc

    def _create_fields(self, messages: list[WireMessage], call: CallSpec) -> dict[str, Any]:
        """A prefix cache: the prefix only, no reply, not streamed."""
        rc = self._rcall(call)
        kw: dict[str, Any] = {"model": self.model, "input": to_input_items(messages)}
        kw["caching"] = {"type": "enabled", "prefix": True}
        kw["expire_at"] = int(self._clock()) + self.expire_after
        kw.update(rc.pinned)
        if "tools" in rc.fields:
            kw["tools"] = rc.fields["tools"]
        kw["request_id"] = call.request_id
        return kw

    def create(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created:
        if not shared:
            return self._seed(messages, call)
        made = self.client.responses.create(**self._create_fields(messages, call))
        return _created(made, self._clock())

    async def acreate(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created:
        if not shared:
            return self._seed(messages, call)
        client: Any = self.async_client
        made = await client.responses.create(**self._create_fields(messages, call))
        return _created(made, self._clock())

    def _seed(self, messages: list[WireMessage], call: CallSpec) -> Created:
        """A session chain starts with its first turn: keep the seed for the send."""
        self._rcall(call).seed = messages
        return Created("", self.expire_after, 0)

    def _send_fields(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, shared: bool
    ) -> tuple[dict[str, Any], str | None]:
        """The request of a send, and the parent response id (None: no parent).
        ``shared``: a use of a prefix cache (an idempotent send from a state)."""
        rc = self._rcall(call)
        kw: dict[str, Any] = {"model": self.model}
        parent: str | None = None
        if state is None:  # uncached: the whole history, nothing stored
            kw["input"] = to_input_items(messages)
            kw["store"] = False
            kw.update(rc.fields)
        elif shared:  # on a prefix cache: inherit it, store nothing new
            parent = self.split(state)[0]
            kw.update(rc.fields)
            kw.pop("tools", None)
            kw["previous_response_id"] = parent
            kw["input"] = to_input_items(messages)
            kw["store"] = False
        else:
            rid, deadline = self.split(state)
            kw.update(rc.fields)
            if rid:  # a chained turn: tools inherited from the first turn, never resent
                parent = rid
                kw["previous_response_id"] = rid
                kw.pop("tools", None)
                kw["input"] = to_input_items(messages)
            else:  # the first turn of a new chain: the seed travels with it
                kw["input"] = to_input_items([*rc.seed, *messages])
            kw["caching"] = {"type": "enabled"}
            now = int(self._clock())
            kw["expire_at"] = deadline if deadline is not None else now + self.expire_after
            rc.expire_at = kw["expire_at"]
        kw["request_id"] = call.request_id
        return kw, parent

    def send(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, *, idempotent: bool
    ) -> object:
        kw, parent = self._send_fields(state, messages, call, idempotent and state is not None)
        api = self.client.responses
        method = api.stream if call.stream else api.create
        if parent is None:
            return method(**kw)
        lock = self._locks.ref(parent.encode())
        try:
            with lock:  # serialised per parent id (unknown #2)
                wait = self._gap(parent)
                if wait > 0:
                    self._sleep(wait)
                result = method(**kw)
        finally:
            self._locks.unref(parent.encode())
        return result

    async def asend(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, *, idempotent: bool
    ) -> object:
        kw, parent = self._send_fields(state, messages, call, idempotent and state is not None)
        api: Any = self.async_client.responses
        method = api.stream if call.stream else api.create
        if parent is None:
            return await method(**kw)
        locks = self._alocks.current()
        lock = locks.ref(parent.encode())
        try:
            async with lock:
                wait = self._gap(parent)
                if wait > 0:
                    await self._asleep(wait)
                result = await method(**kw)
        finally:
            locks.unref(parent.encode())
        return result

    async def _asleep(self, seconds: float) -> None:
        if self._async_sleep is not None:
            await self._async_sleep(seconds)
            return
        import asyncio

        await asyncio.sleep(seconds)

    def _completed(self, rid: str) -> None:
        with self._done_lock:
            self._done[rid] = time.monotonic()
            while len(self._done) > 4096:
                self._done.popitem(last=False)

    def _gap(self, parent: str) -> float:
        """Seconds to wait before chaining from ``parent`` (0: none)."""
        with self._done_lock:
            done = self._done.get(parent)
        return 0.0 if done is None else done + self.chain_gap - time.monotonic()

    def delete(self, state: str) -> bool:
        """Delete a stored response (404 counts as deleted)."""
        deleted = self.client.responses.delete(self.split(state)[0])
        return bool(getattr(deleted, "deleted", True))

    async def adelete(self, state: str) -> bool:
        client: Any = self.async_client
        deleted = await client.responses.delete(self.split(state)[0])
        return bool(getattr(deleted, "deleted", True))


def result_of(obj: object) -> ResponsesResult:
    """The normalised result of a Response (a client model or a dict)."""
    if isinstance(obj, Mapping):
        return parse_response(obj)
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        raise TypeError(f"not a Response: {type(obj).__name__}")
    return parse_response(dump(exclude_none=True))


def _response_id(result: object) -> str | None:
    if isinstance(result, ResponsesResult):
        return result.id
    rid = getattr(result, "response_id", None) or getattr(result, "id", None)
    return str(rid) if rid else None


def _expire_at(result: object) -> int | None:
    when = getattr(result, "expire_at", None)
    if when is None:
        final = getattr(result, "final_response", None)
        when = getattr(final, "expire_at", None)
    return int(when) if isinstance(when, (int, float)) else None


def _created(response: object, now: float) -> Created:
    """A prefix cache: its id (with its deadline), its lifetime left at ``now`` (the
    router's clock, which set the deadline) and the input tokens it billed."""
    rid = str(getattr(response, "id", "") or "")
    when = _expire_at(response)
    usage = getattr(response, "usage", None)
    billed = int(getattr(usage, "input_tokens", 0) or 0)
    state = f"{rid}{_SEP}{when}" if when is not None else rid
    ttl = max(int(when - now), 1) if when is not None else None
    return Created(state, ttl, billed)
