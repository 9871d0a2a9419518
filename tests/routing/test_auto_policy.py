"""The auto policy without sockets: its plans, its evidence, its settings and bad input."""

from __future__ import annotations

import pytest

from ark_context import ArkConfigError, ArkContextParams
from ark_context import wire_message as W
from ark_context.costs import Prices, prices_for
from ark_context.router import ContextRouter
from ark_context.routing.auto import AutoPolicy, estimate_tokens
from ark_context.routing.backend import CallSpec, ContextAPIBackend
from ark_context.routing.flows import digests_for
from ark_context.routing.policies import CallView, CreateSession, Plain, UsePrefix

from .fakes import Rig

SYSTEM = W("system", "You are the warehouse assistant. " * 20)
BASE = "http://127.0.0.1:9/api/v3"
REPLY = {"role": "assistant", "content": "reply"}


def view(rig: Rig, history):
    d = digests_for(rig.cfg, history)
    keys = rig.cfg.policy.evidence_keys(d)
    evidence = dict(zip(keys, rig.store.get_many(list(keys)), strict=True))
    return CallView(d, rig.clock(), (), None, evidence)


def test_calls_in_flight_count_as_sightings_of_a_new_prompt():
    rig = Rig(mode="auto", policy=AutoPolicy())
    plans = [rig.cfg.policy.decide(view(rig, [SYSTEM, W("user", f"q{i}")])) for i in range(3)]
    # nothing is in the store yet (no call has finished): the first is a one-off, the
    # concurrent ones behind the same prompt share a context
    shared = UsePrefix("prefix_repeats")
    assert plans == [Plain("one_off", "one_off"), shared, shared]


def test_a_plain_call_leaves_evidence_so_the_next_turn_gets_a_session():
    rig = Rig(mode="auto", policy=AutoPolicy())
    h = [SYSTEM, W("user", "hi")]
    reply, route = rig.chat(h)
    assert (route.outcome, route.decision, route.reason) == ("bypassed", "one_off", "one_off")
    h += [W("assistant", reply), W("user", "and then?")]
    plan = rig.cfg.policy.decide(view(rig, h))
    assert plan == CreateSession("new", "continues")
    reply, route = rig.chat(h)
    assert (route.outcome, route.decision) == ("created", "continues")
    assert rig.backend.creates == [h[:3]]
    h += [W("assistant", reply), W("user", "more")]
    _, route = rig.chat(h)
    assert (route.outcome, route.decision) == ("reused", "continues")


def test_a_failed_call_writes_no_evidence():
    policy = AutoPolicy()
    rig = Rig(mode="auto", policy=policy)
    h = [SYSTEM, W("user", "hi")]
    v = view(rig, h)
    from ark_context._route_types import RouteInfo

    route = RouteInfo("bypassed", "one_off", None, "auto")
    assert policy.evidence(v, route, False, REPLY) == ()
    assert len(policy.evidence(v, route, True, REPLY)) == 3


def test_shared_contexts_are_common_prefix_and_sessions_carry_the_truncation():
    backend = ContextAPIBackend(
        model="ep-x",
        mode="auto",
        ttl=3600,
        truncation_strategy={"type": "rolling_tokens", "rolling_tokens": True},
        client_kwargs={},
    )
    call = CallSpec({})
    shared = backend._create_kwargs([SYSTEM], call, True)
    session = backend._create_kwargs([SYSTEM], call, False)
    assert (shared["mode"], shared["truncation_strategy"]) == ("common_prefix", None)
    assert (session["mode"], session["truncation_strategy"]["type"]) == (
        "session",
        "rolling_tokens",
    )


def test_estimate_tokens_grows_with_the_text():
    assert estimate_tokens([SYSTEM]) > estimate_tokens([W("user", "hi")]) > 0


# -- settings --------------------------------------------------------------------------------


def test_auto_is_the_default_with_a_one_hour_ttl():
    p = ArkContextParams(model="ep-1", api_key="k")
    assert (p.mode, p.ttl) == ("auto", None)
    r = ContextRouter.from_settings(p, api_key="k")
    assert (r.mode, r.ttl, r.policy.name) == ("auto", 3600, "auto")
    assert isinstance(r.policy, AutoPolicy) and r.policy.cost_model.ttl == 3600
    forced = ContextRouter.from_settings(
        ArkContextParams(model="ep-1", mode="session"), api_key="k"
    )
    assert (forced.ttl, forced.policy.name) == (86400, "session")
    long = ContextRouter(model="ep-1", api_key="k", base_url=BASE, ttl=7200)
    assert (long.ttl, long.policy.cost_model.ttl) == (7200, 7200)


def test_prices_are_a_setting_that_reaches_the_cost_model():
    p = ArkContextParams(model="ep-1", api_key="k", prices={"cached_ratio": 0.1, "input": 1.0})
    r = ContextRouter.from_settings(p, api_key="k")
    prices = r.policy.cost_model.prices
    assert (prices.cached_ratio, prices.input, prices.output) == (0.1, 1.0, 2.0)
    assert (
        ContextRouter(
            model="ep-1", api_key="k", base_url=BASE, prices=Prices(input=2.0)
        ).prices.input
        == 2.0
    )


def test_catalog_prices_are_the_default_for_a_known_model():
    seed = prices_for("doubao-seed-1-6-250615")
    assert (seed.input, seed.cached_ratio, seed.output) == (0.8, 0.2, 8.0)
    assert prices_for("ep-20250101-abc") == Prices()
    assert prices_for("doubao-seed-1-6-250615", {"input": 1.6}).cached_ratio == 0.2


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"mode": "sesion"}, "mode must be one of 'auto', 'session', 'common_prefix'"),
        ({"mode": "AUTO"}, "mode must be one of"),
        ({"prices": {"cached_ratio": 1.5}}, "prices.cached_ratio must be >= 0 and <= 1"),
        ({"prices": {"input": -1}}, "prices.input must be >= 0"),
        ({"prices": {"inptu": 1.0}}, "prices has unknown keys ['inptu']"),
        ({"prices": "cheap"}, "prices must be a Prices or a mapping"),
    ],
)
def test_bad_mode_and_prices_name_the_setting(settings, names):
    with pytest.raises(ArkConfigError) as info:
        ArkContextParams(model="ep-1", api_key="k", **settings)
    assert names in str(info.value)


def test_the_router_checks_mode_and_prices_too():
    with pytest.raises(ArkConfigError, match="mode must be one of"):
        ContextRouter(model="ep-1", api_key="k", base_url=BASE, mode="cache")
    with pytest.raises(ArkConfigError, match=r"prices\.storage_per_hour"):
        ContextRouter(model="ep-1", api_key="k", base_url=BASE, prices={"storage_per_hour": -2})


def test_auto_takes_a_truncation_strategy_for_its_session_contexts():
    p = ArkContextParams(model="ep-1", api_key="k", truncation_strategy={"type": "rolling_tokens"})
    assert p.mode == "auto"
    with pytest.raises(ArkConfigError, match="only supported in session mode"):
        ArkContextParams(
            model="ep-1", mode="common_prefix", truncation_strategy={"type": "rolling_tokens"}
        )


# -- Responses API: when a plain call starts a chain instead -----------------------------------

SEED_16 = "doubao-seed-1-6-251015"


def test_a_chain_start_needs_evidence_that_it_will_be_continued():
    from ark_context.adaptive import CallFacts, GroupStats, NamespaceStats
    from ark_context.costs import CostModel
    from ark_context.routing.auto import chain_start_pays

    hour = CostModel(prices_for(SEED_16), ttl=3600)
    first = CallFacts(prefix_tokens=300, history_tokens=300)
    # nothing seen yet: a chain would be a bet on storage; one-shot calls seen: no
    assert not chain_start_pays(first, GroupStats(), hour, NamespaceStats())
    assert not chain_start_pays(first, GroupStats(), hour, NamespaceStats(firsts=6))
    # first calls that went on: storage for an hour (0.017 / 0.80 per token) is worth it
    chats = NamespaceStats(firsts=2, first_continued=2)
    assert chain_start_pays(first, GroupStats(), hour, chats)
    # held for a day, the same cache costs 24 hours: it takes a surer continuation
    day = CostModel(prices_for(SEED_16), ttl=86400)
    assert not chain_start_pays(
        first, GroupStats(), day, NamespaceStats(firsts=4, first_continued=1)
    )
    assert chain_start_pays(first, GroupStats(), day, NamespaceStats(firsts=4, first_continued=4))
    # earlier turns that extend nothing seen (a trimmed window): never
    slid = CallFacts(prefix_tokens=300, history_tokens=900, has_history=True)
    assert not chain_start_pays(slid, GroupStats(calls=5), hour, chats)
    # a transcript seen answered goes on: a chain pays
    goes_on = CallFacts(prefix_tokens=300, history_tokens=900, has_history=True, continues=True)
    assert chain_start_pays(goes_on, GroupStats(calls=1, continued=1, deep=1), hour, chats)


def test_namespace_evidence_counts_first_calls_and_their_continuations():
    rig = Rig(mode="auto", policy=AutoPolicy())
    h = [SYSTEM, W("user", "hi")]
    reply, _ = rig.chat(h)
    rig.chat([*h, W("assistant", reply), W("user", "more")])
    from ark_context.adaptive import Evidence

    d = digests_for(rig.cfg, h)
    keys = Evidence.keys(d.namespace, d.prefix_key or d.namespace, [])
    ns = Evidence.parse(rig.store.get_many(keys)).namespace
    assert (ns.firsts, ns.first_continued, ns.histories) == (1, 1, 1)


def test_auto_on_the_responses_api_starts_chains_only_where_first_calls_go_on():
    """The prefix guard turns auto's plain first calls into chains (a first turn is billed
    as a plain call) only once first calls in the namespace were seen continued: a chain
    that is never continued pays storage until its expire_at for nothing."""
    from ark_context.costs import CostModel
    from ark_context.routing.responses_router import _PrefixGuard

    rig = Rig(mode="auto", policy=AutoPolicy(CostModel(prices_for(SEED_16), ttl=3600)))
    guard = _PrefixGuard(rig.cfg.policy, 1025)
    # one-shot calls, each behind its own prompt (retrieved text in the system message)
    for i in range(3):
        h = [W("system", f"Answer from note {i}: " + "fact " * 80), W("user", "q")]
        assert guard.decide(view(rig, h)) == Plain("one_off", "one_off")
        rig.chat(h)
    # a conversation: its first turn stays plain, its second starts the chain
    h = [W("system", "You are the travel planner. " * 20), W("user", "hi")]
    assert guard.decide(view(rig, h)) == Plain("one_off", "one_off")
    reply, _ = rig.chat(h)
    h += [W("assistant", reply), W("user", "and then?")]
    assert isinstance(guard.decide(view(rig, h)), CreateSession)
    rig.chat(h)
    # now first calls are seen to go on (1 of 4): a new conversation starts at once
    other = [W("system", "You are the garden helper. " * 20), W("user", "hello")]
    assert guard.decide(view(rig, other)) == CreateSession("new", "one_off")
    # a history without a system prompt whose earlier turns extend nothing seen
    rewritten = [W("user", "old"), W("assistant", "never said"), W("user", "next")]
    assert guard.decide(view(rig, rewritten)) == Plain("no_prefix", "no_prefix")


def test_the_prefix_guard_asks_the_policy_protocol_whether_a_plain_call_starts_a_chain():
    """``starts_chain`` is part of :class:`RoutingPolicy`: the guard calls it for every
    policy (no duck typing), session starts a chain wherever its first turn is free,
    common_prefix never does, and a custom policy's answer is taken as given."""
    from ark_context.routing.policies import CommonPrefixPolicy, SessionPolicy
    from ark_context.routing.responses_router import _PrefixGuard

    rig = Rig(mode="session", policy=SessionPolicy())
    first = [W("user", "hi")]  # no system prompt, no reply: session's ``no_prefix``
    assert SessionPolicy().starts_chain(view(rig, first), 0.0)
    assert not CommonPrefixPolicy().starts_chain(view(rig, first), 1.0)
    assert _PrefixGuard(SessionPolicy(), 1025).decide(view(rig, first)) == CreateSession("new")

    class NeverChains(SessionPolicy):
        def starts_chain(self, view: CallView, first_prior: float) -> bool:
            return False

    assert _PrefixGuard(NeverChains(), 1025).decide(view(rig, first)) == Plain("no_prefix")


def test_a_chain_start_is_billed_at_least_one_started_hour_of_storage():
    """Responses storage is billed per started hour: a 10-minute ttl still costs an hour,
    so a 1% chance of a continuation (worth 0.008 of a token) does not pay for it (0.021)."""
    from ark_context.adaptive import CallFacts, GroupStats, NamespaceStats
    from ark_context.costs import CostModel
    from ark_context.routing.auto import chain_start_pays

    first = CallFacts(prefix_tokens=300, history_tokens=300)
    rare = NamespaceStats(firsts=100, first_continued=1)
    for ttl in (600, 3600):
        assert not chain_start_pays(
            first, GroupStats(), CostModel(prices_for(SEED_16), ttl=ttl), rare
        )
    assert chain_start_pays(
        first,
        GroupStats(),
        CostModel(prices_for(SEED_16), ttl=600),
        NamespaceStats(2, 0, 0, 0, 10, 1),
    )
