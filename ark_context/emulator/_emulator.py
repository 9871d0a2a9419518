"""The public :class:`Emulator`: both APIs' state and logic plus their ASGI app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ._context_model import DEFAULT_MAX_TOKENS, DEFAULT_MODEL_WINDOW
from ._core import EmulatorCore
from ._responder import Responder
from ._response_store import (
    CACHING_EXPIRE_MAX,
    EXPIRE_DEFAULT,
    EXPIRE_MAX,
    MAX_CHAIN_ITEMS,
    MAX_OUTPUT_TOKENS,
    PREFIX_MIN_TOKENS,
    RESPONSE_WINDOW,
)
from ._state import EmulatorState


class Emulator(EmulatorCore):
    """A local Ark Context API and Responses API: state, protocol logic and an ASGI app
    (``emu.app``). Settings are described in the package docstring.

    >>> emu = Emulator()
    >>> emu.create_context(model="ep-test", messages=[{"role": "system", "content": "Hi"}])[:4]
    'ctx-'
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        model_window: int = DEFAULT_MODEL_WINDOW,
        responder: Responder | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_tokens: int = 1,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        max_records: int = 10_000,
        response_window: int = RESPONSE_WINDOW,
        max_output_tokens: int = MAX_OUTPUT_TOKENS,
        expire_default: int = EXPIRE_DEFAULT,
        expire_max: int = EXPIRE_MAX,
        caching_expire_max: int = CACHING_EXPIRE_MAX,
        prefix_min_tokens: int = PREFIX_MIN_TOKENS,
        max_chain_items: int = MAX_CHAIN_ITEMS,
        chain_gap: float = 0.0,
    ) -> None:
        EmulatorState.__init__(
            self,
            api_keys=api_keys,
            responder=responder,
            clock=clock,
            sleep=sleep,
            latency=latency,
            chunk_delay=chunk_delay,
            chunk_tokens=chunk_tokens,
            max_records=max_records,
        )
        self._init_contexts(model_window, default_max_tokens)
        self._init_responses(
            response_window=response_window,
            max_output_tokens=max_output_tokens,
            expire_default=expire_default,
            expire_max=expire_max,
            caching_expire_max=caching_expire_max,
            prefix_min_tokens=prefix_min_tokens,
            max_chain_items=max_chain_items,
            chain_gap=chain_gap,
        )
        self._app: Any = None
        #: Set by ``run_emulator`` while served over a socket.
        self.base_url: str | None = None
        #: ``http://host:port`` (admin endpoints live under ``/_emulator``) while served.
        self.root_url: str | None = None

    @property
    def app(self) -> Any:
        """The ASGI app, API under ``/api/v3``, admin under ``/_emulator``."""
        if self._app is None:
            try:
                from ._app import build_app  # starlette: the 'emulator' extra
            except ModuleNotFoundError as exc:
                from ._errors import missing_emulator_extra

                raise missing_emulator_extra(exc) from exc
            self._app = build_app(self)
        return self._app
