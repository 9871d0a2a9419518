"""LlamaIndex integration for the Volcengine Ark Context API (server-side context caching).

>>> from llama_index_ark_context import ArkContextLLM
>>> ArkContextLLM(model="ep-123", api_key="k").metadata.is_function_calling_model
False
"""

from .base import ArkContextLLM
from .usage import CachedTokenCounter, ModelTokenUsage

__all__ = ["ArkContextLLM", "CachedTokenCounter", "ModelTokenUsage"]
