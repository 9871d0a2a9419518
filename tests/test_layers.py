"""The layers of the house, checked on the source (AST, nothing imported).

Arrows point down: ``ark_context_app`` (demo, REPL, CLI) -> the adapters
(``langchain_ark_context``, ``llama_index_ark_context``) -> the core (``ark_context``) ->
nothing of ours. Inside the core the emulator stands alone: it implements the protocol on
its own and imports nothing from the client, wire models or message helpers, only the
stdlib, starlette, uvicorn and anyio. See docs/architecture.md ("Layers").

Edges are every ``import`` in a module, including the lazy ones inside functions (a lazy
import is still a dependency); imports under ``if TYPE_CHECKING:`` count for the layer rules
but not for cycles (they never run).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import ark_context.emulator

ROOT = Path(__file__).resolve().parents[1]
CORE = "ark_context"
ADAPTERS = ("langchain_ark_context", "llama_index_ark_context")
APP = "ark_context_app"
PACKAGES = (CORE, *ADAPTERS, APP)
FRAMEWORKS = ("langchain_core", "langchain", "llama_index", "rich")
MAX_CORE_LINES = 500

# Known debts of issue 12, each being removed on its own branch. The lead empties these at
# merge; the tests below fail once an entry is no longer needed, so they cannot go stale.
OVERSIZED_ALLOWED: set[str] = set()
CYCLES_ALLOWED: set[frozenset[str]] = set()


@dataclass(frozen=True)
class Edge:
    target: str
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def find_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def module_imports(name: str, path: Path) -> list[Edge]:
    """Every module ``name`` imports (absolute names; relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: list[Edge] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_stmt(stmt, True)
                for stmt in child.orelse:
                    visit_stmt(stmt, type_only)
                continue
            visit_stmt(child, type_only)

    def visit_stmt(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            edges.extend(Edge(a.name, node.lineno, type_only) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            edges.append(Edge(target, node.lineno, type_only))
            # ``from pkg import sub`` imports the submodule too
            edges.extend(Edge(f"{target}.{a.name}", node.lineno, type_only) for a in node.names)
        visit(node, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return edges


def import_graph(modules: Mapping[str, Path]) -> dict[str, list[Edge]]:
    """Our modules -> the edges to other modules of ours."""
    return {
        name: [e for e in module_imports(name, path) if e.target in modules and e.target != name]
        for name, path in modules.items()
    }


def cycles(graph: Mapping[str, list[Edge]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module, over the runtime edges."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in {e.target for e in graph[v] if not e.type_only}:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: set[str] = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


MODULES = find_modules(ROOT, PACKAGES)
GRAPH = import_graph(MODULES)


def _top(name: str) -> str:
    return name.split(".")[0]


def _violations(sources: str | tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for name, path in MODULES.items():
        if _top(name) not in (sources if isinstance(sources, tuple) else (sources,)):
            continue
        for e in module_imports(name, path):
            if _top(e.target) in forbidden and _top(e.target) != _top(name):
                out.append(f"{path.relative_to(ROOT)}:{e.line} imports {e.target}")
    return out


# -- the checker itself finds what it must find ---------------------------------------------


def test_the_checker_sees_lazy_relative_and_type_only_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n")  # lazy: still an edge
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import d\n"
    )
    (pkg / "d.py").write_text("import pkg.c\n")
    (pkg / "sub" / "__init__.py").write_text("from .. import a\nfrom . import e\n")
    (pkg / "sub" / "e.py").write_text("")
    graph = import_graph(find_modules(tmp_path, ["pkg"]))
    assert {e.target for e in graph["pkg.sub"]} == {"pkg", "pkg.a", "pkg.sub.e"}
    assert [(e.target, e.type_only) for e in graph["pkg.c"]] == [("pkg", True), ("pkg.d", True)]
    # a <-> b is a cycle (through a lazy import); c <-> d is not (c's edge is type-only)
    assert cycles(graph) == [frozenset({"pkg.a", "pkg.b"})]


def test_the_graph_covers_every_package() -> None:
    assert {_top(m) for m in MODULES} == set(PACKAGES)
    targets = {e.target for edges in GRAPH.values() for e in edges}
    assert CORE in targets and "ark_context.emulator" in targets
    assert {*ADAPTERS} <= targets  # the app imports both adapters
    assert len([m for m in MODULES if m.startswith("ark_context.emulator.")]) >= 5


# -- the rules ------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    found = set(cycles(GRAPH))
    assert sorted(map(sorted, found - CYCLES_ALLOWED)) == []
    stale = CYCLES_ALLOWED - found
    assert not stale, f"cycle gone: remove it from CYCLES_ALLOWED: {sorted(map(sorted, stale))}"


def test_the_core_imports_no_adapter_no_app_and_no_framework() -> None:
    assert _violations(CORE, (*ADAPTERS, APP, *FRAMEWORKS)) == []


def test_adapters_import_neither_each_other_nor_the_app() -> None:
    assert _violations(ADAPTERS, (*ADAPTERS, APP)) == []


def test_adapters_and_app_use_the_core_through_its_public_modules() -> None:
    """Outer layers import ``ark_context`` and its public subpackages, never a ``_module``."""
    private = []
    for name, path in MODULES.items():
        if _top(name) == CORE:
            continue
        for e in module_imports(name, path):
            if _top(e.target) == CORE and any(p.startswith("_") for p in e.target.split(".")):
                private.append(f"{path.relative_to(ROOT)}:{e.line} imports {e.target}")
    assert private == []


def test_core_modules_stay_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for name, path in MODULES.items()
        if _top(name) == CORE
    }
    over = {f: n for f, n in sizes.items() if n > MAX_CORE_LINES}
    assert sorted(set(over) - OVERSIZED_ALLOWED) == [], over
    stale = OVERSIZED_ALLOWED - set(over)
    assert not stale, f"now small or gone: remove from OVERSIZED_ALLOWED: {sorted(stale)}"


ALLOWED_THIRD_PARTY = {"starlette", "uvicorn", "anyio"}


@pytest.mark.parametrize(
    "path",
    sorted(Path(ark_context.emulator.__file__).parent.glob("*.py")),
    ids=lambda p: p.name,
)
def test_emulator_imports_only_stdlib_starlette_uvicorn(path: Path) -> None:
    name = "ark_context.emulator" + ("" if path.stem == "__init__" else f".{path.stem}")
    for e in module_imports(name, path):
        if e.target.startswith("ark_context.emulator"):
            continue
        top = _top(e.target)
        assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
            f"{path.name}:{e.line} imports {e.target}"
        )
