"""The committed notebooks stay small and output-free, and `make test` executes them.

Executing them (against the in-process emulator) is the Makefile's nbmake step:
`pytest --nbmake notebooks/`, which fails on any cell error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_langchain_quickstart.ipynb",
        "02_llama_index_rag.ipynb",
        "03_cost_savings.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_small(path: Path) -> None:
    assert path.stat().st_size < 20_000
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"  # the running venv's kernel
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None, "strip outputs"
    source = "".join("".join(c["source"]) for c in code)
    # offline by default, the real service when configured; the emulator is always stopped
    assert "run_emulator" in source and "ARK_API_KEY" in source
    assert "".join(code[-1]["source"]).startswith("stack.close()")


def test_make_test_executes_the_notebooks_offline() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(NBMAKE)" in test_recipe and "-u ARK_API_KEY" in test_recipe
    assert "--nbmake notebooks/" in makefile
