"""langchain-tests' standard unit suite for ChatArkContext (capabilities declared honestly:
the Ark Context API has no tools, no structured output, no JSON mode, text only)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.unit_tests import ChatModelUnitTests

from tests.langchain.capabilities import ArkCapabilities


class TestChatArkContextStandard(ArkCapabilities, ChatModelUnitTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "ep-standard", "base_url": "http://127.0.0.1:9/api/v3"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # The key must not be a word that error messages contain: the secret registry is
        # process-wide, so a key "api_key" would redact the field name in later tests.
        return (
            {"ARK_API_KEY": "sk-standard-env", "ARK_BASE_URL": "http://127.0.0.1:9/api/v3"},
            {"model": "ep-standard"},
            {"api_key": "sk-standard-env", "base_url": "http://127.0.0.1:9/api/v3"},
        )

    @pytest.mark.xfail(
        strict=True,
        reason=(
            "the dumpd() snapshot matches, but langchain-core's load(allowed_objects='all') "
            "only admits classes on langchain-core's built-in allowlist, which a third-party "
            "package cannot join; the round trip with allowed_objects=[ChatArkContext] is "
            "tested in tests/langchain/test_chat_model.py::test_serialization_round_trip"
        ),
    )
    def test_serdes(self, model: BaseChatModel, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)
