"""The model -> caching API table (``ark_context.catalog``) and the checks built on it."""

from __future__ import annotations

from ark_context.catalog import (
    MODELS,
    ModelInfo,
    caching_api,
    is_endpoint_id,
    lookup,
    model_id_advice,
)


def test_every_model_has_a_known_api_and_its_api_modes() -> None:
    assert len(MODELS) >= 20
    for info in MODELS.values():
        assert info.api in ("context", "responses")
        assert info.modes
        allowed = {"session", "prefix"} if info.api == "responses" else {"session", "common_prefix"}
        assert set(info.modes) <= allowed, info.model_id
        if info.thinking_default is not None:
            assert info.thinking_default in info.thinking
        if info.reasoning_effort:
            assert info.api == "responses" and info.thinking


def test_the_spec_examples() -> None:
    assert caching_api("doubao-seed-1-6-250615") == "responses"
    assert caching_api("kimi-k2-thinking-251104") == "responses"
    assert caching_api("deepseek-v3-250324") == "context"
    r1 = lookup("deepseek-r1-250528")
    assert r1 is not None and r1.modes == ("common_prefix",)
    seed = lookup("doubao-seed-1-6-250615")
    assert seed is not None and seed.thinking == ("enabled", "disabled", "auto")
    assert not seed.reasoning_effort
    new = lookup("doubao-seed-1-6-251015")
    assert new is not None and new.reasoning_effort and new.structured_output
    lite = lookup("doubao-seed-1-6-lite-251015")
    assert lite is not None and not lite.structured_output
    ds = lookup("deepseek-v3-1-terminus")
    assert ds is not None and ds.thinking_default == "disabled"
    kimi = lookup("kimi-k2-250905")
    assert kimi is not None and kimi.thinking == ()  # "do not send it"


def test_prices_by_tier() -> None:
    seed = lookup("doubao-seed-1-6-251015")
    assert seed is not None and seed.prices is not None
    p = seed.prices
    assert p.input_price(1_000) == 0.80 and p.input_price(32_000) == 0.80
    assert p.input_price(32_001) == 1.20 and p.input_price(200_000) == 2.40
    assert p.output_price(1_000, 200) == 2.00 and p.output_price(1_000, 201) == 8.00
    assert p.output_price(50_000, 10) == 16.00
    assert p.cached_input == 0.16 and p.storage == 0.017
    ds = lookup("deepseek-v3-1-250821")
    assert ds is not None and ds.prices is not None
    assert ds.prices.input_price(10**6) == 4.00 and ds.prices.cached_input == 0.80
    pro = lookup("doubao-1-5-pro-32k-250115")
    assert pro is not None and pro.prices is not None
    assert (pro.prices.input_price(1), pro.prices.cached_input) == (0.80, 0.16)
    assert pro.prices.storage is None  # the Context API spec gives no storage figure


def test_every_model_id_of_the_spec_table_is_known() -> None:
    # Ark's model list (模型列表 → 上下文缓存能力): which models cache through which API
    responses = """deepseek-v3-2-251201 doubao-seed-code-preview-251028 doubao-seed-1-6-250615
    doubao-seed-1-6-251015 doubao-seed-1-6-lite-251015 doubao-seed-1-6-vision-250815
    doubao-seed-1-6-flash-250828 doubao-seed-1-6-flash-250715 doubao-seed-1-6-flash-250615
    doubao-seed-1-6-thinking-250715 doubao-seed-1-6-thinking-250615 kimi-k2-thinking-251104
    kimi-k2-250905 deepseek-v3-1-terminus deepseek-v3-1-250821 doubao-seed-1-8-251215"""
    context = """doubao-1-5-pro-32k-character-250715 doubao-1-5-pro-32k-character-250228
    doubao-1-5-pro-32k-250115 doubao-1-5-lite-32k-250115 deepseek-v3-250324 deepseek-r1-250528"""
    for ids, api in ((responses, "responses"), (context, "context")):
        for model_id in ids.split():
            assert caching_api(model_id) == api, model_id
    assert len(MODELS) == len(responses.split()) + len(context.split())


def test_endpoint_ids_and_unknown_names_need_a_setting() -> None:
    assert is_endpoint_id("ep-20250101000000-abcde")
    assert lookup("ep-20250101000000-abcde") is None
    assert caching_api("ep-20250101000000-abcde") is None
    assert caching_api("ep-20250101000000-abcde", override="responses") == "responses"
    assert caching_api("my-gateway-alias") is None
    mine = ModelInfo("ep-mine", "doubao-seed-1.6", "responses", ("session",))
    assert lookup("ep-mine", {"ep-mine": mine}) is mine
    assert caching_api("ep-mine", extra={"ep-mine": mine}) == "responses"
    # the override wins over the table
    assert caching_api("doubao-seed-1-6-250615", override="context") == "context"


def test_model_id_advice_says_what_to_pass() -> None:
    responses = model_id_advice("doubao-seed-1-6-250615")
    assert responses is not None
    assert "Responses API" in responses and "ep-" in responses and "caching_api" in responses
    context = model_id_advice("doubao-1-5-pro-32k-250115")
    assert context is not None and "endpoint ids" in context and "caching_api" in context
    assert model_id_advice("ep-123") is None
    assert model_id_advice("some-gateway-name") is None
    assert model_id_advice("doubao-seed-1-6-250615", api="responses") is None


def test_module_docstring_examples_run() -> None:
    import doctest
    import importlib

    for name in ("ark_context.catalog", "ark_context.extras", "ark_context._settings"):
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0 and result.attempted > 0, name


def test_every_model_has_consistent_token_limits() -> None:
    """Limits from the models' pages: a prompt and the longest answer fit the window."""
    for info in MODELS.values():
        limits = info.limits
        assert limits is not None, info.model_id
        assert 0 < limits.max_output < limits.max_input <= limits.context_window, info.model_id
        assert limits.max_input + limits.max_output <= limits.context_window, info.model_id
