"""The once-per-key shared create (common_prefix): threads, tasks, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

from ark_context import wire_message as W
from ark_context.routing.drivers import KeyedLocks

from .fakes import Rig


def test_threads_create_one_shared_context():
    rig = Rig(mode="common_prefix")
    entered = threading.Event()

    def slow_create() -> None:
        entered.set()
        time.sleep(0.05)  # every other thread arrives while the first one creates

    rig.backend.create_hook = slow_create
    sys = W("system", "one prefix for all threads")
    routes: list[object] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            routes.append(rig.chat([sys, W("user", f"q{i}")])[1])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(rig.backend.creates) == 1
    assert sorted(r.outcome for r in routes) == ["created", *["reused"] * 7]
    assert len({r.context_id for r in routes}) == 1
    assert len(rig.locks) == 0  # no lock outlives its holders and waiters


def test_keyed_locks_give_one_lock_per_key_while_referenced():
    locks: KeyedLocks[threading.Lock] = KeyedLocks(threading.Lock)
    a = locks.ref(b"k")
    b = locks.ref(b"k")
    assert a is b and locks.ref(b"other") is not a and len(locks) == 2
    locks.unref(b"k")
    assert locks.ref(b"k") is a  # still referenced once: the same lock
    for key in (b"k", b"k", b"other"):
        locks.unref(key)
    assert len(locks) == 0


def gated(rig: Rig) -> asyncio.Event:
    """Hold every async create until the returned event is set."""
    gate = asyncio.Event()

    async def held_create() -> None:
        await gate.wait()

    rig.backend.acreate_hook = held_create
    return gate


async def test_tasks_create_one_shared_context():
    rig = Rig(mode="common_prefix")
    gate = gated(rig)
    sys = W("system", "one prefix for all tasks")
    tasks = [asyncio.create_task(rig.achat([sys, W("user", f"q{i}")])) for i in range(6)]
    await asyncio.sleep(0.01)
    gate.set()
    routes = [r for _, r in await asyncio.gather(*tasks)]
    assert len(rig.backend.creates) == 1
    assert sorted(r.outcome for r in routes) == ["created", *["reused"] * 5]
    assert len(rig.alocks.current()) == 0


async def test_cancelled_creator_neither_cancels_waiters_nor_doubles_the_create():
    rig = Rig(mode="common_prefix")
    gate = gated(rig)
    sys = W("system", "slow prefix")
    creator = asyncio.create_task(rig.achat([sys, W("user", "a")]))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(rig.achat([sys, W("user", "b")]))
    await asyncio.sleep(0.01)
    creator.cancel()
    await asyncio.sleep(0.01)
    gate.set()
    _, route = await waiter
    assert creator.cancelled() and not waiter.cancelled()
    assert len(rig.backend.creates) == 1 and route.context_id == "ctx-1"
    assert route.outcome == "reused"  # the creator's work, finished in its own task


async def test_failed_shared_create_releases_the_key():
    from ark_context._exceptions import ArkServerError

    rig = Rig(mode="common_prefix")
    rig.backend.create_faults = [ArkServerError("boom", status_code=500)]
    sys = W("system", "p")
    try:
        await rig.achat([sys, W("user", "a")])
    except ArkServerError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the create failure must reach the caller")
    _, route = await rig.achat([sys, W("user", "b")])
    assert route.outcome == "created" and len(rig.alocks.current()) == 0
