"""Token estimates without a tokenizer (Ark publishes none): one place for the rule that
CJK text takes about a token per character, where other text takes about four
characters a token. Ark's ``usage`` has the exact counts; these guide decisions made
before a call (framework token counters, whether a prompt is long enough for a prefix
cache).

>>> cjk_chars("Hello, 世界"), estimate_text_tokens("Hello, 世界")
(2, 4)
"""

from __future__ import annotations

import math
import re

__all__ = ["CJK", "cjk_chars", "cjk_extra_tokens", "estimate_text_tokens"]

#: Kana, CJK ideographs and Hangul, as a regex character-class body.
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_CHARS = re.compile(rf"[{CJK}]")


def cjk_chars(text: str) -> int:
    """How many CJK characters ``text`` holds."""
    return len(_CJK_CHARS.findall(text))


def cjk_extra_tokens(text: str) -> float:
    """What to add to a four-characters-a-token estimate of ``text`` so that each CJK
    character counts as a whole token."""
    return 0.75 * cjk_chars(text)


def estimate_text_tokens(text: str) -> int:
    """About four characters a token, and a whole token per CJK character."""
    return math.ceil(len(text) / 4 + cjk_extra_tokens(text))
