"""Canonical wire messages and the digest chain that keys contexts.

A wire message is exactly what goes on the wire: ``{"role", "content"[, "name"]}``
with ``content`` a ``str``. Both adapters build these with :func:`wire_message`,
so equivalent LangChain and LlamaIndex messages give the same digest, and any
difference that reaches the wire gives a different one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, cast

from ._exceptions import ArkInputError, ArkUnsupportedError

__all__ = [
    "ROLES",
    "Chain",
    "WireMessage",
    "digest_chain",
    "key_fingerprint",
    "message_parts",
    "namespace_digest",
    "trailing_turn_start",
    "validate_conversation",
    "wire_message",
]

WireMessage = dict[str, str]
ROLES = frozenset({"system", "user", "assistant"})
_ROLE_BYTES = {"system": b"s", "user": b"u", "assistant": b"a", "tool": b"t"}
_ROLE, _CONTENT = itemgetter("role"), itemgetter("content")
_DICT_ONLY, _STR_ONLY = frozenset({dict}), frozenset({str})
_SHORT = 24  # below this many messages, per-message Python loops beat the map() paths
_UNSUPPORTED_ROLES = frozenset({"tool", "function", "ipython"})
_TOOLS_HINT = "The Ark Context API does not support tools or function calling."

# content str -> 16-byte digest of its UTF-8 bytes. Bounded; a hit skips both the UTF-8
# validation and the hashing of texts the caller passes again on every turn (a long
# history is mostly texts seen before). Each entry is charged its length plus a fixed
# overhead, so many short texts cannot hold more memory than a few long ones.
_CACHE_ENTRY_COST = 160  # approx. bytes of dict slot + key object + 16-byte value
_CACHE_MAX_CHARS = 16_000_000  # ~16-64 MB kept alive at most
_content_cache: dict[str, bytes] = {}
_cached_chars = 0


def _utf8(text: str, where: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArkInputError(
            f"{where} contains text that cannot be encoded as UTF-8 "
            f"({exc.reason} at position {exc.start}); remove lone surrogates before sending."
        ) from None


def _content_digest(text: str, where: str) -> bytes:
    global _cached_chars
    d = _content_cache.get(text)
    if d is None:
        d = hashlib.blake2b(_utf8(text, where), digest_size=16).digest()
        cost = len(text) + _CACHE_ENTRY_COST
        if _cached_chars + cost > _CACHE_MAX_CHARS:
            _cached_chars -= _evict_oldest(_CACHE_MAX_CHARS // 2)
        _content_cache[text] = d
        _cached_chars += cost
    return d


def _evict_oldest(budget: int) -> int:
    """Drop the oldest cache entries (dict order is insertion order) costing at least
    ``budget``; return what they cost. Recent texts, the live conversations, stay."""
    freed = 0
    drop: list[str] = []
    for text in list(_content_cache):  # a snapshot: other threads may insert meanwhile
        if freed >= budget:
            break
        drop.append(text)
        freed += len(text) + _CACHE_ENTRY_COST
    for text in drop:
        _content_cache.pop(text, None)  # another thread may have dropped it already
    return freed


def _flatten(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, Iterable) and not isinstance(content, (bytes, Mapping)):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
                continue
            if isinstance(block, Mapping):
                kind = block.get("type", "text")
                if kind == "text" and isinstance(block.get("text"), str):
                    parts.append(block["text"])
                    continue
                raise ArkUnsupportedError(
                    f"{where} has a content block of type {kind!r}; ark-context sends text only "
                    "(no images or files, on either caching API). Send text blocks or a string."
                )
            raise ArkUnsupportedError(
                f"{where} has a content block of type {type(block).__name__}; "
                "ark-context sends text only."
            )
        return "".join(parts)
    raise ArkInputError(
        f"{where} has content of type {type(content).__name__}; expected a string or text blocks."
    )


def wire_message(
    role: str, content: Any, name: str | None = None, *, where: str = "message"
) -> WireMessage:
    """Build the canonical wire form of one message.

    ``content`` may be a string or a list of text blocks (``{"type": "text", "text": ...}``
    or plain strings), which are joined. Non-text blocks raise :class:`ArkUnsupportedError`.

    >>> wire_message("user", [{"type": "text", "text": "Hi "}, "there"])
    {'role': 'user', 'content': 'Hi there'}
    """
    if role in _UNSUPPORTED_ROLES:
        raise ArkUnsupportedError(f"{where} has role {role!r}. {_TOOLS_HINT}")
    if role not in ROLES:
        raise ArkInputError(f"{where} has role {role!r}; expected one of system, user, assistant.")
    msg: WireMessage = {"role": role, "content": _flatten(content, where)}
    if name:
        msg["name"] = name
    return msg


def validate_conversation(messages: Sequence[Mapping[str, Any]]) -> None:
    """Check a conversation of wire messages before any network call."""
    if not messages:
        raise ArkInputError("The conversation is empty; pass at least one user message.")
    roles = ROLES
    if not (  # fastest path, in C: plain {"role", "content"} dicts, as wire_message() builds
        len(messages) > _SHORT
        and set(map(type, messages)) == _DICT_ONLY
        and roles.issuperset(map(dict.get, messages, repeat("role")))  # type: ignore[arg-type]
        and set(map(type, map(dict.get, messages, repeat("content")))) == _STR_ONLY  # type: ignore[arg-type]
        and max(map(len, messages)) == 2
    ):
        for m in messages:  # fast path: what wire_message() builds (names included)
            if (
                m.__class__ is not dict
                or m.get("role") not in roles
                or m.get("content").__class__ is not str
                or (len(m) != 2 and not (len(m) == 3 and m.get("name").__class__ is str))
            ):
                _explain(messages)
                break  # every message is fine after all (e.g. a Mapping that is not a dict)
    if messages[-1]["role"] == "assistant":
        raise ArkInputError(
            "The conversation ends with an assistant message; the model needs a user (or "
            "system) message last. Append the next user turn."
        )


def _explain(messages: Sequence[Mapping[str, Any]]) -> None:
    """Slow path of validate_conversation: find the bad message and say what to do."""
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, Mapping) else None
        if role not in ROLES:
            if role in _UNSUPPORTED_ROLES:
                raise ArkUnsupportedError(f"messages[{i}] has role {role!r}. {_TOOLS_HINT}")
            raise ArkInputError(
                f"messages[{i}] must be a mapping with role system, user or assistant; got {m!r:.80}"
            )
        if not isinstance(m.get("content"), str):
            raise ArkInputError(
                f"messages[{i}] content must be a string; build it with wire_message()."
            )
        extra = set(m) - {"role", "content", "name"}
        if extra:
            raise ArkInputError(
                f"messages[{i}] has field(s) {sorted(extra)}; wire messages carry only role, "
                "content and name (build them with wire_message())."
            )
        if "name" in m and not isinstance(m["name"], str):
            raise ArkInputError(f"messages[{i}] name must be a string.")


def key_fingerprint(api_key: str | None) -> bytes:
    """A one-way 8-byte fingerprint of the API key (never reversible to the key)."""
    return hashlib.blake2b(
        (api_key or "").encode(), digest_size=8, person=b"ark-ctx-keyfp"
    ).digest()


def namespace_digest(
    *,
    base_url: str,
    model: str,
    mode: str,
    truncation: Mapping[str, Any] | None,
    api_key: str | None,
) -> bytes:
    """Digest of everything that decides whether two calls may share a context."""
    blob = json.dumps(
        [base_url.rstrip("/"), model, mode, truncation or None, key_fingerprint(api_key).hex()],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.blake2b(blob.encode(), digest_size=16, person=b"ark-ctx-ns").digest()


class Chain:
    """A running digest of a transcript: ``digest()`` names the messages fed so far.

    The digest of a prefix is blake2b over the namespace and, per message, its role byte
    and the 16-byte digest of its content (plus ``n`` and the name's digest). The encoding
    is unambiguous, so equal digests mean equal wire messages. Long contents hit a digest
    cache, so a 200-message history costs one small ``update`` per message.

    >>> c = Chain(b"ns")
    >>> c.feed([wire_message("user", "hi")], positions=[0])[0] == c.digest()
    True
    """

    __slots__ = ("_h",)

    def __init__(self, namespace: bytes) -> None:
        self._h = hashlib.blake2b(namespace, digest_size=16, person=b"ark-ctx-chain")

    def feed(
        self, messages: Sequence[Mapping[str, str]], positions: Sequence[int] | None = None
    ) -> list[bytes]:
        """Append ``messages``; return the digest after each index in ``positions``
        (ascending; ``None``: after every message)."""
        return self.feed_parts(message_parts(messages), positions)

    def feed_parts(
        self, parts: Sequence[bytes], positions: Sequence[int] | None = None
    ) -> list[bytes]:
        """:meth:`feed` for messages already encoded by :func:`message_parts`."""
        # blake2b is streaming: hashing the parts in chunks gives the same digest.
        h = self._h
        out: list[bytes] = []
        start = 0
        for p in range(len(parts)) if positions is None else positions:
            h.update(b"".join(parts[start : p + 1]))
            out.append(h.copy().digest())
            start = p + 1
        if start < len(parts):
            h.update(b"".join(parts[start:]))
        return out

    def digest(self) -> bytes:
        return self._h.digest()

    def copy(self) -> Chain:
        other = Chain.__new__(Chain)
        other._h = self._h.copy()
        return other

    def extended(self, message: Mapping[str, str]) -> bytes:
        """The digest after one more message, leaving this chain as it is."""
        other = self.copy()
        other.feed([message])
        return other.digest()


def message_parts(messages: Sequence[Mapping[str, str]]) -> list[bytes]:
    """What the digest chain hashes per message: its role byte and the 16-byte digest of
    its content (plus ``n`` and the name's digest). The per-message work runs in C (map
    over the messages; contents seen before come from the digest cache)."""
    if len(messages) <= _SHORT:  # a plain loop is faster for a few messages
        cache, roles = _content_cache, _ROLE_BYTES
        out: list[bytes] = []
        add = out.append
        for i, m in enumerate(messages):
            d = cache.get(m["content"])
            if d is None:
                d = _content_digest(m["content"], f"messages[{i}]")
            if len(m) > 2:  # a name or tool fields (see _extra_fields_digest)
                add(roles.get(m["role"], b"?") + d + _extra_fields_digest(m, i))
            else:
                add(roles.get(m["role"], b"?") + d)
        return out
    contents = list(map(_CONTENT, messages))
    found = list(map(_content_cache.get, contents))
    if None in found:
        for i, d in enumerate(found):
            if d is None:
                found[i] = _content_digest(contents[i], f"messages[{i}]")
    digests = cast("list[bytes]", found)
    role_parts = map(_ROLE_BYTES.get, map(_ROLE, messages), repeat(b"?"))
    parts: list[bytes] = list(map(bytes.__add__, role_parts, digests))
    if max(map(len, messages)) > 2:  # some message has a name or tool fields
        for i, m in enumerate(messages):
            if len(m) > 2:
                parts[i] += _extra_fields_digest(m, i)
    return parts


def digest_chain(namespace: bytes, messages: Sequence[Mapping[str, str]]) -> list[bytes]:
    """``h[i]`` = digest of ``messages[: i + 1]`` within ``namespace`` (16 bytes each)."""
    return Chain(namespace).feed(messages)


def trailing_turn_start(messages: Sequence[Mapping[str, str]]) -> int:
    """Index where the trailing new turn starts: after the last assistant message, or
    after the leading system messages when there is no assistant message."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return i + 1
    i = 0
    while i < len(messages) and messages[i]["role"] == "system":
        i += 1
    return i


# -- tool calls and tool results (Responses API, and chat completions with tools) ----------
# The wire form grows two shapes, both covered by the digest (see _extra_fields_digest):
#   {"role": "assistant", "content": str[, "name": str], "tool_calls": [tool call, ...]}
#   {"role": "tool", "tool_call_id": str, "content": str}
# with a tool call ``{"id": str, "type": "function", "function": {"name": str,
# "arguments": str}}`` whose arguments are canonical (:func:`canonical_arguments`), so a
# reply the model wrote with any JSON spacing and the same reply rebuilt from a
# framework's parsed arguments give the same digest. ``validate_conversation`` (the
# Context API) still rejects both shapes; ``validate_conversation_with_tools`` takes them.


def _extra_fields_digest(m: Mapping[str, Any], i: int) -> bytes:
    """Marker byte + 16-byte digest per optional field, in a fixed order: ``n`` name,
    ``c`` tool calls, ``i`` tool call id. Markers differ from the role bytes, so the
    encoding of a transcript stays unambiguous."""
    out = b""
    name = m.get("name")
    if name:
        out += b"n" + _content_digest(name, f"messages[{i}].name")
    calls = m.get("tool_calls")
    if calls:
        blob = json.dumps(calls, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        out += (
            b"c"
            + hashlib.blake2b(_utf8(blob, f"messages[{i}].tool_calls"), digest_size=16).digest()
        )
    call_id = m.get("tool_call_id")
    if call_id is not None:
        out += b"i" + _content_digest(call_id, f"messages[{i}].tool_call_id")
    return out
