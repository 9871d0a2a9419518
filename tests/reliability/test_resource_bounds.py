"""Long-running processes must not collect resources per event loop or per thread."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

import pytest

from ark_context import InMemoryStore
from ark_context import wire_message as W
from ark_context.router import ContextRouter
from ark_context.stores import SQLiteStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc"),
]


def _fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def test_asyncio_run_per_call_does_not_leak_pools(emu):
    r = ContextRouter(
        model="ep", api_key="k-bounds", base_url=emu.base_url, store=InMemoryStore(),
        mode="common_prefix",
    )  # fmt: skip
    h = [W("system", "s"), W("user", "u")]
    asyncio.run(r.achat(h))
    before = _fds()
    for _ in range(40):
        asyncio.run(r.achat(h))
    assert _fds() - before <= 15  # was ~2 per call (80) before closed loops were pruned


def test_sqlite_store_closes_connections_of_finished_threads(tmp_path):
    store = SQLiteStore(tmp_path / "bounds.db")
    store.get_many([b"k" * 16])
    before = _fds()
    for _ in range(100):
        t = threading.Thread(target=store.get_many, args=([b"k" * 16],))
        t.start()
        t.join()
    assert _fds() - before <= 6
    store.close()
