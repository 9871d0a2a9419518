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


def _relative_imports(path: Path) -> set[str]:
    """Sibling modules ``path`` imports (any ``from . import x`` / ``from ._x import y``),
    including imports under ``if TYPE_CHECKING``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module)
            else:
                out.update(a.name for a in node.names)
    return out


def test_emulator_modules_have_no_import_cycle():
    package = Path(ark_context.emulator.__file__).parent
    graph = {p.stem: _relative_imports(p) for p in package.glob("*.py") if p.stem != "__init__"}
    done: set[str] = set()

    def visit(module: str, stack: list[str]) -> None:
        assert module not in stack, f"import cycle: {' -> '.join([*stack, module])}"
        if module in done:
            return
        for dep in graph.get(module, ()):
            visit(dep, [*stack, module])
        done.add(module)

    for module in graph:
        visit(module, [])
    assert "_app" in graph["_emulator"]  # the cycle this test was written for stays broken
