"""Import time of each package next to what it builds on, in fresh interpreters.

Each statement runs in a new ``python -c`` process and is timed inside it (interpreter
start-up excluded); statements are interleaved and the median of repeats is reported.
The adapters import their model class (both packages load it lazily, so a bare
``import`` would measure nothing), next to the framework base class they subclass.
Import rows that another module already reports (same section and name) are left out
here so the report has each figure once.
"""

from __future__ import annotations

from typing import Any

from benchmarks._harness import import_times_ms, row

SECTION = "Import time"

#: (name, statement, anchor name, anchor statement, target)
PAIRS = [
    (
        "import ark_context",
        "import ark_context",
        "import httpx, pydantic",
        "import httpx, pydantic",
        "<= +30 ms",
    ),
    (
        "from langchain_ark_context import ChatArkContext",
        "from langchain_ark_context import ChatArkContext",
        "from langchain_core.language_models import BaseChatModel",
        "from langchain_core.language_models import BaseChatModel",
        "<= 1.25x",
    ),
    (
        "from llama_index_ark_context import ArkContextLLM",
        "from llama_index_ark_context import ArkContextLLM",
        "from llama_index.core.llms import LLM",
        "from llama_index.core.llms import LLM",
        "<= 1.1x",
    ),
]


def run(smoke: bool) -> list[dict[str, Any]]:
    repeats = 1 if smoke else 7
    rows: list[dict[str, Any]] = []
    for name, stmt, anchor_name, anchor_stmt, target in PAIRS:
        base, ours = import_times_ms([anchor_stmt, stmt], repeats=repeats)
        note = f"fresh interpreter per import, median of {repeats}, interleaved with the anchor"
        rows.append(row(SECTION, anchor_name, base, "ms"))
        rows.append(row(SECTION, name, ours, "ms", anchor=anchor_name, target=target, note=note))
    return rows
