"""Several app servers (routers with their own clients) sharing one SQLite or Redis store:
a conversation continues on whichever server gets the next turn, and concurrent turns
never share a context. Every call is checked against the emulator's record."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid

import pytest

from ark_context import ArkContextClient, AsyncArkContextClient, InMemoryStore
from ark_context import wire_message as W
from ark_context.router import ContextRouter
from ark_context.stores import RedisStore, SQLiteStore
from tests.invariant import assert_served_exactly, new_request_id

pytestmark = pytest.mark.integration

KEY = "fleet-key-0001"


@pytest.fixture(params=["sqlite", "redis"])
def store_factory(request, tmp_path):
    """A factory of store handles that all see the same data (one per 'server')."""
    if request.param == "sqlite":
        path = tmp_path / "contexts.db"
        made = []

        def make():
            s = SQLiteStore(path)
            made.append(s)
            return s

        yield make
        for s in made:
            s.close()
    else:
        server = request.getfixturevalue("redis_server")
        prefix = f"t{uuid.uuid4().hex[:8]}:"
        made = []

        def make():
            s = RedisStore(server.url, prefix=prefix)
            made.append(s)
            return s

        yield make
        for s in made:
            s.close()


def server(emu, store) -> ContextRouter:
    async def no_sleep(_s: float) -> None:
        return None

    return ContextRouter(
        model="ep-fleet",
        mode="session",  # one session context shared by a fleet
        api_key=KEY,
        base_url=emu.base_url,
        store=store,
        client=ArkContextClient(api_key=KEY, base_url=emu.base_url, share_pool=False),
        async_client=AsyncArkContextClient(api_key=KEY, base_url=emu.base_url, sleep=no_sleep),
        sleep=lambda s: None,
        async_sleep=no_sleep,
    )


def test_turns_alternate_between_servers_on_one_context(emu, store_factory):
    servers = [server(emu, store_factory()) for _ in range(3)]
    h = [W("system", "You are shared."), W("user", "turn 0")]
    contexts = set()
    for turn, r in zip(range(6), itertools.cycle(servers)):
        rid = new_request_id("fleet")
        rc = r.chat(h, request_id=rid)
        assert_served_exactly(emu, rid, h)
        assert rc.route.outcome == ("created" if turn == 0 else "reused")
        contexts.add(rc.route.context_id)
        h += [W("assistant", rc.text), W("user", f"turn {turn + 1}")]
    assert len(contexts) == 1


def test_concurrent_turns_on_two_servers_never_share_a_context(emu, store_factory):
    a, b = server(emu, store_factory()), server(emu, store_factory())
    h = [W("system", "race"), W("user", "start")]
    first = a.chat(h)
    h.append(W("assistant", first.text))
    emu.inject_fault("/context/chat/completions", "latency", seconds=0.3)
    routes, errors = [], []

    def go(r: ContextRouter, text: str) -> None:
        conv = [*h, W("user", text)]
        rid = new_request_id("race")
        try:
            routes.append(r.chat(conv, request_id=rid).route)
            assert_served_exactly(emu, rid, conv)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(r, t)) for r, t in ((a, "left"), (b, "right"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(r.outcome for r in routes) == ["created", "reused"]
    assert [r.reason for r in routes if r.outcome == "created"] == ["busy"]
    assert not [x for x in emu.records() if x.get("error") == "OperationDenied.InvalidState"]


async def test_async_servers_share_the_store(emu, store_factory):
    a, b = server(emu, store_factory()), server(emu, store_factory())
    h = [W("system", "async fleet"), W("user", "one")]
    rc = await a.achat(h)
    h += [W("assistant", rc.text), W("user", "two")]
    rid = new_request_id("afleet")
    rc2 = await b.achat(h, request_id=rid)
    assert rc2.route.outcome == "reused" and rc2.route.context_id == rc.route.context_id
    assert_served_exactly(emu, rid, h)
    await asyncio.sleep(0)


def test_evicted_entries_are_reported_as_evicted(emu):
    store = InMemoryStore(max_entries=4)
    r = server(emu, store)
    h = [W("system", "short memory"), W("user", "keep me")]
    rc = r.chat(h)
    h += [W("assistant", rc.text), W("user", "still there?")]
    for i in range(40):  # other conversations push this one out of the LRU
        r.chat([W("system", f"other {i}"), W("user", "hi")])
    rid = new_request_id("evict")
    rc = r.chat(h, request_id=rid)
    assert (rc.route.outcome, rc.route.reason) == ("created", "evicted")
    assert_served_exactly(emu, rid, h)
