"""langchain-tests' standard integration suite for ChatArkContext on a Context-API model,
against the emulator on 127.0.0.1 (one per module).

Capabilities (``ArkCapabilities``) are the model's: its calls with tools go to plain
``/chat/completions`` (uncached, reported as ``bypassed`` / ``tools``), which takes function
tools; a Responses-API model runs the suite in ``test_standard_responses.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests

from ark_context.emulator import Emulator
from langchain_ark_context import ChatArkContext
from tests.langchain.capabilities import ArkCapabilities
from tests.langchain.scripted_model import instruction_follower

pytestmark = pytest.mark.integration


class TestChatArkContextIntegration(ArkCapabilities, ChatModelIntegrationTests):
    emu: Emulator

    @pytest.fixture(autouse=True)
    def _model_that_follows_prompts(self, shared_emulator: Emulator) -> Iterator[None]:
        """The emulator answers as a model that follows the suite's prompts (tool calls
        with the asked-for arguments, JSON with the asked-for keys)."""
        saved = shared_emulator.responder
        shared_emulator.responder = instruction_follower
        yield
        shared_emulator.responder = saved

    @pytest.fixture(autouse=True)
    def _use_emulator(self, shared_emulator: Emulator) -> None:
        self.emu = shared_emulator

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "ep-lc-standard", "api_key": "test-key", "base_url": self.emu.base_url}

    @property
    def model_override_value(self) -> str:
        return "ep-lc-override"

    @property
    def supported_usage_metadata_details(self) -> dict[Any, list[Any]]:
        return {"invoke": ["cache_read_input"], "stream": ["cache_read_input"]}

    def invoke_with_cache_read_input(self, *, stream: bool = False) -> AIMessage:
        """Two turns of one conversation: the second is served from the context (session
        mode: in auto mode the second turn creates the context, also read from cache)."""
        llm = ChatArkContext(**self.chat_model_params, mode="session")
        history: list[Any] = [SystemMessage("You answer briefly."), HumanMessage("Hello")]
        first = llm.invoke(history)
        history += [AIMessage(first.content), HumanMessage("And again?")]
        if stream:
            full: Any = None
            for chunk in llm.stream(history):
                full = chunk if full is None else full + chunk
            msg = AIMessage(
                content=full.content,
                usage_metadata=full.usage_metadata,
                response_metadata=full.response_metadata,
            )
        else:
            msg = llm.invoke(history)
        assert msg.response_metadata["context_outcome"] == "reused"
        assert msg.usage_metadata is not None
        assert msg.usage_metadata["input_token_details"]["cache_read"] > 0
        return msg
