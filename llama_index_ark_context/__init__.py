"""LlamaIndex integration for the Volcengine Ark Context API (server-side context caching).

>>> from llama_index_ark_context import ArkContextLLM
>>> ArkContextLLM(model="ep-123", api_key="k").metadata.is_function_calling_model
True
"""

try:
    from .base import ArkContextLLM
    from .usage import CachedTokenCounter, ModelTokenUsage
except ModuleNotFoundError as _exc:
    if not (_exc.name or "").startswith("llama_index"):
        raise
    from ark_context.extras import missing_extra

    raise missing_extra(_exc, "llama-index", "llama_index_ark_context") from _exc

__all__ = ["ArkContextLLM", "CachedTokenCounter", "ModelTokenUsage"]
