"""The CLI prints one hint per failure: none when the error's message already says what to
check (the client's connection and protocol errors name ARK_BASE_URL)."""

from __future__ import annotations

import io

import httpx

from ark_context import ArkConnectionError, ArkProtocolError
from ark_context._errors_map import from_transport_error
from ark_context_app.backend import error_hint
from ark_context_app.render import make_console, print_error


def test_connection_failure_prints_one_hint() -> None:
    err = from_transport_error(httpx.ConnectError("Connection refused"))
    assert isinstance(err, ArkConnectionError) and "ARK_BASE_URL" in str(err)
    assert error_hint(err) is None
    out = io.StringIO()
    print_error(make_console(out), err)
    assert out.getvalue().count("ARK_BASE_URL") == 1


def test_errors_without_their_own_advice_still_get_the_hint() -> None:
    assert error_hint(ArkConnectionError("boom")) == "Check ARK_BASE_URL and the network."
    hint = error_hint(ArkProtocolError("HTML page"))
    assert hint is not None and "ARK_BASE_URL" in hint
