"""The emulator implements the protocol on its own: it imports nothing from ark_context's
client, wire models or message helpers, only the stdlib, starlette, uvicorn and anyio."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ark_context.emulator

ALLOWED_THIRD_PARTY = {"starlette", "uvicorn", "anyio"}


def test_emulator_imports_only_stdlib_starlette_uvicorn():
    package = Path(ark_context.emulator.__file__).parent
    files = sorted(package.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    assert node.level == 1, f"{path.name}: reaches outside the emulator package"
                    continue
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                    f"{path.name} imports {name}"
                )
