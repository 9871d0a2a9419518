"""What the emulator's unit tests share: an HTTP client on an in-process emulator.

Each module defines its own ``emu`` (the emulator it needs: a fake clock, a responder, ...);
``client`` talks to it through ASGI, so no socket is opened."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ark_context.emulator import Emulator

AUTH = {"Authorization": "Bearer k"}
API = "http://emu/api/v3"


def asgi_client(
    emu: Emulator, *, base_url: str = API, headers: dict[str, str] | None = AUTH
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on ``emu``'s app (by default at /api/v3, authorised)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url=base_url, headers=headers
    )


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """:func:`asgi_client` on the module's ``emu``."""
    async with asgi_client(emu) as c:
        yield c
