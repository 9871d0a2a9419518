"""One message for a missing optional dependency: which extra to install (public: the
adapters raise it when their framework is missing).

>>> err = missing_extra(ModuleNotFoundError("x", name="uvicorn"), "emulator", "The emulator")
>>> str(err)
"The emulator needs the 'emulator' extra: pip install 'ark-context[emulator]' (missing: uvicorn)."
>>> isinstance(err, ImportError)
True
"""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(exc: ImportError, extra: str, what: str) -> ModuleNotFoundError:
    """A ``ModuleNotFoundError`` (still an ``ImportError``) naming the extra to install."""
    return ModuleNotFoundError(
        f"{what} needs the {extra!r} extra: pip install 'ark-context[{extra}]' "
        f"(missing: {exc.name or exc}).",
        name=exc.name,
    )
