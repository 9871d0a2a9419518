"""The demo's arithmetic (ark_context_app.costs) and its backend choice (no sockets here)."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

from ark_context import ArkAuthenticationError, ArkConfigError, ArkContextBusyError
from ark_context_app.backend import Backend, error_hint, is_fatal, open_backend
from ark_context_app.costs import (
    PRICE_CACHED_INPUT,
    PRICE_INPUT,
    Totals,
    TurnStats,
    input_cost,
)
from ark_context_app.streaming import resend_bytes


def test_prices_are_the_documented_ones() -> None:
    assert (PRICE_INPUT, PRICE_CACHED_INPUT) == (0.80, 0.16)
    assert input_cost(1_000_000) == pytest.approx(0.80)
    assert input_cost(0, cached=1_000_000) == pytest.approx(0.16)
    assert input_cost(0, created=500_000) == pytest.approx(0.40)


def test_totals_compare_with_full_resend() -> None:
    turns = [
        TurnStats(1, prompt_tokens=300, cached_tokens=270, create_tokens=270),
        TurnStats(2, prompt_tokens=400, cached_tokens=380),
        TurnStats(3, prompt_tokens=500, cached_tokens=480),
    ]
    tot = Totals.of(turns)
    assert (tot.turns, tot.prompt_tokens, tot.cached_tokens) == (3, 1200, 1130)
    assert tot.uncached_tokens == 70
    assert tot.full_price_tokens == 70 + 270
    assert tot.baseline_cost == pytest.approx(1200 * 0.80 / 1e6)
    assert tot.cost == pytest.approx((340 * 0.80 + 1130 * 0.16) / 1e6)
    assert tot.savings_pct == pytest.approx(100 * (1 - tot.cost / tot.baseline_cost))


def test_a_single_created_turn_costs_more_than_a_plain_call() -> None:
    # creating the context bills the system prompt once at full price, then reads it cached
    tot = Totals.of([TurnStats(1, prompt_tokens=300, cached_tokens=270, create_tokens=270)])
    assert tot.savings_pct < 0


def test_empty_totals_do_not_divide_by_zero() -> None:
    tot = Totals.of([])
    assert (tot.cost, tot.baseline_cost, tot.savings_pct, tot.hit_pct) == (0, 0, 0, 0)
    assert TurnStats(1, 0, 0).hit_pct == 0


def test_turn_stats_from_adapter_metadata() -> None:
    meta = {
        "prompt_tokens": 61,
        "cached_tokens": 51,
        "completion_tokens": 20,
        "context_create_tokens": 0,
        "request_bytes": 182,
        "context_outcome": "reused",
        "context_miss_reason": None,
        "context_id": "ctx-1",
    }
    t = TurnStats.from_metadata(2, meta, latency_s=0.1, resend_bytes=900)
    assert (t.prompt_tokens, t.cached_tokens, t.uncached_tokens) == (61, 51, 10)
    assert t.context_label == "reused"
    assert round(t.hit_pct) == 84
    created = TurnStats.from_metadata(
        1, {"context_outcome": "created", "context_miss_reason": "new"}
    )
    assert created.context_label == "created (new)"
    # junk values (a server or framework that sent something odd) count as zero
    junk = TurnStats.from_metadata(1, {"prompt_tokens": "12", "cached_tokens": True})
    assert (junk.prompt_tokens, junk.cached_tokens, junk.context_label) == (0, 0, "-")


def test_resend_bytes_is_the_compact_utf8_json_body() -> None:
    messages = [{"role": "user", "content": "你好"}]
    expected = '{"model":"ep-1","messages":[{"role":"user","content":"你好"}],"stream":true}'
    assert resend_bytes("ep-1", messages, stream=True) == len(expected.encode())


def test_real_service_needs_key_and_model() -> None:
    env = {"ARK_API_KEY": "sk-1", "ARK_BASE_URL": "https://gw.example/api/v3"}
    with open_backend("ep-9", environ=env) as b:
        assert not b.is_emulator
        assert b.settings() == {
            "model": "ep-9",
            "api_key": "sk-1",
            "base_url": "https://gw.example/api/v3",
        }
        assert "sk-1" not in repr(b) and "sk-1" not in b.describe()
    with open_backend(None, environ={"ARK_API_KEY": "sk-1", "ARK_MODEL": "ep-env"}) as b:
        assert b.model == "ep-env" and b.base_url is None


def test_model_without_key_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ArkConfigError, match="ARK_API_KEY"), open_backend("ep-9", environ={}):
        pass


def test_backend_repr_hides_the_key() -> None:
    assert "sk-secret" not in repr(Backend(model="ep", api_key="sk-secret", base_url=None))


def test_fatal_errors_and_hints() -> None:
    auth = ArkAuthenticationError("bad key", status_code=401)
    busy = ArkContextBusyError("busy", status_code=403)
    assert is_fatal(auth) and is_fatal(ArkConfigError("x"))
    assert not is_fatal(busy)
    hint = error_hint(auth)
    assert hint is not None and "ARK_API_KEY" in hint


def test_importing_the_app_layer_imports_no_framework() -> None:
    # (rich is not checked: httpx imports it for its own CLI whenever it is installed)
    code = (
        "import sys, ark_context_app.demo, ark_context_app.chat, ark_context_app.cli;"
        "bad = [m for m in ('langchain_core', 'llama_index', 'langchain_ark_context', 'starlette', 'uvicorn')"
        " if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "module",
    ["costs", "render", "backend", "streaming", "script"],
)
def test_app_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"ark_context_app.{module}"))
    assert result.failed == 0 and result.attempted > 0
