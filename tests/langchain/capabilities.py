"""What ChatArkContext declares to langchain-tests' standard suites (unit and integration),
per caching API, declared honestly:

- :class:`ArkCapabilities` (a Context-API model): tool calling and tool choice work, through
  plain ``/chat/completions`` (the Context API has no tools, so such a call is uncached);
  structured output too, by function calling (``with_structured_output``'s default). JSON
  mode is not declared: the Context API's models take no ``response_format`` on the
  Context API, and the plain path gives no JSON guarantee worth claiming. Text only.
- :class:`ResponsesCapabilities` (a Responses-API model): function tools, tool choice,
  structured output and JSON mode, in cached chains. Text only (images are out of scope).
"""

from __future__ import annotations

from langchain_ark_context import ChatArkContext


class ArkCapabilities:
    @property
    def chat_model_class(self) -> type[ChatArkContext]:
        return ChatArkContext

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

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


class ResponsesCapabilities(ArkCapabilities):
    @property
    def supports_json_mode(self) -> bool:
        return True
