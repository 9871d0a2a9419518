"""A missing optional dependency raises an error that names the extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    block = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)  # import -> ImportError
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", f"import sys; {block}; {code}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize(
    "modules,code,extra",
    [
        (
            ["starlette"],
            "from ark_context.emulator import run_emulator; run_emulator().__enter__()",
            "emulator",
        ),
        (
            ["uvicorn"],
            "from ark_context.emulator import run_emulator; run_emulator().__enter__()",
            "emulator",
        ),
        (["langchain_core"], "from langchain_ark_context import ChatArkContext", "langchain"),
        (["llama_index", "llama_index.core"], "import llama_index_ark_context", "llama-index"),
    ],
)
def test_missing_dependency_names_its_extra(modules: list[str], code: str, extra: str) -> None:
    done = _without(modules, code)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError") and f"pip install 'ark-context[{extra}]'" in last
