"""Import time of the core package next to what it builds on, in fresh interpreters.

Each statement runs in a new ``python -c`` process and is timed inside it (interpreter
start-up excluded); the two statements are interleaved and the median of repeats is
reported. The adapters' import times are reported by ``bench_langchain.py`` and
``bench_llama_index.py`` (next to their framework's own import), so they are not
repeated here.
"""

from __future__ import annotations

from typing import Any

from benchmarks._harness import import_times_ms, row

SECTION = "Core import time"
BASE = "import httpx, pydantic"
OURS = "import ark_context"


def run(smoke: bool) -> list[dict[str, Any]]:
    repeats = 2 if smoke else 9
    base, ours = import_times_ms([BASE, OURS], repeats=repeats)
    return [
        row(SECTION, BASE, base, "ms", note="the core's only import-time dependencies"),
        row(
            SECTION,
            OURS,
            ours,
            "ms",
            anchor=BASE,
            target="<= +30 ms",
            note=f"fresh interpreter per import, median of {repeats}, interleaved with the anchor",
        ),
    ]
