"""Canonical wire messages and the digest chain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ark_context import ArkInputError, ArkUnsupportedError, validate_conversation, wire_message
from ark_context._messages import (
    Chain,
    digest_chain,
    key_fingerprint,
    namespace_digest,
    trailing_turn_start,
)

NS = namespace_digest(
    base_url="http://x/api/v3", model="ep", mode="session", truncation=None, api_key="k"
)


def test_text_blocks_flatten_to_the_same_wire_form():
    blocks = wire_message("user", [{"type": "text", "text": "a"}, "b", {"text": "c"}])
    assert blocks == wire_message("user", "abc") == {"role": "user", "content": "abc"}


def test_name_is_kept_and_changes_the_digest():
    a = wire_message("user", "hi", name="bob")
    assert a == {"role": "user", "content": "hi", "name": "bob"}
    assert digest_chain(NS, [a]) != digest_chain(NS, [wire_message("user", "hi")])


@pytest.mark.parametrize("role", ["tool", "function"])
def test_tool_roles_are_unsupported(role):
    with pytest.raises(ArkUnsupportedError, match="does not support tools"):
        wire_message(role, "x")
    assert issubclass(ArkUnsupportedError, NotImplementedError)


def test_non_text_block_is_unsupported():
    with pytest.raises(ArkUnsupportedError, match="text only"):
        wire_message("user", [{"type": "image_url", "image_url": {"url": "x"}}])


def test_unknown_role_and_bad_content():
    with pytest.raises(ArkInputError, match="role 'robot'"):
        wire_message("robot", "x")
    with pytest.raises(ArkInputError, match="content of type int"):
        wire_message("user", 5)


def test_validate_conversation_errors():
    with pytest.raises(ArkInputError, match="empty"):
        validate_conversation([])
    with pytest.raises(ArkInputError, match="ends with an assistant"):
        validate_conversation([wire_message("user", "a"), wire_message("assistant", "b")])
    with pytest.raises(ArkInputError, match="messages\\[0\\]"):
        validate_conversation([{"content": "x"}])  # type: ignore[list-item]


def test_lone_surrogate_is_a_clear_error():
    with pytest.raises(ArkInputError, match="cannot be encoded as UTF-8"):
        digest_chain(NS, [wire_message("user", "bad \ud800 text")])
    with pytest.raises(ArkInputError, match="surrogate"):
        digest_chain(NS, [wire_message("user", "x" * 300 + "\udfff")])  # cached path too


def test_namespace_separates_tenants_and_settings():
    base = {"base_url": "http://x/api/v3", "model": "ep", "mode": "session", "truncation": None}
    ns = {namespace_digest(**base, api_key=k) for k in ("k1", "k2")}  # type: ignore[arg-type]
    assert len(ns) == 2
    assert namespace_digest(**{**base, "mode": "common_prefix"}, api_key="k") != NS  # type: ignore[arg-type]
    assert key_fingerprint("secret-key").hex() not in "secret-key"


def test_running_chain_matches_digest_chain():
    msgs = [
        wire_message("system", "s"),
        wire_message("user", "u" * 300),
        wire_message("assistant", "a"),
    ]
    full = digest_chain(NS, msgs)
    c = Chain(NS)
    assert c.feed(msgs[:2], positions=[1]) == [full[1]]
    assert c.digest() == full[1]
    assert c.extended(msgs[2]) == full[2] and c.digest() == full[1]
    assert Chain(NS).feed(msgs, positions=[0, 2]) == [full[0], full[2]]


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ("s u", 1),
        ("u", 0),
        ("s", 1),
        ("s u a u", 3),
        ("s u a u u", 3),
        ("u a u", 2),
        ("s s u u", 2),
    ],
)
def test_trailing_turn_start(roles, expected):
    names = {"s": "system", "u": "user", "a": "assistant"}
    msgs = [wire_message(names[r], r) for r in roles.split()]
    assert trailing_turn_start(msgs) == expected


_role = st.sampled_from(["system", "user", "assistant"])
_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=400)
_msg = st.builds(wire_message, _role, _text, st.none() | st.sampled_from(["a", "b"]))


@given(st.lists(_msg, min_size=1, max_size=8), st.lists(_msg, min_size=1, max_size=8))
def test_digest_equal_iff_wire_equal(a, b):
    da, db = digest_chain(NS, a)[-1], digest_chain(NS, b)[-1]
    assert (da == db) == (a == b)


@given(st.lists(_msg, min_size=2, max_size=8))
def test_chain_is_prefix_consistent(msgs):
    full = digest_chain(NS, msgs)
    for i in range(len(msgs)):
        assert digest_chain(NS, msgs[: i + 1]) == full[: i + 1]


def test_fields_the_digest_does_not_cover_are_rejected():
    with pytest.raises(ArkInputError, match=r"field\(s\) \['foo'\]"):
        validate_conversation([{"role": "user", "content": "x", "foo": 1}])
    with pytest.raises(ArkInputError, match="name must be a string"):
        validate_conversation([{"role": "user", "content": "x", "name": 3}])
    validate_conversation([{"role": "user", "content": "x", "name": "bob"}])
