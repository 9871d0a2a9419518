"""What ChatArkContext declares to langchain-tests' standard suites (unit and integration).

Declared honestly: the Ark Context API has no tools, no structured output, no JSON mode,
and is text only."""

from __future__ import annotations

from langchain_ark_context import ChatArkContext


class ArkCapabilities:
    @property
    def chat_model_class(self) -> type[ChatArkContext]:
        return ChatArkContext

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_tool_choice(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_pdf_inputs(self) -> bool:
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return False

    @property
    def supports_video_inputs(self) -> bool:
        return False

    @property
    def supports_anthropic_inputs(self) -> bool:
        return False

    @property
    def supports_image_tool_message(self) -> bool:
        return False

    @property
    def supports_pdf_tool_message(self) -> bool:
        return False
