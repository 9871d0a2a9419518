"""Responses API request building (no I/O), with every caching rule checked locally.

Only fields that are set are sent; a ``None`` argument means "not set", and a ``None``
*inside* a field is an error (Ark never accepts JSON ``null``; the official SDK sends
them). Each broken caching rule raises :class:`~ark_context.ArkCachingRuleError` whose
``rule`` names it and whose message says what to change. Rules (``../shared`` spec §2):

==============================  ==========================================================
rule                            what it forbids
==============================  ==========================================================
instructions-with-caching       ``instructions`` with ``caching.type == "enabled"``
store-false-with-caching        ``store=False`` with caching
non-function-tools-with-caching tools other than ``function`` with caching
tools-on-later-caching-turn     ``tools`` with ``previous_response_id`` and caching
json-schema-in-caching-chain    ``text.format.type == "json_schema"`` with
                                ``previous_response_id`` and caching
prefix-streamed                 ``caching.prefix`` with ``stream=True``
prefix-with-previous-response   ``caching.prefix`` with ``previous_response_id``
prefix-without-caching          ``caching.prefix`` without ``caching.type == "enabled"``
prefix-too-short                :func:`check_prefix_tokens` with fewer than 1025 tokens
partial-with-caching            a ``partial: true`` (prefill) message with caching
effort-with-thinking-disabled   ``reasoning.effort`` other than ``minimal`` with thinking
                                disabled
expire-at-range                 ``expire_at`` not in ``(now, now + 259200]`` with caching,
                                ``(now, now + 604800]`` without
chain-too-long                  more than 1000 input items
==============================  ==========================================================

>>> check_prefix_tokens(1025)
>>> check_prefix_tokens(1024)
Traceback (most recent call last):
...
ark_context._exceptions.ArkCachingRuleError: A prefix cache needs at least 1025 input tokens ...
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ._exceptions import ArkCachingRuleError, ArkInputError
from ._requests import Call, ClientConfig, check_model
from ._transport import encode_body

__all__ = [
    "CACHING_EXPIRE_MAX",
    "CHAIN_ITEMS_MAX",
    "PREFIX_MIN_TOKENS",
    "STORE_EXPIRE_MAX",
    "check_prefix_tokens",
    "create_call",
    "input_items_call",
    "response_call",
]

CACHING_EXPIRE_MAX = 259200
"""Latest ``expire_at`` of a caching turn, seconds from now (3 days: the caching pages'
limit; the create page allows 7 days for plain storage, see :data:`STORE_EXPIRE_MAX`)."""

STORE_EXPIRE_MAX = 604800
"""Latest ``expire_at`` of a stored turn without caching, seconds from now (7 days)."""

PREFIX_MIN_TOKENS = 1025
"""A prefix cache needs at least this many input tokens (docs: "> 1024" and ">= 1024")."""

CHAIN_ITEMS_MAX = 1000
"""A chain holds at most this many items."""

_FIELDS = (
    "model",
    "input",
    "previous_response_id",
    "instructions",
    "caching",
    "store",
    "expire_at",
    "max_output_tokens",
    "temperature",
    "top_p",
    "thinking",
    "reasoning",
    "text",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
)


def check_prefix_tokens(count: int) -> None:
    """Raise ``ArkCachingRuleError("prefix-too-short")`` unless ``count`` (input tokens by
    the caller's tokenizer) is enough for a prefix cache."""
    if isinstance(count, bool) or not isinstance(count, int) or count < PREFIX_MIN_TOKENS:
        raise ArkCachingRuleError(
            "prefix-too-short",
            f"A prefix cache needs at least {PREFIX_MIN_TOKENS} input tokens (got {count!r}); "
            "add content to the prefix or send it without caching.prefix.",
        )


def _no_null(value: Any, path: str) -> None:
    """Raise naming the first ``None`` nested in ``value``."""
    if value.__class__ in (str, int, float, bool):
        return
    if value is None:
        raise ArkInputError(
            f"{path} is None; Ark never accepts null. Remove it or give it a value."
        )
    if isinstance(value, Mapping):
        for k, v in value.items():
            _no_null(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _no_null(v, f"{path}[{i}]")


def _rule(rule: str, message: str) -> ArkCachingRuleError:
    return ArkCachingRuleError(rule, f"{message} (caching rule {rule!r})")


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ArkInputError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}."
        )


def _check(f: dict[str, Any], stream: bool, now: float) -> None:
    """Every local rule; ``f`` holds the set fields only."""
    caching = f.get("caching")
    if caching is not None:
        if not isinstance(caching, Mapping):
            raise ArkInputError('caching must be a dict like {"type": "enabled"}.')
        _one_of("caching.type", caching.get("type"), ("enabled", "disabled"))
    thinking = f.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, Mapping):
            raise ArkInputError('thinking must be a dict like {"type": "disabled"}.')
        _one_of("thinking.type", thinking.get("type"), ("enabled", "disabled", "auto"))
    reasoning = f.get("reasoning")
    effort = None
    if reasoning is not None:
        if not isinstance(reasoning, Mapping):
            raise ArkInputError('reasoning must be a dict like {"effort": "minimal"}.')
        effort = reasoning.get("effort")
        _one_of("reasoning.effort", effort, ("minimal", "low", "medium", "high"))
    on = caching is not None and caching.get("type") == "enabled"
    prefix = caching is not None and caching.get("prefix") is True
    prev = f.get("previous_response_id")
    items = f["input"]
    if not isinstance(items, str) and len(items) > CHAIN_ITEMS_MAX:
        raise _rule(
            "chain-too-long",
            f"input has {len(items)} items; a chain holds at most {CHAIN_ITEMS_MAX}. "
            "Start a new chain from a shortened transcript.",
        )
    if on and "instructions" in f:
        raise _rule(
            "instructions-with-caching",
            "instructions cannot be used with caching (Ark: 'caching is not supported for "
            "instructions'). Put the system prompt into the first turn's input as a "
            "{'role': 'system', ...} message (it is stored and inherited), or disable caching.",
        )
    if on and f.get("store") is False:
        raise _rule(
            "store-false-with-caching",
            "store=False cannot be used with caching (writing the cache needs storage); "
            "remove store or set caching={'type': 'disabled'}.",
        )
    tools = f.get("tools")
    if on and tools:
        odd = [
            t.get("type")
            for t in tools
            if not isinstance(t, Mapping) or t.get("type") != "function"
        ]
        if odd:
            raise _rule(
                "non-function-tools-with-caching",
                f"only function tools can be used with caching (got {odd!r}); "
                "remove the other tools or disable caching.",
            )
        if prev is not None:
            raise _rule(
                "tools-on-later-caching-turn",
                "tools can only be declared in the first turn of a caching chain (later turns "
                "inherit them); remove tools from this turn, or start a new chain to change them.",
            )
    text = f.get("text")
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if on and prev is not None and isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        raise _rule(
            "json-schema-in-caching-chain",
            "json_schema output cannot be used after a caching turn; use "
            "text={'format': {'type': 'json_object'}} or start a chain without caching.",
        )
    if prefix:
        if not on:
            raise _rule("prefix-without-caching", "caching.prefix needs caching.type='enabled'.")
        if stream:
            raise _rule(
                "prefix-streamed",
                "a prefix cache (caching.prefix=True) cannot be created by a stream; "
                "call create() instead of stream().",
            )
        if prev is not None:
            raise _rule(
                "prefix-with-previous-response",
                "a prefix cache (caching.prefix=True) starts a chain; remove "
                "previous_response_id, or drop caching.prefix to continue the chain.",
            )
    if on and not isinstance(items, str):
        for i, item in enumerate(items):
            if isinstance(item, Mapping) and item.get("partial") is True:
                raise _rule(
                    "partial-with-caching",
                    f"input[{i}] is a prefill (partial=True), which cannot be used with "
                    "caching; remove partial or disable caching.",
                )
    disabled = isinstance(thinking, Mapping) and thinking.get("type") == "disabled"
    if effort not in (None, "minimal") and disabled:
        raise _rule(
            "effort-with-thinking-disabled",
            f"reasoning.effort={effort!r} needs thinking enabled; with thinking "
            "{'type': 'disabled'} only effort 'minimal' is allowed.",
        )
    expire_at = f.get("expire_at")
    if expire_at is not None:
        if isinstance(expire_at, bool) or not isinstance(expire_at, int):
            raise ArkInputError(f"expire_at must be an int (UTC Unix seconds); got {expire_at!r}.")
        limit = CACHING_EXPIRE_MAX if on else STORE_EXPIRE_MAX
        if not now < expire_at <= now + limit:
            what = "3 days with caching" if on else "7 days"
            raise _rule(
                "expire-at-range",
                f"expire_at={expire_at} is out of range: it must be after now and at most "
                f"{what} ahead (<= {int(now) + limit}); set an earlier expire_at.",
            )


def create_call(
    cfg: ClientConfig,
    fields: dict[str, Any],
    *,
    stream: bool,
    request_id: str | None,
    extra_body: Mapping[str, Any] | None,
    now: float | None = None,
) -> Call:
    """``POST /responses``: ``fields`` maps the request fields (``None`` = unset)."""
    body = {k: v for k in _FIELDS if (v := fields.get(k)) is not None}
    check_model(body.get("model"))
    items = body.get("input")
    if isinstance(items, str):
        if not items:
            raise ArkInputError("input must not be empty.")
    elif not isinstance(items, Sequence) or isinstance(items, bytes) or not items:
        raise ArkInputError("input must be a string or a non-empty list of input items.")
    if extra_body:
        for k, v in extra_body.items():
            if k in body or k == "stream":
                raise ArkInputError(f"extra_body must not repeat {k!r}; pass it as an argument.")
            if v is not None:
                body[k] = v
    content = encode_body(body)
    if b"null" in content:  # rare (a None, or the word inside a string): find the None
        for k, v in body.items():
            _no_null(v, k)
    _check(body, stream, time.time() if now is None else now)
    if stream:
        content = content[:-1] + b',"stream":true}'
    prev = body.get("previous_response_id")
    return Call(
        "POST",
        cfg.urls["responses"],
        content,
        cfg.request_headers(request_id, stream),
        "refused",
        chained=prev if isinstance(prev, str) else None,
        stream=stream,
    )


def _response_url(cfg: ClientConfig, response_id: Any, tail: str = "") -> str:
    if not isinstance(response_id, str) or not response_id.strip():
        raise ArkInputError("response_id must be the id a create call returned (resp_...).")
    return f"{cfg.urls['responses']}/{quote(response_id, safe='')}{tail}"


def response_call(cfg: ClientConfig, method: str, response_id: str, request_id: str | None) -> Call:
    """``GET`` or ``DELETE /responses/{id}`` (idempotent)."""
    url = _response_url(cfg, response_id)
    return Call(method, url, None, cfg.request_headers(request_id, False), "idempotent")


def input_items_call(
    cfg: ClientConfig,
    response_id: str,
    *,
    after: str | None,
    before: str | None,
    limit: int | None,
    order: str | None,
    include: Sequence[str] | None,
    request_id: str | None,
) -> Call:
    """``GET /responses/{id}/input_items`` (one page; idempotent)."""
    url = _response_url(cfg, response_id, "/input_items")
    params: list[tuple[str, str]] = []
    for name, value in (("after", after), ("before", before)):
        if value is not None:
            if not isinstance(value, str) or not value:
                raise ArkInputError(f"{name} must be an item id (a non-empty string).")
            params.append((name, value))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ArkInputError(f"limit must be an int in [1, 100]; got {limit!r}.")
        params.append(("limit", str(limit)))
    if order is not None:
        _one_of("order", order, ("asc", "desc"))
        params.append(("order", order))
    for value in include or ():
        params.append(("include[]", str(value)))
    headers = cfg.request_headers(request_id, False)
    return Call("GET", url, None, headers, "idempotent", params=params or None)
