"""LangChain integration for Volcengine Ark's Context API.

``ChatArkContext`` is imported on first use, so ``import langchain_ark_context`` stays
as cheap as ``import langchain_core.language_models``.

>>> from langchain_ark_context import ChatArkContext
>>> ChatArkContext(model="ep-demo", api_key="k").mode
'auto'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chat_models import ChatArkContext

__all__ = ["ChatArkContext"]


def __getattr__(name: str) -> Any:
    if name == "ChatArkContext":
        try:
            from .chat_models import ChatArkContext
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("langchain_core"):
                raise
            from ark_context.extras import missing_extra

            raise missing_extra(exc, "langchain", "ChatArkContext") from exc

        return ChatArkContext
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
