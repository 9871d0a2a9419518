"""Deterministic token counting used by the emulator (documented in the package docstring)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: Tokens added to every message on top of its text (role plus two delimiters).
MESSAGE_OVERHEAD = 3

_CJK = (
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f"  # bopomofo
    "\u3190-\u31ff"
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B..G
)
# One CJK character | a run of other word characters | one punctuation or symbol character.
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Tokens in ``text``: one per CJK character, word run, or punctuation character.

    >>> count_tokens("Hello, world! 你好")
    6
    """
    return len(_TOKEN_RE.findall(text))


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the joined ``text`` parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def message_tokens(message: Mapping[str, Any]) -> int:
    """Tokens of one message: ``MESSAGE_OVERHEAD`` plus the tokens of its text."""
    return MESSAGE_OVERHEAD + count_tokens(content_text(message.get("content")))


def truncate_tokens(text: str, limit: int) -> tuple[str, bool]:
    """The prefix of ``text`` holding at most ``limit`` tokens, and whether anything was cut.

    Whitespace after the last kept token is dropped when the text is cut.
    """
    if limit <= 0:
        return "", _TOKEN_RE.search(text) is not None
    end = -1
    for i, match in enumerate(_TOKEN_RE.finditer(text)):
        if i == limit:
            return text[:end], True
        end = match.end()
    return text, False


def split_pieces(text: str, per_piece: int = 1) -> list[str]:
    """Split ``text`` into stream pieces of ``per_piece`` tokens; their concatenation is ``text``.

    Each piece carries the whitespace before its tokens; trailing whitespace goes to the last.
    """
    pieces: list[str] = []
    start = 0
    count = 0
    for match in _TOKEN_RE.finditer(text):
        count += 1
        if count == per_piece:
            pieces.append(text[start : match.end()])
            start = match.end()
            count = 0
    if start < len(text):
        if pieces and count == 0:
            pieces[-1] += text[start:]
        else:
            pieces.append(text[start:])
    return pieces
