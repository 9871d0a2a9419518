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
from typing import Any

from ._exceptions import ArkInputError, ArkUnsupportedError

__all__ = [
    "ROLES",
    "WireMessage",
    "digest_chain",
    "extend_digest",
    "key_fingerprint",
    "namespace_digest",
    "trailing_turn_start",
    "validate_conversation",
    "wire_message",
]

WireMessage = dict[str, str]
ROLES = frozenset({"system", "user", "assistant"})
_ROLE_BYTES = {"system": b"s", "user": b"u", "assistant": b"a"}
_UNSUPPORTED_ROLES = frozenset({"tool", "function", "ipython"})
_TOOLS_HINT = "The Ark Context API does not support tools or function calling."

# content str -> 16-byte digest of its UTF-8 bytes. Bounded; a hit skips both the
# UTF-8 validation and the hashing of long texts the caller passes on every turn.
_CACHE_MIN_LEN = 256
_CACHE_MAX_CHARS = 64_000_000
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
    if len(text) < _CACHE_MIN_LEN:
        return hashlib.blake2b(_utf8(text, where), digest_size=16).digest()
    d = _content_cache.get(text)
    if d is None:
        d = hashlib.blake2b(_utf8(text, where), digest_size=16).digest()
        if _cached_chars + len(text) > _CACHE_MAX_CHARS:
            _content_cache.clear()
            _cached_chars = 0
        _content_cache[text] = d
        _cached_chars += len(text)
    return d


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
                    f"{where} has a content block of type {kind!r}; the Ark Context API is text only. "
                    "Send text blocks or a string."
                )
            raise ArkUnsupportedError(
                f"{where} has a content block of type {type(block).__name__}; "
                "the Ark Context API is text only."
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
    if messages[-1]["role"] == "assistant":
        raise ArkInputError(
            "The conversation ends with an assistant message; the Ark Context API needs a "
            "user (or system) message last. Append the next user turn."
        )


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


def digest_chain(namespace: bytes, messages: Sequence[Mapping[str, str]]) -> list[bytes]:
    """``h[i]`` = digest of ``messages[: i + 1]`` within ``namespace`` (16 bytes each)."""
    out: list[bytes] = []
    h = namespace
    blake = hashlib.blake2b
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = _ROLE_BYTES.get(m["role"], b"?")
        name = m.get("name")
        part = h + role + _content_digest(m["content"], where)
        if name:
            part += b"n" + _content_digest(name, where)
        h = blake(part, digest_size=16).digest()
        out.append(h)
    return out


def extend_digest(h: bytes, message: Mapping[str, str]) -> bytes:
    """The chain digest after appending ``message`` to the transcript whose digest is ``h``."""
    return digest_chain(h, [message])[0]


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
