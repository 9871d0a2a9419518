"""ark_context: Volcengine Ark's Context API (server-side context caching), routed.

>>> import ark_context
>>> ark_context.wire_message("user", "hi")
{'role': 'user', 'content': 'hi'}
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names resolve on first use (PEP 562): ``import ark_context`` stays cheap, and a
# process that only needs the emulator or the stores never builds the wire models.
_LAZY: dict[str, str] = {
    "DEFAULT_BASE_URL": "._client",
    "ArkContextClient": "._client",
    "AsyncArkContextClient": "._client",
    "ArkAPIError": "._exceptions",
    "ArkAuthenticationError": "._exceptions",
    "ArkBadRequestError": "._exceptions",
    "ArkCachingRuleError": "._exceptions",
    "ArkResponseGoneError": "._exceptions",
    "ArkResponseIncompleteError": "._exceptions",
    "ArkUnsupportedFieldError": "._exceptions",
    "ArkConfigError": "._exceptions",
    "ArkConnectionError": "._exceptions",
    "ArkContextBusyError": "._exceptions",
    "ArkContextGoneError": "._exceptions",
    "ArkContextOverflowError": "._exceptions",
    "ArkError": "._exceptions",
    "ArkInputError": "._exceptions",
    "ArkPermissionError": "._exceptions",
    "ArkProtocolError": "._exceptions",
    "ArkRateLimitError": "._exceptions",
    "ArkServerError": "._exceptions",
    "ArkStreamError": "._exceptions",
    "ArkTimeoutError": "._exceptions",
    "ArkUnsupportedError": "._exceptions",
    "ArkNotFoundError": "._exceptions",
    "WireMessage": "._messages",
    "validate_conversation": "._messages",
    "wire_message": "._messages",
    "ChatCompletion": "._models",
    "ChatCompletionChunk": "._models",
    "ContextInfo": "._models",
    "DeletedResponse": "._responses_models",
    "InputItemList": "._responses_models",
    "Response": "._responses_models",
    "ResponseEvent": "._responses_models",
    "ResponseUsage": "._responses_models",
    "ResponseCreateParams": "._responses_api",
    "Responses": "._responses_api",
    "AsyncResponseStream": "._responses_stream",
    "ResponseStream": "._responses_stream",
    "check_prefix_tokens": "._responses_requests",
    "Usage": "._models",
    "MissReason": "._route_types",
    "Outcome": "._route_types",
    "RoutedCompletion": "._route_types",
    "RouteInfo": "._route_types",
    "ArkContextParams": "._settings",
    "ArkRouter": "._adapter_seam",
    "ArkStream": "._adapter_seam",
    "AsyncArkStream": "._adapter_seam",
    "ContextRouter": ".routing",
    "ContextStore": ".stores",
    "Entry": ".stores",
    "InMemoryStore": ".stores",
}

if TYPE_CHECKING:
    from ._adapter_seam import ArkRouter, ArkStream, AsyncArkStream
    from ._client import DEFAULT_BASE_URL, ArkContextClient, AsyncArkContextClient
    from ._exceptions import (
        ArkAPIError,
        ArkAuthenticationError,
        ArkBadRequestError,
        ArkCachingRuleError,
        ArkConfigError,
        ArkConnectionError,
        ArkContextBusyError,
        ArkContextGoneError,
        ArkContextOverflowError,
        ArkError,
        ArkInputError,
        ArkNotFoundError,
        ArkPermissionError,
        ArkProtocolError,
        ArkRateLimitError,
        ArkResponseGoneError,
        ArkResponseIncompleteError,
        ArkServerError,
        ArkStreamError,
        ArkTimeoutError,
        ArkUnsupportedError,
        ArkUnsupportedFieldError,
    )
    from ._messages import WireMessage, validate_conversation, wire_message
    from ._models import ChatCompletion, ChatCompletionChunk, ContextInfo, Usage
    from ._responses_api import ResponseCreateParams, Responses
    from ._responses_models import (
        DeletedResponse,
        InputItemList,
        Response,
        ResponseEvent,
        ResponseUsage,
    )
    from ._responses_requests import check_prefix_tokens
    from ._responses_stream import AsyncResponseStream, ResponseStream
    from ._route_types import MissReason, Outcome, RoutedCompletion, RouteInfo
    from ._settings import ArkContextParams
    from .routing import ContextRouter
    from .stores import ContextStore, Entry, InMemoryStore


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ark_context' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_BASE_URL",
    "ArkAPIError",
    "ArkAuthenticationError",
    "ArkBadRequestError",
    "ArkCachingRuleError",
    "ArkConfigError",
    "ArkConnectionError",
    "ArkContextBusyError",
    "ArkContextClient",
    "ArkContextGoneError",
    "ArkContextOverflowError",
    "ArkContextParams",
    "ArkError",
    "ArkInputError",
    "ArkNotFoundError",
    "ArkPermissionError",
    "ArkProtocolError",
    "ArkRateLimitError",
    "ArkResponseGoneError",
    "ArkResponseIncompleteError",
    "ArkRouter",
    "ArkServerError",
    "ArkStream",
    "ArkStreamError",
    "ArkTimeoutError",
    "ArkUnsupportedError",
    "ArkUnsupportedFieldError",
    "AsyncArkContextClient",
    "AsyncArkStream",
    "AsyncResponseStream",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ContextInfo",
    "ContextRouter",
    "ContextStore",
    "DeletedResponse",
    "Entry",
    "InMemoryStore",
    "InputItemList",
    "MissReason",
    "Outcome",
    "Response",
    "ResponseCreateParams",
    "ResponseEvent",
    "ResponseStream",
    "ResponseUsage",
    "Responses",
    "RouteInfo",
    "RoutedCompletion",
    "Usage",
    "WireMessage",
    "__version__",
    "check_prefix_tokens",
    "validate_conversation",
    "wire_message",
]
