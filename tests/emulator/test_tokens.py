"""The emulator's documented token counting rule, reply truncation and stream splitting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ark_context.emulator import MESSAGE_OVERHEAD, count_tokens, message_tokens
from ark_context.emulator._tokens import split_pieces, truncate_tokens


def test_each_cjk_character_is_one_token():
    assert count_tokens("你好世界") == 4
    assert count_tokens("こんにちは") == 5
    assert count_tokens("안녕") == 2


def test_words_and_punctuation():
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("don't stop_me 42") == 5  # don ' t stop_me 42
    assert count_tokens("   ") == 0
    assert count_tokens("") == 0


def test_mixed_text_and_full_width_punctuation():
    # 你是李雷 , 你只会说 “ 我是李雷 ” -> 4+1+4+1+4+1
    assert count_tokens("你是李雷,你只会说“我是李雷”") == 15
    assert count_tokens("abc你好def。") == 5


def test_message_overhead_matches_the_seed_example():
    # seed 001: this system message makes a create cost 18 prompt tokens
    msg = {"role": "system", "content": "你是李雷,你只会说“我是李雷”"}
    assert MESSAGE_OVERHEAD == 3
    assert message_tokens(msg) == 18


def test_text_parts_are_counted():
    msg = {
        "role": "user",
        "content": [{"type": "text", "text": "a b"}, {"type": "text", "text": "c"}],
    }
    assert message_tokens(msg) == MESSAGE_OVERHEAD + 3


def test_truncate_keeps_exactly_n_tokens():
    assert truncate_tokens("one two three four", 2) == ("one two", True)
    assert truncate_tokens("one two", 2) == ("one two", False)
    assert truncate_tokens("one two", 0) == ("", True)
    assert truncate_tokens("", 0) == ("", False)
    assert truncate_tokens("你好世界", 3) == ("你好世", True)


def test_split_pieces_one_token_each():
    assert split_pieces("hi there, 你好") == ["hi", " there", ",", " 你", "好"]
    assert split_pieces("a b c d e", 2) == ["a b", " c d", " e"]
    assert split_pieces("") == []
    assert split_pieces("  ") == ["  "]
    assert split_pieces("end  ") == ["end  "]


@given(st.text(max_size=200), st.integers(min_value=1, max_value=5))
def test_split_pieces_concatenate_to_the_text(text: str, per: int):
    pieces = split_pieces(text, per)
    assert "".join(pieces) == text
    assert all(count_tokens(p) <= per for p in pieces)


@given(st.text(max_size=200), st.integers(min_value=0, max_value=50))
def test_truncation_is_a_prefix_within_budget(text: str, limit: int):
    out, cut = truncate_tokens(text, limit)
    assert text.startswith(out)
    assert count_tokens(out) == min(limit, count_tokens(text))
    assert cut == (count_tokens(text) > limit)
