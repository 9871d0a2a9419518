"""Every README snippet runs, as written, in the install the README names for it.

For each distinct install line (``pip install -e '.[langchain,emulator]'``, ...), a fresh
virtualenv is built from the working tree with ``pip install '<tree>[extras]'`` through the
package index pip is configured with (with dependencies: this proves the extra is
complete), and each snippet of that install runs in it under ``python -X dev``: it must
exit 0 and leave no unclosed socket behind. The notebooks run the same way in the
``notebooks`` install, with the command the README gives.

These take minutes (one venv per install line) and need the package index; ``make test``
and CI run them. Run only them with ``pytest -m install``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.docs.test_readme import README, SNIPPETS

ROOT = README.parent
INSTALL = re.compile(r"pip install -e '\.\[([a-z,-]+)\]'")
NOTEBOOK_COMMAND = re.compile(r"`(jupyter nbconvert [^`]+)`")

pytestmark = [pytest.mark.integration, pytest.mark.install]


def snippet_installs() -> dict[str, list[tuple[int, str]]]:
    """extras -> [(line, code)]: the last install line named in the prose before each
    runnable snippet (since the previous code block)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    out: dict[str, list[tuple[int, str]]] = {}
    for line, code, skipped in SNIPPETS:
        if skipped:
            continue
        start = line - 2  # the ```python line, 0-based
        prose: list[str] = []
        k = start - 1
        while k >= 0 and not lines[k].startswith("```"):
            prose.append(lines[k])
            k -= 1
        found = INSTALL.findall(" ".join(reversed(prose)))
        assert found, f"README.md:{line}: the text before this snippet names no install line"
        out.setdefault(found[-1], []).append((line, code))
    return out


def test_every_runnable_snippet_names_an_install_the_install_section_lists() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    listed = set(INSTALL.findall(section))
    installs = snippet_installs()
    assert installs and set(installs) <= listed
    assert "notebooks" in listed


def _clean_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ARK_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PYTHONWARNINGS"] = "always::ResourceWarning"
    return env


def _run(argv: list[str], what: str, timeout: float = 900) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=_clean_env(), timeout=timeout)
    assert done.returncode == 0, f"{what} failed:\n{done.stderr[-3000:]}"


class Venvs:
    """One fresh virtualenv per install line, shared by the module.

    The working tree is built into a wheel once; every virtualenv installs that wheel with
    its extras and all their dependencies from the configured index. The virtualenvs are
    built concurrently (pip mostly waits on I/O)."""

    def __init__(self, base: Path, extras: list[str]) -> None:
        self.base = base
        wheels = base / "wheel"
        # only the project's own wheel is built here; its dependencies come with each install
        _run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
            "building the wheel",
        )
        (self.wheel,) = wheels.glob("ark_context-*.whl")
        with ThreadPoolExecutor(max_workers=len(extras)) as pool:
            futures = {e: pool.submit(self._build, e) for e in extras}
        self.made = {e: f.result() for e, f in futures.items()}

    def _build(self, extras: str) -> Path:
        where = self.base / extras.replace(",", "+")
        _run([sys.executable, "-m", "venv", str(where)], f"venv for .[{extras}]")
        py = where / "bin" / "python"
        _run([str(py), "-m", "pip", "install", "-q", f"{self.wheel}[{extras}]"], f".[{extras}]")
        return py

    def python(self, extras: str) -> Path:
        return self.made[extras]


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venvs]:
    base = tmp_path_factory.mktemp("venvs")
    v = Venvs(base, [*snippet_installs(), "notebooks"])
    yield v
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("extras", sorted(snippet_installs()))
def test_snippets_run_in_their_install(extras: str, venvs: Venvs, tmp_path: Path) -> None:
    py = venvs.python(extras)
    for line, code in snippet_installs()[extras]:
        done = subprocess.run(
            [str(py), "-X", "dev", "-c", code],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=_clean_env(),
            timeout=300,
        )
        where = f"README.md:{line} in .[{extras}]"
        assert done.returncode == 0, f"{where} failed:\n{done.stderr[-3000:]}"
        assert "unclosed <socket" not in done.stderr, f"{where} leaks a socket:\n{done.stderr}"


def test_notebooks_run_in_the_notebooks_install(venvs: Venvs, tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Notebooks\n", 1)[1].split("\n## ", 1)[0]
    assert "pip install -e '.[notebooks]'" in section
    command = NOTEBOOK_COMMAND.findall(section)
    assert command, "the Notebooks section names no jupyter nbconvert command"
    py = venvs.python("notebooks")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        argv = command[0].replace("notebooks/03_cost_savings.ipynb", str(nb)).split()
        argv += ["--output-dir", str(tmp_path)]
        done = subprocess.run(
            [str(py.parent / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=_clean_env(),
            timeout=600,
        )
        assert done.returncode == 0, f"{nb.name} failed in .[notebooks]:\n{done.stderr[-3000:]}"
        assert list(tmp_path.glob(f"{nb.stem}*.ipynb")), f"nbconvert wrote no {nb.stem}"
