"""Stored responses of the Responses API: lifetimes, chains, deletion, the cache each turn
holds, storage bills, and the read endpoints (GET, DELETE, input items). No HTTP here."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Mapping
from typing import Any

from ._common import PATH_RESPONSES, is_int, is_number
from ._errors import ApiError, EmulatorError, invalid
from ._response_items import Item, listed
from ._state import EmulatorState

#: Default ``expire_at`` offset (3 days, every page agrees).
EXPIRE_DEFAULT = 259_200
#: Latest ``expire_at`` of a stored turn without caching (创建模型响应: created + 7 days).
EXPIRE_MAX = 604_800
#: Latest ``expire_at`` of a caching turn (上下文缓存: "最长支持 3 天").
CACHING_EXPIRE_MAX = 259_200
#: Model window of the emulated Responses models (doubao-seed-1.6: 256k).
RESPONSE_WINDOW = 262_144
#: Default ``max_output_tokens`` (the doc examples echo 32768).
MAX_OUTPUT_TOKENS = 32_768
#: Fewest input tokens of a prefix cache: the docs say both "> 1024" and ">= 1024"; the
#: emulator takes the stricter reading.
PREFIX_MIN_TOKENS = 1025
#: Most items in a chain ("最多支持 1000 个 item").
MAX_CHAIN_ITEMS = 1000


@dataclasses.dataclass(eq=False)
class Stored:
    """One response the emulator produced (kept while stored and not expired)."""

    id: str
    model: str
    parent: Stored | None
    #: Order of creation and deletion events (the clock may stand still in tests).
    created_seq: int
    created_at: float
    expire_at: int
    inputs: list[Item]
    output: list[dict[str, Any]]
    context_output: list[Item]
    thinking: dict[str, Any] | None
    caching: bool
    prefix: bool
    instructions: bool
    #: Some turn of the chain up to here (this one included) had caching enabled.
    chain_caching: bool
    #: Some turn of the chain up to here set ``instructions``.
    chain_instructions: bool
    #: The tools of the chain's first turn (inherited by a caching chain).
    root_tools: list[dict[str, Any]] | None
    wrote_cache: bool
    #: Tokens this turn left in the cache (its whole context transcript) when it wrote.
    cache_tokens: int
    #: Items of the chain up to here (inputs and context outputs).
    chain_items: int
    transcript: list[dict[str, Any]]
    body: dict[str, Any]
    stored: bool = True
    deleted_seq: int | None = None
    deleted_at: float | None = None
    in_progress: bool = False
    #: When its reply was complete (a stream: when the stream ended), on the emulator clock.
    completed_at: float = 0.0

    def ancestors(self) -> list[Stored]:
        """The chain from its first turn to this one."""
        out: list[Stored] = []
        node: Stored | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        out.reverse()
        return out

    def storage_end(self) -> float:
        end = float(self.expire_at)
        return end if self.deleted_at is None else min(end, self.deleted_at)

    def token_hours(self) -> int:
        """Cache storage billed for this turn: cached tokens x started hours held."""
        if not self.wrote_cache:
            return 0
        hours = math.ceil(max(0.0, self.storage_end() - self.created_at) / 3600)
        return self.cache_tokens * hours


def not_found(response_id: str, param: str = "response_id") -> ApiError:
    return ApiError(
        404,
        "NotFound.Response",
        f"The specified response {response_id} is not found or expired.",
        param,
    )


def _in_progress(param: str) -> ApiError:
    return ApiError(
        403,
        "OperationDenied.InvalidState",
        "The specified response is in invalid state: InProgress.",
        param,
    )


class ResponseStore(EmulatorState):
    """Stored responses and their read endpoints; :class:`ResponsesAPI` adds creation.

    >>> ResponseStore().storage()
    {'responses': 0, 'cached_tokens': 0, 'token_hours': 0}
    """

    def __init__(self, **state: Any) -> None:
        super().__init__(**state)
        self._init_responses()

    def _init_responses(
        self,
        *,
        response_window: int = RESPONSE_WINDOW,
        max_output_tokens: int = MAX_OUTPUT_TOKENS,
        expire_default: int = EXPIRE_DEFAULT,
        expire_max: int = EXPIRE_MAX,
        caching_expire_max: int = CACHING_EXPIRE_MAX,
        prefix_min_tokens: int = PREFIX_MIN_TOKENS,
        max_chain_items: int = MAX_CHAIN_ITEMS,
        chain_gap: float = 0.0,
    ) -> None:
        settings = {
            "response_window": response_window,
            "max_output_tokens": max_output_tokens,
            "expire_default": expire_default,
            "expire_max": expire_max,
            "caching_expire_max": caching_expire_max,
            "prefix_min_tokens": prefix_min_tokens,
            "max_chain_items": max_chain_items,
        }
        for name, v in settings.items():
            if not is_int(v) or v < 1:
                raise EmulatorError(f"{name} must be a positive integer, got {v!r}")
        if expire_default > expire_max:
            raise EmulatorError(
                f"expire_default ({expire_default}) must not exceed expire_max ({expire_max})"
            )
        self.response_window = response_window
        self.max_output_tokens = max_output_tokens
        self.expire_default = expire_default
        self.expire_max = expire_max
        self.caching_expire_max = caching_expire_max
        self.prefix_min_tokens = prefix_min_tokens
        self.max_chain_items = max_chain_items
        if not is_number(chain_gap) or chain_gap < 0:
            raise EmulatorError(f"chain_gap must be >= 0 seconds, got {chain_gap!r}")
        self.chain_gap = float(chain_gap)
        self._responses: dict[str, Stored] = {}
        self._events = itertools.count(1)
        self._token_hours_released = 0

    # ------------------------------------------------------------------ lookup
    def _expired(self, r: Stored) -> bool:
        return self.now() >= r.expire_at

    def _sweep_responses(self) -> None:
        for rid in [k for k, r in self._responses.items() if self._expired(r)]:
            self._drop(rid)

    def _drop(self, response_id: str) -> Stored:
        """Remove a stored response; its storage bill is final from now on."""
        r = self._responses.pop(response_id)
        self._token_hours_released += r.token_hours()
        return r

    def _live_response(self, response_id: str, param: str = "response_id") -> Stored:
        r = self._responses.get(response_id)
        if r is None:
            raise not_found(response_id, param)
        if self._expired(r):
            self._drop(response_id)
            raise not_found(response_id, param)
        if r.in_progress:
            raise _in_progress(param)
        return r

    @staticmethod
    def _cache_read(parent: Stored) -> int:
        """Tokens a turn chaining from ``parent`` reads from the cache (thinking matching):
        the deepest turn that wrote the cache, is not deleted, and whose ancestors were not
        deleted after it was written. A deleted turn's content is gone; the turns after it
        are recomputed at full price until a caching turn writes them again."""
        best = 0
        last_deletion = 0
        for a in parent.ancestors():
            if a.deleted_seq is not None:
                last_deletion = max(last_deletion, a.deleted_seq)
                continue
            if a.wrote_cache and last_deletion < a.created_seq:
                best = a.cache_tokens
        return best

    # ------------------------------------------------------------------ GET, DELETE, items
    def retrieve_response(self, response_id: str) -> dict[str, Any]:
        """``GET /responses/{id}``: the stored body without reasoning items."""
        with self._lock:
            r = self._live_response(response_id)
            body = dict(r.body)
        body["output"] = [o for o in body["output"] if o["type"] != "reasoning"]
        return body

    def delete_response(self, response_id: str) -> dict[str, Any]:
        """``DELETE /responses/{id}``: its turn leaves every chain through it."""
        with self._lock:
            r = self._live_response(response_id)
            r.deleted_seq = next(self._events)
            r.deleted_at = self.now()
            self._drop(response_id)
        return {"id": response_id, "object": "response", "deleted": True}

    def input_items(self, response_id: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /responses/{id}/input_items``: the whole chain's items before its output."""
        order = query.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise invalid("order", "must be 'asc' or 'desc'")
        raw_limit = query.get("limit") or "100"
        if not str(raw_limit).isdigit() or not 1 <= int(raw_limit) <= 100:
            raise invalid("limit", "must be an integer in [1, 100]")
        limit = int(raw_limit)
        images = "message.input_image.image_url" in query.get("include", ())
        with self._lock:
            r = self._live_response(response_id)
            items: list[dict[str, Any]] = []
            for a in r.ancestors():
                if a.deleted_seq is not None:
                    continue
                items.extend(i.listing for i in a.inputs)
                if a is not r:
                    items.extend(i.listing for i in a.context_output)
        if order == "desc":
            items.reverse()
        ids = [i["id"] for i in items]
        start, end = 0, len(items)
        for name in ("after", "before"):
            anchor = query.get(name)
            if anchor:
                if anchor not in ids:
                    raise invalid(name, f"no item {anchor} in this response's input items")
                if name == "after":
                    start = ids.index(anchor) + 1
                else:
                    end = ids.index(anchor)
        window = items[start:end]
        page = window[:limit] if query.get("before") is None else window[-limit:]
        data = [copy.deepcopy(listed(i, images)) for i in page]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(window) > len(page),
        }

    # ------------------------------------------------------------------ inspection
    def _snapshot(self, r: Stored) -> dict[str, Any]:
        return {
            "id": r.id,
            "model": r.model,
            "previous_response_id": None if r.parent is None else r.parent.id,
            "status": r.body.get("status"),
            "created_at": r.created_at,
            "expire_at": r.expire_at,
            "caching": r.caching,
            "prefix": r.prefix,
            "thinking": copy.deepcopy(r.thinking),
            "messages": copy.deepcopy(r.transcript),
            "output": copy.deepcopy(r.output),
            "usage": copy.deepcopy(r.body.get("usage")),
            "wrote_cache": r.wrote_cache,
            "cache_tokens": r.cache_tokens if r.wrote_cache else 0,
            "cached_tokens": self._cache_read(r),
            "chain_items": r.chain_items,
            "token_hours": r.token_hours(),
            "in_progress": r.in_progress,
        }

    def responses(self) -> list[dict[str, Any]]:
        """Every stored, unexpired response, oldest first: what its model saw
        (``messages``), its ``output``, ``usage``, ``cached_tokens`` (what a turn chaining
        from it with the same thinking reads from the cache), ``cache_tokens`` (what it
        holds) and ``token_hours`` (cache storage billed until ``expire_at``)."""
        with self._lock:
            self._sweep_responses()
            return [self._snapshot(r) for r in self._responses.values()]

    def response(self, response_id: str) -> dict[str, Any] | None:
        """One stored, unexpired response's snapshot, or ``None``."""
        with self._lock:
            self._sweep_responses()
            r = self._responses.get(response_id)
            return None if r is None else self._snapshot(r)

    def storage(self) -> dict[str, Any]:
        """Cache storage: ``cached_tokens`` held now by live responses, and ``token_hours``
        billed over all responses so far (each until its ``expire_at``, or its deletion)."""
        with self._lock:
            self._sweep_responses()
            live = list(self._responses.values())
            return {
                "responses": len(live),
                "cached_tokens": sum(r.cache_tokens for r in live if r.wrote_cache),
                "token_hours": self._token_hours_released + sum(r.token_hours() for r in live),
            }

    def response_records(self) -> list[dict[str, Any]]:
        """Records of ``POST /responses`` requests only."""
        return self.records(PATH_RESPONSES)

    def forget_responses(self) -> int:
        """Drop every stored response, like a server restart; returns how many."""
        with self._lock:
            n = len(self._responses)
            for rid in list(self._responses):
                self._drop(rid)
            return n


__all__ = ["ResponseStore", "Stored", "not_found"]
