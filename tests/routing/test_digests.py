"""The digest chain's content cache: bounded, and it keeps the most recent texts."""

from __future__ import annotations

import pytest

from ark_context import _messages
from ark_context._messages import Chain, message_parts, wire_message


@pytest.fixture
def small_cache(monkeypatch):
    monkeypatch.setattr(_messages, "_content_cache", {})
    monkeypatch.setattr(_messages, "_cached_chars", 0)
    monkeypatch.setattr(_messages, "_CACHE_MAX_CHARS", 10 * (100 + _messages._CACHE_ENTRY_COST))
    return _messages


def test_cache_evicts_the_oldest_half_and_stays_bounded(small_cache):
    texts = [f"{i:03d}" + "x" * 97 for i in range(25)]
    for t in texts:
        small_cache._content_digest(t, "m")
        assert small_cache._cached_chars <= small_cache._CACHE_MAX_CHARS
    cached = list(small_cache._content_cache)
    assert texts[-1] in cached and texts[0] not in cached  # recent kept, oldest dropped
    assert 5 <= len(cached) <= 10
    assert small_cache._cached_chars == sum(len(t) + small_cache._CACHE_ENTRY_COST for t in cached)


@pytest.mark.parametrize("n", [3, 24, 25, 200])  # both the short loop and the map() path
def test_parts_and_digests_do_not_depend_on_the_path_or_chunking(n):
    msgs = [
        wire_message(
            ("system", "user", "assistant")[i % 3], f"text {i % 7}", "nm" if i % 5 == 0 else None
        )
        for i in range(n)
    ]
    every = Chain(b"ns").feed(msgs)
    one_by_one = Chain(b"ns")
    singles = [one_by_one.feed([m], [0])[0] for m in msgs]
    assert every == singles
    some = [i for i in range(n) if i % 3 == 2]
    assert Chain(b"ns").feed(msgs, some) == [every[i] for i in some]
    assert len(set(message_parts(msgs))) == len(
        {(m["role"], m["content"], m.get("name")) for m in msgs}
    )
