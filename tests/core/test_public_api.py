"""The public surface of ``ark_context``: explicit, lazy, and complete."""

from __future__ import annotations

import subprocess
import sys

import ark_context


def test_all_names_resolve():
    for name in ark_context.__all__:
        assert getattr(ark_context, name) is not None, name
    assert sorted(dir(ark_context)) == sorted(ark_context.__all__)


def test_unknown_attribute_is_an_attribute_error():
    try:
        ark_context.NoSuchThing  # noqa: B018
    except AttributeError as e:
        assert "NoSuchThing" in str(e)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_is_lazy_and_core_needs_no_framework():
    code = (
        "import sys, ark_context;"
        "assert 'ark_context._models' not in sys.modules;"
        "from ark_context import ArkContextClient;"
        "bad = [m for m in ('langchain_core', 'llama_index', 'starlette', 'uvicorn', 'redis')"
        " if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
