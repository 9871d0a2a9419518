"""The committed notebooks carry their outputs (a repository page shows the tables and
plots), and those outputs are deterministic, so `make notebooks-refresh` gives a reviewable
diff.

`make test` executes them (nbmake, against the in-process emulator); the integration test
``test_notebooks_reproduce_their_committed_outputs`` re-executes them and compares.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.notebooks import NOTEBOOKS, VOLATILE, coalesce_streams, outputs, volatile

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_langchain_quickstart.ipynb",
        "02_llama_index_rag.ipynb",
        "03_cost_savings.ipynb",
        "04_agent_costs.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_outputs_and_nothing_volatile(path: Path) -> None:
    assert path.stat().st_size < 200_000
    nb = _load(path)
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"  # the running venv's kernel
    assert nb["metadata"]["language_info"] == {"name": "python"}  # no machine's version
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run top to bottom: make notebooks-refresh"
    assert sum(1 for c in code if c["outputs"]) >= len(code) - 1  # the last cell: stack.close()
    for cell in code:
        assert "execution" not in cell["metadata"], "no timings: record_timing=False"
        for out in cell["outputs"]:
            assert out["output_type"] != "error"
            assert out.get("name") != "stderr", f"stderr in the committed output: {out}"
    assert volatile(nb) == []
    source = "".join("".join(c["source"]) for c in code)
    # offline by default, the real service when configured; the emulator is always stopped
    assert "run_emulator" in source and "ARK_API_KEY" in source
    assert "".join(code[-1]["source"]).startswith("stack.close()")


@pytest.mark.parametrize("name", ["03_cost_savings.ipynb", "04_agent_costs.ipynb"])
def test_the_cost_notebooks_show_their_plot_and_table(name: str) -> None:
    nb = _load(ROOT / "notebooks" / name)
    kinds = [k for c in nb["cells"] for o in c.get("outputs", []) for k in o.get("data", {})]
    assert "image/png" in kinds and "text/markdown" in kinds


def test_the_volatile_patterns_catch_what_they_should() -> None:
    fake = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "at 127.0.0.1:40123\n"},
                    {
                        "output_type": "execute_result",
                        "data": {"text/plain": "{'context_id': 'ctx-20250101abcdef', 'x': 12 ms}"},
                    },
                ],
            }
        ]
    }
    found = " ".join(volatile(fake))
    assert "a port" in found and "a context id" in found and "a latency" in found
    assert set(VOLATILE) >= {"a port", "a context id", "a timestamp"}


def test_make_targets_run_and_refresh_the_notebooks_offline() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(NBMAKE)" in test_recipe and "-u ARK_API_KEY" in test_recipe
    assert "--nbmake notebooks/" in makefile
    refresh = makefile.split("\nnotebooks-refresh:", 1)[1].split("\n\n", 1)[0]
    assert "tests.notebooks --write" in refresh
    # nbmake reads notebooks/pytest.ini, not the suite's plugin options
    assert (ROOT / "notebooks" / "pytest.ini").read_text().startswith("[pytest]")


def test_stdout_split_by_timing_compares_equal() -> None:
    """The kernel may flush one cell's prints in several messages on a loaded machine:
    consecutive prints to one stream are joined, other streams keep their place."""
    import nbformat

    def stream(name: str, text: str | list[str]) -> Any:
        return nbformat.v4.new_output("stream", name=name, text=text)

    split, whole = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    split.cells = [nbformat.v4.new_code_cell("run()")]
    whole.cells = [nbformat.v4.new_code_cell("run()")]
    split.cells[0].outputs = [
        stream("stdout", "turn 1\n"),
        stream("stdout", ["turn 2\n"]),
        stream("stderr", "warn\n"),
        stream("stdout", "done\n"),
    ]
    whole.cells[0].outputs = [
        stream("stdout", "turn 1\nturn 2\n"),
        stream("stderr", "warn\n"),
        stream("stdout", "done\n"),
    ]
    coalesce_streams(split)
    assert outputs(split) == outputs(whole)


def test_late_worker_thread_tracebacks_are_not_outputs() -> None:
    """aiosqlite's worker answering after the loop closed prints a traceback or not,
    depending on thread timing: it is dropped; any other stderr output is kept."""
    import nbformat

    from tests.notebooks import coalesce_streams, drop_thread_noise

    head = (
        "Exception in thread Thread-14 (_connection_worker_thread):\n"
        "Traceback (most recent call last):\n"
        '  File ".../aiosqlite/core.py", line 66, in _connection_worker_thread\n'
    )
    tail = (
        "RuntimeError: Event loop is closed\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File ".../aiosqlite/core.py", line 75, in _connection_worker_thread\n'
        "RuntimeError: Event loop is closed\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("run()")]
    nb.cells[0].outputs = [  # the kernel split the traceback over two messages
        nbformat.v4.new_output("stream", name="stderr", text="a real warning\n" + head),
        nbformat.v4.new_output("stream", name="stderr", text=tail),
        nbformat.v4.new_output("stream", name="stdout", text="result\n"),
    ]
    coalesce_streams(nb)
    drop_thread_noise(nb)
    assert [o["text"] for o in nb.cells[0].outputs] == ["a real warning\n", "result\n"]


def test_worker_tracebacks_whose_header_lost_its_first_words_are_dropped() -> None:
    """Seen in CI: two worker threads interleaved, and the stream began mid-header."""
    import nbformat

    from tests.notebooks import drop_thread_noise

    text = (
        "Thread-7 (_connection_worker_thread):\n"
        "Traceback (most recent call last):\n"
        '  File ".../aiosqlite/core.py", line 66, in _connection_worker_thread\n'
        "    self._check_closed()\n"
        "    raise RuntimeError('Event loop is closed')\n"
        "RuntimeError: Event loop is closed\n"
        "RuntimeError: Event loop is closed\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("run()")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text=text)]
    drop_thread_noise(nb)
    assert nb.cells[0].outputs == []
