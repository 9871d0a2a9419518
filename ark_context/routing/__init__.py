"""Routing: conversation -> server-side state. See docs/architecture.md.

Modules: :mod:`.ops` (typed operations), :mod:`.flows` (pure decisions),
:mod:`.policies` (which plan a call takes), :mod:`.backend` (server-side state),
:mod:`.drivers` (sync and async execution), :mod:`.rules` (request and retry rules),
:mod:`.router` (``ContextRouter``) and :mod:`.streams`.

>>> from ark_context.routing import ContextRouter
>>> ContextRouter(model="ep-x", api_key="k", base_url="http://127.0.0.1:1/api/v3").mode
'session'
"""

from .router import ContextRouter
from .streams import AsyncRoutedStream, RoutedStream

__all__ = ["AsyncRoutedStream", "ContextRouter", "RoutedStream"]
