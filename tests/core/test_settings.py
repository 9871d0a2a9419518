"""ArkContextParams: the one configuration object both adapters inherit."""

from __future__ import annotations

import pytest

from ark_context import ArkConfigError, ArkContextParams


def test_env_fallbacks(monkeypatch):
    monkeypatch.setenv("ARK_API_KEY", "env-key-123")
    monkeypatch.setenv("ARK_BASE_URL", "http://127.0.0.1:9/api/v3/")
    monkeypatch.setenv("ARK_MODEL", "ep-env")
    p = ArkContextParams()
    assert p.ark_secret() == "env-key-123"
    assert p.base_url == "http://127.0.0.1:9/api/v3"
    assert p.model == "ep-env"
    assert "env-key-123" not in repr(p) and "env-key-123" not in str(p)


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("ARK_API_KEY", raising=False)
    with pytest.raises(ArkConfigError, match="ARK_API_KEY"):
        ArkContextParams(model="ep").ark_secret()


def test_missing_model_names_the_setting(monkeypatch):
    monkeypatch.delenv("ARK_MODEL", raising=False)
    with pytest.raises(ArkConfigError, match="ARK_MODEL"):
        ArkContextParams(api_key="k").ark_router()


@pytest.mark.parametrize("ttl", [0, 3599, 604801, "soon", 3600.5])
def test_ttl_out_of_range(ttl):
    with pytest.raises(ValueError, match="ttl"):
        ArkContextParams(model="ep", api_key="k", ttl=ttl)


def test_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        ArkContextParams(model="ep", api_key="k", mode="prefix")


def test_truncation_needs_session_mode():
    with pytest.raises(ValueError, match="only supported in session mode"):
        ArkContextParams(
            model="ep",
            api_key="k",
            mode="common_prefix",
            truncation_strategy={"type": "last_history_tokens", "last_history_tokens": 100},
        )
    with pytest.raises(ValueError, match=r"truncation_strategy\.type"):
        ArkContextParams(model="ep", api_key="k", truncation_strategy={"type": "nope"})


def test_base_url_without_scheme():
    with pytest.raises(ValueError, match="ARK_BASE_URL"):
        ArkContextParams(model="ep", api_key="k", base_url="ark.cn-beijing.volces.com/api/v3")


def test_unknown_kwargs_raise_and_model_kwargs_is_the_way_to_send_them():
    with pytest.raises(ArkConfigError, match=r"unknown keyword argument 'seed'\..*model_kwargs"):
        ArkContextParams(model="ep", api_key="k", seed=7)
    p = ArkContextParams(model="ep", api_key="k", model_kwargs={"seed": 7})
    assert p.ark_sampling_params() == {"seed": 7}


def test_sampling_params_only_set_fields_and_overrides():
    p = ArkContextParams(model="ep", api_key="k", temperature=0.3, max_tokens=50)
    assert p.ark_sampling_params(stop=["x"], top_p=None, max_tokens=9) == {
        "temperature": 0.3,
        "max_tokens": 9,
        "stop": ["x"],
    }


@pytest.mark.parametrize("name", ["tools", "response_format", "thinking"])
def test_tool_and_format_fields_pass_through_to_the_router(name):
    # The router decides (plain call on the Context API, converted on the Responses API).
    p = ArkContextParams(model="ep", api_key="k", model_kwargs={name: {"type": "x"}})
    assert p.ark_sampling_params()[name] == {"type": "x"}
    assert ArkContextParams(model="ep", api_key="k").ark_sampling_params(**{name: {"x": 1}}) == {
        name: {"x": 1}
    }


def test_empty_stop_list_means_no_stop_strings():
    p = ArkContextParams(model="ep", api_key="k", stop=["END"])
    assert p.ark_sampling_params() == {"stop": ["END"]}
    assert p.ark_sampling_params(stop=[]) == {}


def test_routers_are_built_once_per_model_and_rebuilt_when_settings_change():
    p = ArkContextParams(model="ep-1", api_key="k", base_url="http://127.0.0.1:9/api/v3")
    first = p.ark_router()
    assert p.ark_router() is first and first.model == "ep-1"
    other = p.ark_router("ep-2")
    assert other is not first and other.model == "ep-2" and p.ark_router("ep-2") is other
    p.ttl = 7200
    assert p.ark_router() is not first and p.ark_router().ttl == 7200
