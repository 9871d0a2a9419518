"""Where the demo and the chat send their requests: the in-process emulator or real Ark.

The rule: with ``ARK_API_KEY`` set and an endpoint id (``--model ep-...`` or ``ARK_MODEL``),
requests go to Ark (``ARK_BASE_URL`` or the official Beijing URL); otherwise an emulator is
started in this process on a free loopback port. ``--emulator`` forces the emulator.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ark_context import (
    ArkAuthenticationError,
    ArkConfigError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextOverflowError,
    ArkError,
    ArkNotFoundError,
    ArkPermissionError,
    ArkProtocolError,
)

if TYPE_CHECKING:
    from ark_context.emulator import Emulator

__all__ = ["EMULATOR_MODEL", "Backend", "error_hint", "is_fatal", "open_backend"]

#: The endpoint id used against the emulator (any ``ep-...`` string works there).
EMULATOR_MODEL = "ep-demo"
_EMULATOR_KEY = "emulator-key"


@dataclass(frozen=True)
class Backend:
    """Connection settings for the adapters, plus the emulator when one is running.

    The API key is kept out of ``repr``.

    >>> b = Backend(model="ep-1", api_key="secret-key", base_url=None)
    >>> b.settings(), "secret" in repr(b)
    ({'model': 'ep-1', 'api_key': 'secret-key'}, False)
    """

    model: str
    api_key: str = field(repr=False)
    base_url: str | None
    emulator: Emulator | None = field(default=None, repr=False)
    note: str | None = None

    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None

    def describe(self) -> str:
        """One line for the user: which service, which endpoint."""
        if self.is_emulator:
            return f"local Ark emulator at {self.base_url} (no API key needed)"
        return (
            f"Volcengine Ark at {self.base_url or 'the official endpoint'}, endpoint {self.model}"
        )

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for ``ChatArkContext`` / ``ArkContextLLM``."""
        out: dict[str, Any] = {"model": self.model, "api_key": self.api_key}
        if self.base_url is not None:
            out["base_url"] = self.base_url
        return out


@contextlib.contextmanager
def open_backend(
    model: str | None = None,
    *,
    force_emulator: bool = False,
    environ: Mapping[str, str] | None = None,
    **emulator_options: Any,
) -> Iterator[Backend]:
    """Yield a :class:`Backend`; an emulator started here is stopped on exit.

    ``model`` is the ``--model`` option. Passing it without ``ARK_API_KEY`` is an
    :class:`~ark_context.ArkConfigError` (it asks for the real service).
    ``emulator_options`` go to :class:`~ark_context.emulator.Emulator`."""
    env = os.environ if environ is None else environ
    key = env.get("ARK_API_KEY") or ""
    endpoint = model or env.get("ARK_MODEL") or ""
    if not force_emulator and key and endpoint:
        yield Backend(model=endpoint, api_key=key, base_url=env.get("ARK_BASE_URL") or None)
        return
    note: str | None = None
    if not force_emulator:
        if model and not key:
            raise ArkConfigError(
                f"--model {model} asks for the real Ark service, but ARK_API_KEY is not set: "
                "export ARK_API_KEY=..., or pass --emulator to use the local emulator."
            )
        if key and not endpoint:
            note = (
                "ARK_API_KEY is set but no endpoint id was given: pass --model ep-... (or set "
                "ARK_MODEL) to use Ark. Using the local emulator."
            )
    try:
        from ark_context.emulator import Emulator, run_emulator
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ArkConfigError(
            "The emulator needs the 'emulator' extra: pip install 'ark-context[cli]'."
        ) from exc
    with run_emulator(Emulator(**emulator_options)) as emu:
        yield Backend(
            model=model or EMULATOR_MODEL,
            api_key=_EMULATOR_KEY,
            base_url=emu.base_url,
            emulator=emu,
            note=note,
        )


def error_hint(err: ArkError) -> str | None:
    """What to check for an error that stops the demo or the chat (None: the message says it).

    >>> error_hint(ArkConfigError("x")) is None
    True
    """
    if isinstance(err, ArkAuthenticationError):
        return "Check ARK_API_KEY: it must be an API key of the account that owns the endpoint."
    if isinstance(err, ArkNotFoundError):
        return (
            "Check --model / ARK_MODEL: it must be an endpoint id (ep-...) of a model that "
            "supports the Context API (e.g. doubao-1.5-pro-32k)."
        )
    if isinstance(err, (ArkProtocolError, ArkConnectionError)) and "ARK_BASE_URL" in str(err):
        return None  # the message says what to check already: one hint per failure
    if isinstance(err, ArkProtocolError):
        return "Check ARK_BASE_URL: the server did not answer like the Ark API."
    if isinstance(err, ArkConnectionError):
        return "Check ARK_BASE_URL and the network."
    if isinstance(err, ArkContextOverflowError):
        return "The conversation is longer than the model's window: start a new one."
    return None


def is_fatal(err: ArkError) -> bool:
    """Errors that the next turn would hit again: configuration, key, endpoint, server kind."""
    if isinstance(err, ArkContextBusyError):
        return False
    return isinstance(
        err,
        (ArkConfigError, ArkAuthenticationError, ArkPermissionError, ArkNotFoundError,
         ArkProtocolError),
    )  # fmt: skip
