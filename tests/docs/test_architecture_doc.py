"""docs/architecture.md matches the code: what it names exists, and it names every module.

Checked on the inline code spans of the document (fenced blocks such as the diagrams are
skipped):

* a repository path (``ark_context/routing/flows.py``, ``tests/invariant.py``,
  ``ark_context/stores/``; ``*`` globs) exists;
* a bare file name (``flows.py``) exists in the directory named in the heading of its
  section (``## Routing (`ark_context/routing/`)``), else in the section's table row;
* a dotted name (``ark_context.routing.ContextRouter``) imports and resolves;
* a class-like name (``CallView``), a call (``finish()``, ``evidence(view, route, ok)``)
  and an attribute (``Digests.session_keys``) is defined in our packages (or imported there
  from a framework);
* every module of the core (``ark_context``) is named, by path or by file name in its
  package's section, so a new module fails here until the map shows it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("ark_context", "ark_context_app", "langchain_ark_context", "llama_index_ark_context")
TOP_DIRS = (*PACKAGES, "tests", "benchmarks", "docs", "notebooks")

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_SPAN = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^(#{2,4}) (.*)$", re.M)
_PATH = re.compile(rf"^(?:{'|'.join(TOP_DIRS)})(?:/[\w.*-]+)*/?$")
_DOTTED = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.\w+)+$")
_FILE = re.compile(r"^\w+\.py$")
_CLASSLIKE = re.compile(r"^_?[A-Z][a-z]\w*$")  # CallView, SyncRunner; not HTTP, TTL
_CALL = re.compile(r"^(_?[A-Za-z]\w*)\(.*\)$")  # finish(), evidence(view, route, ok)
_ATTR = re.compile(r"^(_?[A-Z]\w*)\.(\w+)(?:\(\))?$")  # Digests.session_keys


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading with its ``#``s, body) pairs, fenced blocks removed."""
    text = _FENCE.sub("", text)
    marks = list(_HEADING.finditer(text))
    out = [("", text[: marks[0].start()] if marks else text)]
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((m.group(0), text[m.end() : end]))
    return out


def _heading_dir(heading: str, parent: Path | None) -> Path | None:
    span: str
    for span in _SPAN.findall(heading):
        if _PATH.match(span) and (ROOT / span).is_dir():
            return ROOT / span
    return parent


def _spans(text: str) -> list[tuple[Path | None, str, str]]:
    """(section directory, the line, the span) for every inline code span. A section's
    directory is the one its heading names, else its parent heading's."""
    found: list[tuple[Path | None, str, str]] = []
    stack: list[tuple[int, Path | None]] = []  # (heading level, directory)
    for heading, body in _sections(text):
        level = len(heading) - len(heading.lstrip("#"))
        while stack and stack[-1][0] >= level:
            stack.pop()
        here = _heading_dir(heading, stack[-1][1] if stack else None)
        stack.append((level, here))
        for line in body.splitlines():
            found.extend((here, line, span) for span in _SPAN.findall(line))
    return found


class _Defs:
    """Every name defined or imported at any level of our packages, and class members."""

    def __init__(self) -> None:
        self.names: set[str] = set(dir(builtins))
        self.members: dict[str, set[str]] = defaultdict(set)
        for package in PACKAGES:
            for path in (ROOT / package).rglob("*.py"):
                self._scan(ast.parse(path.read_text(encoding="utf-8")))

    def _scan(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.names.add(node.name)
            elif isinstance(node, ast.alias):
                self.names.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.names.add(node.id)
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.members[node.name].add(stmt.name)
                    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                        self.members[node.name].add(stmt.target.id)
                    elif isinstance(stmt, ast.Assign):
                        for t in stmt.targets:
                            if isinstance(t, ast.Name):
                                self.members[node.name].add(t.id)


def _resolve_dotted(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _file_in(directory: Path | None, name: str, line: str) -> Path | None:
    """A bare file name: in the section's directory, else in a directory on the same line."""
    candidates = [directory] if directory else []
    candidates += [ROOT / s for s in _SPAN.findall(line) if _PATH.match(s) and s.endswith("/")]
    for d in candidates:
        if d is not None and (d / name).is_file():
            return d / name
    return None


_DEFS: list[_Defs] = []


def _problems(text: str | None = None) -> tuple[list[str], set[Path]]:
    """What the document names that does not exist, and the files it names."""
    if not _DEFS:
        _DEFS.append(_Defs())
    defs = _DEFS[0]
    bad: list[str] = []
    named: set[Path] = set()
    for directory, line, span in _spans(text or DOC.read_text(encoding="utf-8")):
        span = span.strip()
        if _PATH.match(span):
            hits = list(ROOT.glob(span.rstrip("/"))) if "*" in span else [ROOT / span]
            if not hits or not all(h.exists() for h in hits):
                bad.append(f"path `{span}` does not exist")
            named.update(h.resolve() for h in hits)
        elif _DOTTED.match(span):
            if not _resolve_dotted(span):
                bad.append(f"`{span}` does not resolve")
        elif _FILE.match(span):
            found = _file_in(directory, span, line)
            if found is None:
                where = directory.relative_to(ROOT) if directory else "its section"
                bad.append(f"file `{span}` not found in {where}")
            else:
                named.add(found.resolve())
        elif m := _ATTR.match(span):
            cls, member = m.groups()
            if member not in defs.members.get(cls, set()):
                bad.append(f"`{span}`: {cls} has no member {member}")
        elif m := _CALL.match(span):
            if m.group(1) not in defs.names:
                bad.append(f"`{span}`: {m.group(1)} is defined nowhere in {PACKAGES}")
        elif _CLASSLIKE.match(span) and span not in defs.names:
            bad.append(f"`{span}` is defined nowhere in {PACKAGES}")
    return bad, named


def test_everything_the_architecture_doc_names_exists() -> None:
    bad, _ = _problems()
    assert bad == [], "docs/architecture.md names what the code lacks:\n" + "\n".join(bad)


def test_every_core_module_is_on_the_map() -> None:
    _, named = _problems()
    missing = []
    for path in sorted((ROOT / "ark_context").rglob("*.py")):
        if path.name == "__init__.py" and path.parent.name != "ark_context":
            continue  # a subpackage is named by its directory's modules
        if path.resolve() not in named:
            missing.append(str(path.relative_to(ROOT)))
    assert missing == [], "add these modules to docs/architecture.md:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "span",
    ["ark_context/no_such.py", "ark_context.routing.NoSuch", "NoSuchClass", "no_such_fn()"],
)
def test_the_checker_catches_a_stale_name(span: str) -> None:
    """The checks above can fail: a stale name of each kind is reported."""
    bad, _ = _problems(DOC.read_text(encoding="utf-8") + f"\n\nSee `{span}`.\n")
    assert any(span.split("(")[0] in b for b in bad), bad
