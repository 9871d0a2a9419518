"""Models built on ArkContextParams survive deepcopy and pickle (frameworks do both)."""

from __future__ import annotations

import copy
import pickle

import pytest

from ark_context import ArkContextParams, InMemoryStore


@pytest.mark.parametrize(
    "factory",
    [
        lambda **kw: ArkContextParams(**kw),
        lambda **kw: __import__("langchain_ark_context").ChatArkContext(**kw),
        lambda **kw: __import__("llama_index_ark_context").ArkContextLLM(**kw),
    ],
    ids=["params", "langchain", "llama_index"],
)
def test_deepcopy_and_pickle_keep_settings_and_share_the_store(factory):
    store = InMemoryStore()
    m = factory(model="ep-1", api_key="copy-key-123", temperature=0.5, store=store)
    router = m.ark_router()
    clone = copy.deepcopy(m)
    assert clone.temperature == 0.5 and clone.store is store
    assert clone.ark_router() is router  # same settings: the router (and its pools) is shared
    m2 = factory(model="ep-1", api_key="copy-key-123")
    m2.ark_router()
    restored = pickle.loads(pickle.dumps(m2))
    assert restored.model == "ep-1"
    assert restored.ark_secret() == "copy-key-123"
    rebuilt = restored.ark_router()  # the router cache is not pickled: a fresh one, same settings
    assert rebuilt is not m2.ark_router() and repr(rebuilt) == repr(m2.ark_router())
