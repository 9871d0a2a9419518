"""Run the notebooks against the in-process emulator and keep their outputs reviewable.

``python -m tests.notebooks --write`` (``make notebooks-refresh``) executes every notebook
with the ``ARK_*`` variables unset and writes it back with its outputs, so a repository page
shows the tables and plots. ``--check`` executes them and fails when an output differs from
the committed one (the outputs are deterministic: fixed replies, no ports, ids, timings).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: Text that must never be in a committed output: it would change on every run.
VOLATILE = {
    "a port": re.compile(r"127\.0\.0\.1:\d+|localhost:\d+"),
    "a context id": re.compile(r"ctx-[0-9a-z]{6,}"),
    "a completion id": re.compile(r"chatcmpl-[0-9a-zA-Z]+"),
    "a timestamp": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d"),
    "a latency": re.compile(r"\d+(?:\.\d+)? ?ms\b"),
    "an object address": re.compile(r" at 0x[0-9a-f]+"),
}


@contextmanager
def _offline_env() -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ARK_")}
    old_seed = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"
    try:
        yield
    finally:
        os.environ.update(saved)
        if old_seed is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = old_seed


def execute(path: Path) -> Any:
    """The notebook at ``path``, executed top to bottom against the emulator."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if (nb.nbformat, nb.nbformat_minor) >= (4, 5):
        for i, cell in enumerate(nb.cells):  # stable ids for new cells: no random diff
            cell.setdefault("id", f"cell-{i:02d}")
    with _offline_env():
        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            record_timing=False,  # no execution timestamps in the cell metadata
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    coalesce_streams(nb)
    drop_thread_noise(nb)
    nb.metadata.pop("widgets", None)
    # the language version is the one fact of the machine the outputs depend on; keep only
    # the name so a refresh on another patch release is not a diff
    nb.metadata["language_info"] = {"name": "python"}
    return nb


#: The header of a worker thread's traceback; interleaved output may lose its first words.
_WORKER_HEADER = re.compile(r"(?:Exception in thread )?Thread-\d+ \(_connection_worker_thread\):$")
_NOISE_LINES = (
    "Exception in thread",
    "Traceback (most recent call last):",
    "During handling of the above exception",
    "RuntimeError: Event loop is closed",
)


def _strip_thread_noise(text: str) -> str:
    """``text`` without the tracebacks of aiosqlite worker threads (several threads may
    interleave theirs line by line): from an "Exception in thread" line (or a worker
    thread's header whose first words another thread's output took) on, drop traceback
    lines (indented frames, headers, blank lines, the RuntimeError) until another line."""
    kept: list[str] = []
    noise: list[str] = []
    in_noise = False
    for line in text.splitlines(keepends=True):
        header = line.startswith("Exception in thread") or _WORKER_HEADER.match(line)
        in_noise = in_noise or bool(header)
        if in_noise and (
            header or not line.strip() or line[0] == " " or line.startswith(_NOISE_LINES)
        ):
            noise.append(line)
            continue
        in_noise = False
        kept.append(line)
    joined = "".join(noise)
    if "aiosqlite" not in joined or "Event loop is closed" not in joined:
        return text  # some other thread's traceback: an output worth seeing
    return "".join(kept)


def drop_thread_noise(nb: Any) -> None:
    """Drop stderr tracebacks of aiosqlite worker threads that outlive their event loop
    (run after :func:`coalesce_streams`, since the kernel may split one traceback).

    LlamaIndex's agent memory talks to an in-memory SQLite through aiosqlite, whose worker
    thread may answer after ``asyncio.run`` closed the loop; Python then prints "Exception
    in thread ... RuntimeError: Event loop is closed" on stderr, or not, depending on thread
    timing. It is not an output of the notebook's code, so it is kept out of the committed
    outputs and out of the comparison; any other stderr text is kept."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = _strip_thread_noise(_joined(out.get("text", "")))
                if not text:
                    continue
                out["text"] = text
            kept.append(out)
        cell.outputs = kept


def coalesce_streams(nb: Any) -> None:
    """Join consecutive prints to one stream output: how the kernel splits stdout into
    messages depends on timing (a loaded machine flushes mid-cell), the text does not."""
    for cell in nb.cells:
        merged: list[Any] = []
        for out in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (
                out.get("output_type") == "stream"
                and last is not None
                and last.get("output_type") == "stream"
                and last.get("name") == out.get("name")
            ):
                last["text"] = _joined(last["text"]) + _joined(out["text"])
            else:
                merged.append(out)
        if cell.cell_type == "code":
            cell.outputs = merged


def _joined(text: str | list[str]) -> str:
    return text if isinstance(text, str) else "".join(text)


def outputs(nb: Any) -> list[list[dict[str, Any]]]:
    """Each code cell's outputs, as plain JSON data."""
    return [
        json.loads(json.dumps(cell.get("outputs", [])))
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
    ]


def volatile(nb: Any) -> list[str]:
    """What in the outputs would change from run to run (empty: nothing)."""
    found = []
    for i, cell_outputs in enumerate(outputs(nb)):
        for out in cell_outputs:
            texts = [out.get("text", "")]
            texts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
            text = "".join("".join(t) if isinstance(t, list) else str(t) for t in texts)
            for what, pattern in VOLATILE.items():
                m = pattern.search(text)
                if m:
                    found.append(f"code cell {i}: {what} ({m.group(0)!r})")
    return found


def main(argv: list[str]) -> int:
    import nbformat

    write = "--write" in argv
    failed = False
    for path in NOTEBOOKS:
        nb = execute(path)
        problems = volatile(nb)
        if problems:
            print(f"{path.name}: volatile outputs: {problems}", file=sys.stderr)
            failed = True
        if write:
            nbformat.write(nb, path)
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            committed = nbformat.read(path, as_version=4)
            old, new = outputs(committed), outputs(nb)
            if old != new:
                print(f"{path.name}: outputs differ from the committed ones:", file=sys.stderr)
                for i, (a, b) in enumerate(zip(old, new, strict=True)):
                    if a != b:
                        print(f"  code cell {i}:\n    {a}\n    {b}"[:2000], file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
