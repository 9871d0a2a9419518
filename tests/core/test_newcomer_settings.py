"""What a new user meets first: unknown and foreign keyword arguments, secret-looking
values, Model IDs where endpoint ids belong, base URL hints, runtime field docs."""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any

import pytest

from ark_context import ArkConfigError, ArkContextParams
from ark_context._validation import base_url_advice, check_base_url, looks_secret

SECRET = "sk-newcomer-0123456789"


def _classes() -> list[type[Any]]:
    from langchain_ark_context import ChatArkContext
    from llama_index_ark_context import ArkContextLLM

    return [ChatArkContext, ArkContextLLM]


@pytest.fixture(autouse=True)
def _own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets other tests registered (the registry is process-wide) stay out of these
    messages' way."""
    from ark_context import _exceptions

    monkeypatch.setattr(_exceptions, "_SECRETS", set())


@pytest.fixture(params=["langchain", "llama_index"])
def cls(request: pytest.FixtureRequest) -> type[Any]:
    return _classes()[0 if request.param == "langchain" else 1]


@pytest.mark.parametrize(
    "name,suggestion",
    [
        ("openai_api_base", "base_url"),
        ("api_base", "base_url"),
        ("ark_api_key", "api_key"),
        ("openai_api_key", "api_key"),
        ("temprature", "temperature"),
        ("max_token", "max_tokens"),
        ("model_name", "model"),
        ("request_timeout", "timeout"),
        ("trunction_strategy", "truncation_strategy"),
    ],
)
def test_unknown_kwargs_raise_with_did_you_mean(cls: type[Any], name: str, suggestion: str) -> None:
    with pytest.raises(ArkConfigError) as info:
        cls(model="ep-1", api_key="k", **{name: SECRET})
    msg = str(info.value)
    assert f"{name!r} (did you mean {suggestion}?)" in msg
    assert SECRET not in msg
    passthrough = "model_kwargs" if cls.__name__ == "ChatArkContext" else "additional_kwargs"
    assert f"{passthrough}={{...}}" in msg


def test_a_name_with_no_near_miss_is_named_without_a_guess(cls: type[Any]) -> None:
    with pytest.raises(ArkConfigError, match=r"'zzz_unrelated'\. Fix the name"):
        cls(model="ep-1", api_key="k", zzz_unrelated=1)


def test_secret_passed_under_a_wrong_name_never_shows_later(
    cls: type[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ArkConfigError):
        cls(model="ep-1", ark_api_key=SECRET)
    # registered as a secret: any later error that would echo it is scrubbed
    from ark_context._exceptions import redact

    assert SECRET not in redact(f"server said {SECRET}")
    assert SECRET not in caplog.text


def test_secret_looking_passthrough_values_are_hidden_from_repr(cls: type[Any]) -> None:
    extra = "model_kwargs" if cls.__name__ == "ChatArkContext" else "additional_kwargs"
    m = cls(
        model="ep-1",
        api_key="k",
        default_headers={"Authorization": f"Bearer {SECRET}", "X-Trace": "visible"},
        **{extra: {"x_api_key": SECRET, "seed": 5}},
    )
    text = repr(m) + str(m)
    assert SECRET not in text
    assert "visible" in repr(ArkContextParams(model="ep", default_headers={"X-Trace": "visible"}))
    # the values themselves are still sent
    assert m.model_kwargs["x_api_key"] == SECRET and m.ark_sampling_params()["seed"] == 5


@pytest.mark.parametrize(
    "name,secret",
    [
        ("api_key", True),
        ("ark_api_key", True),
        ("Authorization", True),
        ("X-Api-Key", True),
        ("access_token", True),
        ("client_secret", True),
        ("max_tokens", False),
        ("top_logprobs", False),
        ("seed", False),
        ("stop", False),
    ],
)
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_responses_model_id_uses_the_responses_api_without_a_warning(cls: type[Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        llm = cls(model="doubao-seed-1-6-250615", api_key="k")
    assert llm.ark_caching_api() == "responses"
    forced = cls(model="doubao-seed-1-6-250615", api_key="k", caching_api="context")
    assert forced.ark_caching_api() == "context"


def test_context_model_id_warns_that_endpoint_ids_are_needed(cls: type[Any]) -> None:
    with pytest.warns(UserWarning, match="takes endpoint ids"):
        cls(model="doubao-1-5-pro-32k-250115", api_key="k")


def test_gateways_that_take_names_silence_the_check(cls: type[Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cls(model="doubao-1-5-pro-32k-250115", api_key="k", caching_api="context")
        cls(model="ep-20250101000000-abcde", api_key="k")
        cls(model="my-gateway-alias", api_key="k")


def test_base_url_ending_in_an_endpoint_path_says_drop_it() -> None:
    with pytest.raises(ArkConfigError, match=r"drop it \(base_url='https://gw\.example/api/v3'\)"):
        check_base_url("https://gw.example/api/v3/chat/completions")
    with pytest.raises(ArkConfigError, match="'/context/create'"):
        check_base_url("https://gw.example/api/v3/context/create/")


def test_official_host_without_api_v3_says_add_it(cls: type[Any]) -> None:
    with pytest.raises(ArkConfigError, match="add /api/v3") as info:
        cls(model="ep-1", api_key="k", base_url="https://ark.cn-beijing.volces.com")
    assert "https://ark.cn-beijing.volces.com/api/v3" in str(info.value)
    # a gateway may use another path: accepted, the hint comes with the first failure
    assert check_base_url("https://gateway.example/v1") == "https://gateway.example/v1"


def test_base_url_advice_on_a_failure() -> None:
    advice = base_url_advice("https://gateway.example/context/create")
    assert "add /api/v3" in advice and "'https://gateway.example/api/v3'" in advice
    assert base_url_advice("https://x.example/api/v3/chat/completions") == (
        "Check base_url / ARK_BASE_URL."
    )


def test_every_field_is_documented_at_runtime(cls: type[Any]) -> None:
    ours = set(ArkContextParams.model_fields) | {"context_window", "streaming"}
    for name, field in cls.model_fields.items():
        if name in ours:
            assert field.description, f"{cls.__name__}.{name} has no description"
    doc = inspect.getdoc(cls) or ""
    assert doc  # the class docstring (help() shows it and the field descriptions' source)


def test_signature_defaults_are_accurate(cls: type[Any]) -> None:
    sig = inspect.signature(cls)
    assert sig.parameters["base_url"].default == "https://ark.cn-beijing.volces.com/api/v3"
    assert sig.parameters["model"].default == ""
    assert sig.parameters["model_kwargs"].default == {}
    assert "ContextStore" in str(sig.parameters["store"].annotation)


def test_base_url_env_applies_only_when_not_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARK_BASE_URL", "http://127.0.0.1:9/api/v3")
    assert ArkContextParams(model="ep").base_url == "http://127.0.0.1:9/api/v3"
    official = "https://ark.cn-beijing.volces.com/api/v3"
    assert ArkContextParams(model="ep", base_url=official).base_url == official


def test_store_must_be_a_context_store() -> None:
    with pytest.raises(ArkConfigError, match="store"):
        ArkContextParams(model="ep", store=object())


def test_help_explains_every_field(cls: type[Any]) -> None:
    import pydoc

    text = " ".join(pydoc.render_doc(cls, renderer=pydoc.plaintext).split())
    own = [
        *ArkContextParams.model_fields,
        "streaming" if "Chat" in cls.__name__ else "context_window",
    ]
    for name in own:
        description = " ".join((cls.model_fields[name].description or "").split())
        assert description and description in text, name
    assert "caching_api: Literal['auto', 'context', 'responses'] = 'auto'" in text
