"""The cost model (ark_context.costs) and the auto decision (ark_context.adaptive)."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest

from ark_context import ArkConfigError
from ark_context.adaptive import (
    CallFacts,
    Decision,
    GroupStats,
    NamespaceStats,
    answered_record,
    check_mode,
    decide,
    evidence_key,
    record_call,
)
from ark_context.costs import BilledUsage, CostModel, Prices, billed_usage
from ark_context.stores import InMemoryStore

NO_STORAGE = CostModel(Prices(storage_per_hour=0.0), ttl=3600)


# -- prices and bills ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"input": -1}, "prices.input"),
        ({"output": float("nan")}, "prices.output"),
        ({"cached_ratio": 1.01}, "prices.cached_ratio"),
        ({"cached_ratio": True}, "prices.cached_ratio"),
        ({"storage_per_hour": "0.017"}, "prices.storage_per_hour"),
    ],
)
def test_invalid_prices_name_the_setting(kwargs: dict[str, object], setting: str) -> None:
    with pytest.raises(ArkConfigError, match=setting.replace(".", r"\.")):
        Prices(**kwargs)  # type: ignore[arg-type]


def test_prices_coerce_from_a_mapping_and_name_the_setting() -> None:
    assert Prices.coerce({"input": 4.0}).cached_input == pytest.approx(0.8)
    assert Prices.coerce(None) is Prices.coerce(None)
    with pytest.raises(ArkConfigError, match=r"ark_prices has unknown keys \['cache'\]"):
        Prices.coerce({"cache": 0.1}, "ark_prices")
    with pytest.raises(ArkConfigError, match=r"ark_prices\.input must"):
        Prices.coerce({"input": -2}, "ark_prices")
    with pytest.raises(ArkConfigError, match="must be a Prices"):
        Prices.coerce(0.8)
    with pytest.raises(ArkConfigError, match="ttl"):
        CostModel(ttl=0)


def test_billed_usage_adds_creation_on_top_of_the_prompt() -> None:
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1000},
    }
    b = billed_usage(usage, create_tokens=1000)
    assert (b.full_price_input, b.cached_input, b.creation, b.output) == (200, 1000, 1000, 80)
    assert b.input_tokens == 2200 and b.total_tokens == 2280
    # 0.8 CNY/M for 1200 full-price tokens, 0.16 for 1000 cached, 2.0 for 80 output
    assert b.cost_cny(Prices()) == pytest.approx((1200 * 0.8 + 1000 * 0.16 + 80 * 2.0) / 1e6)
    assert b.input_units(Prices()) == pytest.approx(1200 + 200)
    assert b.as_dict(Prices())["cost_cny"] == pytest.approx(b.cost_cny())


def test_billed_usage_tolerates_missing_and_odd_fields() -> None:
    assert billed_usage(None) == BilledUsage()
    # cached beyond the prompt is clamped; negative and bool counts are ignored
    odd = {
        "prompt_tokens": 10,
        "completion_tokens": -3,
        "prompt_tokens_details": {"cached_tokens": 50},
    }
    assert billed_usage(odd, create_tokens=True) == BilledUsage(0, 10, 0, 0)  # type: ignore[arg-type]


def test_totals_add_up() -> None:
    calls = [BilledUsage(10, 90, 0, 5), BilledUsage(100, 0, 100, 7)]
    total = sum(calls)
    assert isinstance(total, BilledUsage)
    assert (total.full_price_input, total.cached_input, total.creation, total.output) == (
        110,
        90,
        100,
        12,
    )
    assert total.calls == 2


def test_break_even_follows_the_price_ratio_and_storage() -> None:
    assert NO_STORAGE.break_even_reuses(1000) == pytest.approx(0.25)  # 0.2 / 0.8
    cheap = CostModel(Prices(cached_ratio=0.5, storage_per_hour=0.0), ttl=3600)
    assert cheap.break_even_reuses(1000) == pytest.approx(1.0)  # 0.5 / 0.5
    day = CostModel(Prices(), ttl=86400)  # 0.017 CNY/M/h for 24 h ~ 0.51 input tokens each
    assert day.storage_units(1000) == pytest.approx(1000 * 24 * 0.017 / 0.8)
    assert day.break_even_reuses(1000) == pytest.approx((200 + 510) / 800)
    assert math.isinf(CostModel(Prices(cached_ratio=1.0)).break_even_reuses(10))
    # a prefix already cached by a shared context makes a session context harder to justify
    assert NO_STORAGE.break_even_reuses(1000, served_otherwise=800) > NO_STORAGE.break_even_reuses(
        1000
    )
    assert not NO_STORAGE.creation_pays(0, 100.0)
    assert NO_STORAGE.creation_pays(1000, 0.3) and not NO_STORAGE.creation_pays(1000, 0.2)


# -- the decision -----------------------------------------------------------------------------


def test_a_live_session_hit_is_always_reused() -> None:
    d = decide(CallFacts(prefix_tokens=100, session_hit_tokens=5), GroupStats(), NO_STORAGE)
    assert d == Decision("reuse_session", "continues", 1.0)


def test_first_sight_is_plain_and_a_repeating_prefix_gets_a_shared_context() -> None:
    facts = CallFacts(prefix_tokens=300, history_tokens=300)
    assert decide(facts, GroupStats(), NO_STORAGE) == Decision("plain", "one_off")
    assert decide(facts, GroupStats(calls=1), NO_STORAGE).plan == "create_prefix"
    live = CallFacts(prefix_tokens=300, history_tokens=300, shared_live=True)
    assert decide(live, GroupStats(calls=9), NO_STORAGE).plan == "use_prefix"
    assert decide(CallFacts(history_tokens=50), GroupStats(calls=9), NO_STORAGE).reason == (
        "no_prefix"
    )


def test_a_prefix_whose_storage_outweighs_one_reuse_waits_for_more_evidence() -> None:
    pricey = CostModel(Prices(storage_per_hour=0.2), ttl=86400)  # storage 6 tokens per token
    facts = CallFacts(prefix_tokens=300)
    assert decide(facts, GroupStats(calls=1), pricey) == Decision("plain", "no_repeat", 1.0)
    assert decide(facts, GroupStats(calls=9), pricey).plan == "create_prefix"


def test_a_continuing_conversation_gets_a_session_unless_its_group_rarely_goes_on() -> None:
    chat = CallFacts(prefix_tokens=200, history_tokens=800, continues=True, has_history=True)
    assert decide(chat, GroupStats(calls=1), NO_STORAGE).plan == "create_session"
    # 40 conversations that each stopped right after their second call: p(again) ~ 1/42
    two_turns = GroupStats(calls=80, continued=40, deep=0)
    d = decide(chat, two_turns, NO_STORAGE)
    assert d.plan == "create_prefix" and d.reason == "prefix_repeats"
    assert decide(chat, two_turns, NO_STORAGE).expected_reuses == 80.0
    lonely = CallFacts(history_tokens=800, continues=True, has_history=True)
    assert decide(lonely, two_turns, NO_STORAGE) == Decision("plain", "no_repeat")
    no_prefix_seen = CallFacts(
        prefix_tokens=200, history_tokens=800, continues=True, has_history=True
    )
    assert decide(no_prefix_seen, GroupStats(continued=40), NO_STORAGE).reason == "no_repeat"


def test_a_sliding_window_never_gets_a_session_but_its_system_prompt_is_cached() -> None:
    slide = CallFacts(prefix_tokens=250, history_tokens=2000, has_history=True)
    stats = GroupStats(calls=6, rewritten=5)
    assert decide(slide, stats, NO_STORAGE).plan == "create_prefix"
    assert decide(slide, GroupStats(), NO_STORAGE) == Decision("plain", "window_slides")


def test_evidence_records_update_and_fit_every_store() -> None:
    now = time.time()
    facts = CallFacts(
        prefix_tokens=120, history_tokens=400, continues=True, depth=2, has_history=True
    )
    stats = record_call(
        GroupStats(calls=3, continued=1),
        facts,
        Decision("create_session", "continues"),
        now=now,
        prefix_tokens=118,
    )
    assert stats == GroupStats(4, 2, 1, 0, 1, 118, now)
    slid = record_call(
        stats, CallFacts(has_history=True), Decision("plain", "window_slides"), now=now + 1
    )
    assert (slid.rewritten, slid.prefix_tokens) == (1, 118)
    big = GroupStats(calls=255, continued=100, deep=50, rewritten=10, sessions=9)
    decayed = record_call(big, CallFacts(), Decision("plain", "one_off"), now=now)
    assert (decayed.calls, decayed.continued, decayed.deep, decayed.sessions) == (128, 50, 25, 4)

    store = InMemoryStore()
    gkey, akey = evidence_key("group", b"g" * 16), evidence_key("answered", b"t" * 16)
    assert len({gkey, akey, b"g" * 16}) == 3
    marker = answered_record(facts, tokens=530, now=now, ttl=3600)
    store.apply(puts=[(gkey, stats.to_entry(3600), now + 3600), (akey, marker, now + 3600)])
    got_group, got_marker = store.get_many([gkey, akey])
    assert GroupStats.from_entry(got_group) == stats
    assert got_marker is not None and got_marker.counters == (3,) and got_marker.tokens == 530
    assert not got_marker.context_id  # evidence holds no context and no text
    with pytest.raises(ValueError, match="evidence kind"):
        evidence_key("prefix", b"g" * 16)


def test_a_namespace_whose_prompts_rarely_repeat_waits_for_more_than_one_sighting() -> None:
    facts = CallFacts(prefix_tokens=350)
    template = NamespaceStats(calls=9, repeats=8)  # a fixed template: repeats are the rule
    rag = NamespaceStats(calls=9, repeats=1)  # retrieved text: prompts are mostly new
    assert decide(facts, GroupStats(calls=1), NO_STORAGE, template).plan == "create_prefix"
    no = decide(facts, GroupStats(calls=1), NO_STORAGE, rag)
    assert no == Decision("plain", "no_repeat", 0.2)
    assert decide(facts, GroupStats(calls=3), NO_STORAGE, rag).plan == "create_prefix"


def test_a_namespace_whose_histories_are_rewritten_does_not_trust_one_continuation() -> None:
    chat = CallFacts(prefix_tokens=300, history_tokens=1200, continues=True, has_history=True)
    rewritten = NamespaceStats(calls=10, histories=10, continued=0)
    d = decide(chat, GroupStats(calls=1), NO_STORAGE, rewritten)
    assert d.plan == "plain" and d.reason == "no_repeat"
    chats = NamespaceStats(calls=10, histories=10, continued=9)
    assert decide(chat, GroupStats(calls=1), NO_STORAGE, chats).plan == "create_session"


def test_a_first_call_gets_a_session_when_its_groups_first_calls_were_continued() -> None:
    first = CallFacts(prefix_tokens=300, history_tokens=300)
    # one earlier conversation of 8 calls: its first call was continued, then 6 more times
    chatty = GroupStats(calls=8, continued=7, deep=6)
    d = decide(
        first, chatty, NO_STORAGE, NamespaceStats(calls=8, repeats=7, histories=7, continued=7)
    )
    assert (d.plan, d.reason) == ("create_session", "group_continues")
    # one-offs after it: 1 of 3 first calls continued -> no longer a majority
    mixed = GroupStats(calls=10, continued=7, deep=6)
    assert decide(first, mixed, NO_STORAGE).plan == "create_prefix"
    assert decide(replace(first, shared_live=True), chatty, NO_STORAGE).plan == "use_prefix"


def test_namespace_stats_count_prefixed_calls_and_fit_a_store() -> None:
    ns = NamespaceStats()
    ns = ns.record(GroupStats(), CallFacts(prefix_tokens=10))
    ns = ns.record(
        GroupStats(calls=1), CallFacts(prefix_tokens=10, has_history=True, continues=True)
    )
    ns = ns.record(GroupStats(calls=5), CallFacts(has_history=True))  # no prefix: no repeat
    # one first call, and one call that continued a first call (depth 0)
    assert ns == NamespaceStats(
        calls=2, repeats=1, histories=2, continued=1, firsts=1, first_continued=1
    )
    assert NamespaceStats.from_entry(ns.to_entry(3600, 1.0)) == ns
    assert NamespaceStats.from_entry(None) == NamespaceStats()
    big = NamespaceStats(calls=255, repeats=200, histories=10, continued=5)
    assert big.record(GroupStats(calls=1), CallFacts(prefix_tokens=1)).calls == 128


def test_a_bill_reads_back_from_either_framework_shape() -> None:
    bill = billed_usage(
        {
            "prompt_tokens": 500,
            "completion_tokens": 60,
            "prompt_tokens_details": {"cached_tokens": 300},
        },
        create_tokens=120,
    )
    assert BilledUsage.from_mapping(bill.as_usage_metadata()) == bill  # LangChain
    assert BilledUsage.from_mapping(bill.as_ark_usage()) == bill  # LlamaIndex raw["usage"]
    # Ark's own usage (no creation field) reads as full-price + cached only
    plain = BilledUsage.from_mapping(
        {
            "prompt_tokens": 500,
            "completion_tokens": 60,
            "prompt_tokens_details": {"cached_tokens": 300},
        }
    )
    assert (plain.full_price_input, plain.cached_input, plain.creation) == (200, 300, 0)
    # inconsistent input never yields negative counts
    odd = BilledUsage.from_mapping(
        {"input_tokens": 10, "input_token_details": {"cache_read": 8, "cache_creation": 9}}
    )
    assert (odd.full_price_input, odd.cached_input, odd.creation) == (0, 1, 9)


@pytest.mark.parametrize("bad", ["sesion", "", None, "AUTO", 1])
def test_an_unknown_mode_names_the_setting(bad: object) -> None:
    with pytest.raises(ArkConfigError, match=r"^ark_mode must be one of 'auto', 'session'"):
        check_mode(bad, "ark_mode")
    assert [check_mode(m) for m in ("auto", "session", "common_prefix")] == [
        "auto",
        "session",
        "common_prefix",
    ]
