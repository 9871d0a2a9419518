"""RedisStore against a real redis-server: the shared contract, TTLs, processes, async."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing as mp
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from ark_context import ArkConfigError
from ark_context.stores import Entry, RedisStore
from tests.redis_server import RedisServer
from tests.stores.contract import Harness, StoreContract, key

pytestmark = pytest.mark.integration


_prefixes = itertools.count()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_server.url)
    yield c
    c.close()


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    s = RedisStore(redis_server.url, prefix=f"t{next(_prefixes)}:")
    yield s
    await s.aclose()  # the test's event loop: async tests share it with this fixture
    s.close()


def redis_harness(store: RedisStore, client: redis.Redis) -> Harness:
    def expiry_of(k: bytes) -> float | None:
        ms = client.pexpiretime(store._key(k))
        return None if ms < 0 else ms / 1000.0

    def dump() -> bytes:
        parts = []
        for name in client.scan_iter(match=store.prefix + "*"):
            parts += [name, client.get(name) or b"", client.dump(name) or b""]
        return b"".join(parts)

    return Harness(store, time.time, expiry_of, dump, None, expiry_tolerance=0.001)


@pytest.fixture
def harness(store: RedisStore, client: redis.Redis) -> Harness:
    return redis_harness(store, client)


class TestRedisContract(StoreContract):
    race_keys = 100


def test_keys_get_a_ttl_from_expire_at(store: RedisStore, client: redis.Redis) -> None:
    now = time.time()
    store.apply(
        puts=[(key(1), Entry("a"), now + 3600), (key(2), Entry("b", "superseded"), now + 60)]
    )
    assert 3_590_000 < client.pttl(store._key(key(1))) <= 3_600_000
    assert 50_000 < client.pttl(store._key(key(2))) <= 60_000
    assert client.pexpiretime(store._key(key(1))) == int((now + 3600) * 1000)


def test_claim_keeps_the_ttl_and_the_value_format(store: RedisStore, client: redis.Redis) -> None:
    exp = time.time() + 600
    store.apply(puts=[(key(1), Entry("ctx-1", "live", 1700000000.5, 3600, key(2)), exp)])
    assert (
        client.get(store._key(key(1)))
        == f"live|3600|1700000000.500|{key(2).hex()}|0|ctx-1".encode()
    )
    store.claim(key(1))
    assert client.get(store._key(key(1))).startswith(b"claimed|3600|")
    assert client.pexpiretime(store._key(key(1))) == int(exp * 1000)


def test_keys_are_prefixed_hex_digests(store: RedisStore, client: redis.Redis) -> None:
    store.apply(puts=[(key(1), Entry("a"), time.time() + 60)])
    names = list(client.scan_iter(match=store.prefix + "*"))
    assert names == [(store.prefix + key(1).hex()).encode()]


def test_prefixes_isolate_stores(redis_server: RedisServer) -> None:
    a = RedisStore(redis_server.url, prefix="iso-a:")
    b = RedisStore(redis_server.url, prefix="iso-b:")
    a.apply(puts=[(key(1), Entry("a"), time.time() + 60)])
    assert b.get_many([key(1)]) == [None]
    assert b.claim(key(1)) is None
    assert a.claim(key(1)) == Entry("a")
    a.close()
    b.close()


def test_apply_is_one_transaction(store: RedisStore, client: redis.Redis) -> None:
    """Everything in one apply lands in one MULTI/EXEC: MONITOR shows them between."""
    store.apply(puts=[(key(1), Entry("warm"), time.time() + 60)])
    with client.monitor() as monitor:
        store.apply(
            puts=[(key(2), Entry("b"), time.time() + 60), (key(3), Entry("c"), time.time() + 60)],
            deletes=[key(1)],
        )
        commands = []
        for event in monitor.listen():
            commands.append(event["command"].split()[0].upper())
            if commands[-1] == "EXEC":
                break
    assert commands[-5:] == ["MULTI", "DEL", "SET", "SET", "EXEC"]


def test_user_supplied_clients_are_used_and_not_closed(redis_server: RedisServer) -> None:
    sync_client = redis.Redis.from_url(redis_server.url)
    s = RedisStore(prefix="own:", client=sync_client)
    s.apply(puts=[(key(1), Entry("a"), time.time() + 60)])
    s.close()
    assert sync_client.get(b"own:" + key(1).hex().encode()) is not None  # still usable

    async def go() -> None:
        async_client = redis.asyncio.Redis.from_url(redis_server.url)
        s2 = RedisStore(prefix="own:", client=sync_client, async_client=async_client)
        assert await s2.aclaim(key(1)) == Entry("a")
        await s2.aclose()
        assert await async_client.ping()
        await async_client.aclose()

    async def only_sync_client() -> None:
        s3 = RedisStore("redis://127.0.0.1:1/0", prefix="own:", client=sync_client)
        assert await s3.aget_many([key(1)]) == [Entry("a", "claimed")]  # not the url's server
        await s3.aapply(puts=[(key(2), Entry("b"), time.time() + 60)])
        assert await s3.aclaim(key(2)) == Entry("b")
        assert s3._async == {}

    asyncio.run(go())
    asyncio.run(only_sync_client())
    sync_client.close()


def test_one_async_client_per_event_loop(store: RedisStore) -> None:
    store.apply(puts=[(key(i), Entry(f"c{i}"), time.time() + 60) for i in range(3)])
    clients = []

    async def use(i: int) -> None:
        assert await store.aclaim(key(i)) == Entry(f"c{i}")
        assert (await store.aget_many([key(i)]))[0] == Entry(f"c{i}", "claimed")
        pair = store._aclient()
        assert pair is not None
        clients.append(pair[0])

    async def twice() -> None:
        await use(0)
        await use(1)

    asyncio.run(twice())
    asyncio.run(use(2))  # a new loop gets a new client; the closed loop's one is pruned
    assert clients[0] is clients[1] and clients[2] is not clients[0]
    assert len(store._async) == 1

    async def close() -> None:
        await use_and_close()

    async def use_and_close() -> None:
        await store.aget_many([key(0)])
        await store.aclose()
        assert store._async == {}

    asyncio.run(close())


def test_bad_settings_and_safe_repr() -> None:
    with pytest.raises(ArkConfigError, match="url"):
        RedisStore("localhost:6379")
    with pytest.raises(ArkConfigError, match="prefix"):
        RedisStore(prefix=b"x")  # type: ignore[arg-type]
    s = RedisStore("redis://user:s3cret-pw@127.0.0.1:1/0")
    assert "s3cret-pw" not in repr(s)
    s.close()
    with pytest.raises(ArkConfigError) as err:
        RedisStore("http://:s3cret-pw@127.0.0.1:1/0")
    assert "s3cret-pw" not in str(err.value)


# -- several processes --------------------------------------------------------------------

KEYS = 400


def _claimer(url: str, prefix: str, barrier: object, out: object) -> None:
    """Claim every key in order, with threads too: see ``tests.stores.contract.race_claims``."""
    store = RedisStore(url, prefix=prefix)
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    wins = []
    for i in range(KEYS):
        won = store.claim(key(i, 1))
        if won is not None:
            wins.append((i, won.context_id))
    out.put(wins)  # type: ignore[attr-defined]
    store.close()


@pytest.mark.parametrize(("start_method", "n"), [("fork", 4), ("spawn", 2)])
def test_processes_racing_claims_exactly_one_wins(
    redis_server: RedisServer, start_method: str, n: int
) -> None:
    prefix = f"procs-{start_method}:"
    s = RedisStore(redis_server.url, prefix=prefix)
    s.apply(puts=[(key(i, 1), Entry(f"ctx-{i}"), time.time() + 600) for i in range(KEYS)])
    ctx = mp.get_context(start_method)
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_claimer, args=(redis_server.url, prefix, barrier, out))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    wins = sorted(w for per_proc in results for w in per_proc)
    assert wins == [(i, f"ctx-{i}") for i in range(KEYS)]
    assert {e.state for e in s.get_many([key(i, 1) for i in range(KEYS)]) if e} == {"claimed"}
    s.close()


async def test_async_claims_race_sync_claims_from_threads(store: RedisStore) -> None:
    """Async and sync clients race on the same keys: each key is still won once."""
    keys = [key(i, 4) for i in range(50)]
    await store.aapply(puts=[(k, Entry(f"c{i}"), time.time() + 60) for i, k in enumerate(keys)])

    async def async_side() -> list[Entry | None]:
        return [await store.aclaim(k) for k in keys]

    sync_task = asyncio.to_thread(lambda: [store.claim(k) for k in keys])
    a, b = await asyncio.gather(async_side(), sync_task)
    for i in range(len(keys)):
        assert (a[i] is None) != (b[i] is None), i


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [(None, pytest.skip.Exception), ("", pytest.skip.Exception), ("true", pytest.fail.Exception)],
)
def test_missing_redis_server_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    import tests.redis_server as helper

    monkeypatch.setattr(helper.shutil, "which", lambda name: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="make system-deps"):
        helper.redis_server_or_skip()


def test_the_helper_starts_and_stops_a_server() -> None:
    with RedisServer.start() as server:
        c = redis.Redis.from_url(server.url)
        assert c.ping() is True
        assert c.config_get("save") == {"save": ""}
        assert c.config_get("bind")["bind"] == "127.0.0.1"
        c.close()
    assert server.process.poll() is not None
    assert not server.directory.exists()
