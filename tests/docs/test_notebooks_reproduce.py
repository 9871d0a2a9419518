"""Re-running the notebooks reproduces their committed outputs exactly (so that
``make notebooks-refresh`` shows a reviewable diff, not noise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks import NOTEBOOKS, execute, outputs

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_reproduce_their_committed_outputs(path: Path) -> None:
    import nbformat

    committed = outputs(nbformat.read(path, as_version=4))
    again = outputs(execute(path))
    assert len(again) == len(committed)
    for i, (old, new) in enumerate(zip(committed, again, strict=True)):
        assert new == old, f"{path.name} code cell {i} changed: make notebooks-refresh"
