"""Import time of the core package next to what it builds on, in fresh interpreters.

Each statement runs in a new ``python -c`` process and is timed inside it (interpreter
start-up excluded); statements are interleaved and the median of repeats is reported.

``ark_context`` resolves its public names lazily (PEP 562), so a bare ``import
ark_context`` loads next to nothing and says little. The target therefore applies to the
core's working set, ``from ark_context.router import ContextRouter`` (client, wire models,
messages, router, in-memory store), against its dependencies as it uses them
(``import httpx`` and pydantic's ``BaseModel``; a bare ``import pydantic`` is lazy too).
The adapters' import times are reported by ``bench_langchain.py`` and
``bench_llama_index.py`` (next to their framework's own import), so they are not repeated
here.
"""

from __future__ import annotations

from typing import Any

from benchmarks._harness import import_times_ms, row

SECTION = "Core import time"
BARE_BASE = "import httpx, pydantic"
BARE = "import ark_context"
BASE = "import httpx; from pydantic import BaseModel"
OURS = "from ark_context.router import ContextRouter"


def run(smoke: bool) -> list[dict[str, Any]]:
    repeats = 2 if smoke else 9
    bare_base, bare, base, ours = import_times_ms([BARE_BASE, BARE, BASE, OURS], repeats=repeats)
    how = f"fresh interpreter per import, median of {repeats}, interleaved"
    return [
        row(SECTION, BASE, base, "ms", note="the core's import-time dependencies, as it uses them"),
        row(
            SECTION,
            OURS,
            ours,
            "ms",
            anchor=BASE,
            target="<= +30 ms",
            note=f"the core's working set; {how}",
        ),
        row(SECTION, BARE_BASE, bare_base, "ms"),
        row(
            SECTION,
            BARE,
            bare,
            "ms",
            anchor=BARE_BASE,
            note="lazy namespace: loads the client, models and router on first attribute use",
        ),
    ]
