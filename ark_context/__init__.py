"""ark_context: Volcengine Ark's Context API (server-side context caching), routed.

>>> import ark_context
>>> ark_context.wire_message("user", "hi")
{'role': 'user', 'content': 'hi'}
"""

from ._client import DEFAULT_BASE_URL, ArkContextClient, AsyncArkContextClient
from ._exceptions import (
    ArkAPIError,
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkConfigError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkContextOverflowError,
    ArkError,
    ArkInputError,
    ArkPermissionError,
    ArkProtocolError,
    ArkRateLimitError,
    ArkServerError,
    ArkStreamError,
    ArkTimeoutError,
    ArkUnsupportedError,
)
from ._messages import WireMessage, validate_conversation, wire_message
from ._models import ChatCompletion, ChatCompletionChunk, ContextInfo, Usage
from ._route_types import MissReason, Outcome, RoutedCompletion, RouteInfo
from ._settings import ArkContextParams
from .stores import ContextStore, Entry, InMemoryStore

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "ArkAPIError",
    "ArkAuthenticationError",
    "ArkBadRequestError",
    "ArkConfigError",
    "ArkConnectionError",
    "ArkContextBusyError",
    "ArkContextClient",
    "ArkContextGoneError",
    "ArkContextOverflowError",
    "ArkContextParams",
    "ArkError",
    "ArkInputError",
    "ArkPermissionError",
    "ArkProtocolError",
    "ArkRateLimitError",
    "ArkServerError",
    "ArkStreamError",
    "ArkTimeoutError",
    "ArkUnsupportedError",
    "AsyncArkContextClient",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ContextInfo",
    "ContextStore",
    "Entry",
    "InMemoryStore",
    "MissReason",
    "Outcome",
    "RouteInfo",
    "RoutedCompletion",
    "Usage",
    "WireMessage",
    "__version__",
    "validate_conversation",
    "wire_message",
]
