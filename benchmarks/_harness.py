"""Shared helpers for the benchmark modules: rows, timing, percentiles, import time.

Every ``bench_<topic>.py`` module returns rows built with :func:`row`. Timing helpers
return medians of repeats (never a single sample, never an assertion). The target
grammar :func:`check_target` understands is documented in ``benchmarks/README.md``.

>>> from benchmarks._harness import row, fill_ratios, check_target
>>> rows = fill_ratios([row("s", "base", 2.0, "us"), row("s", "ours", 3.0, "us", anchor="base",
...                                                            target="<= 1.6x")])
>>> rows[1]["ratio"], check_target(rows[1], rows[0])
(1.5, True)
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ROW_KEYS",
    "Timer",
    "atime_per_call",
    "check_target",
    "deep_sizeof",
    "fill_ratios",
    "free_port",
    "import_time_ms",
    "import_times_ms",
    "median",
    "out_dir",
    "percentile",
    "row",
    "time_per_call",
    "validate_row",
    "wait_http",
]

ROW_KEYS = ("section", "name", "value", "unit", "anchor", "ratio", "target", "note")
REPO_ROOT = Path(__file__).resolve().parent.parent


# -- rows ---------------------------------------------------------------------------------


def row(
    section: str,
    name: str,
    value: float,
    unit: str,
    *,
    anchor: str | None = None,
    ratio: float | None = None,
    target: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One result row in the benchmark protocol's shape."""
    return {
        "section": section,
        "name": name,
        "value": float(value),
        "unit": unit,
        "anchor": anchor,
        "ratio": ratio,
        "target": target,
        "note": note,
    }


def validate_row(r: Any) -> str | None:
    """Why ``r`` is not a valid protocol row, or None when it is."""
    if not isinstance(r, dict):
        return f"row is a {type(r).__name__}, not a dict"
    missing = [k for k in ("section", "name", "value", "unit") if k not in r]
    if missing:
        return f"row {r.get('name')!r} misses {missing}"
    if not isinstance(r["section"], str) or not isinstance(r["name"], str):
        return f"row {r.get('name')!r}: section and name must be strings"
    v = r["value"]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"row {r['name']!r}: value must be a number, got {type(v).__name__}"
    for k in ("anchor", "target", "note"):
        if r.get(k) is not None and not isinstance(r[k], str):
            return f"row {r['name']!r}: {k} must be a string or None"
    if r.get("target") is not None and parse_target(r["target"]) is None:
        return f"row {r['name']!r}: target {r['target']!r} does not follow the target grammar"
    return None


def fill_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``ratio = value / anchor.value`` where a row names an anchor and has no ratio."""
    by_key = {(r["section"], r["name"]): r for r in rows}
    for r in rows:
        if r.get("anchor") and r.get("ratio") is None:
            a = by_key.get((r["section"], r["anchor"]))
            if a is not None and a["value"]:
                r["ratio"] = r["value"] / a["value"]
    return rows


# -- targets ------------------------------------------------------------------------------

_TARGET = re.compile(r"^\s*(<=|>=|==|<|>)\s*(\+)?\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*(\S*)\s*$")
_SCALE = {
    "ns": ("s", 1e-9),
    "us": ("s", 1e-6),
    "µs": ("s", 1e-6),
    "ms": ("s", 1e-3),
    "s": ("s", 1.0),
    "B": ("B", 1.0),
    "KB": ("B", 1e3),
    "KiB": ("B", 1024.0),
    "MB": ("B", 1e6),
    "MiB": ("B", 1024.0**2),
}


def parse_target(target: str) -> tuple[str, bool, float, str] | None:
    """``"<= 1.3x"`` -> ``("<=", False, 1.3, "x")``; None when it does not parse."""
    m = _TARGET.match(target)
    if m is None:
        return None
    op, plus, num, unit = m.groups()
    if plus and unit == "x":
        return None
    return op, bool(plus), float(num), unit


def _convert(value: float, from_unit: str, to_unit: str) -> float | None:
    if from_unit == to_unit or not to_unit:
        return value
    a, b = _SCALE.get(from_unit), _SCALE.get(to_unit)
    if a is None or b is None or a[0] != b[0]:
        return None
    return value * a[1] / b[1]


def check_target(r: dict[str, Any], anchor: dict[str, Any] | None = None) -> bool | None:
    """Whether row ``r`` meets its target; None when it has none or it cannot be judged.

    ``x`` compares the ratio; ``+N unit`` compares ``value - anchor.value``; any other unit
    (or none) compares the value, converting time and byte units.
    """
    t = r.get("target")
    if not t:
        return None
    parsed = parse_target(t)
    if parsed is None:
        return None
    op, plus, num, unit = parsed
    if unit == "x":
        if r.get("ratio") is None:
            return None
        lhs: float | None = float(r["ratio"])
    elif plus:
        if anchor is None:
            return None
        lhs = _convert(r["value"] - anchor["value"], r["unit"], unit)
    else:
        lhs = _convert(r["value"], r["unit"], unit)
    if lhs is None or math.isnan(lhs):
        return None
    if op == "<=":
        return lhs <= num
    if op == ">=":
        return lhs >= num
    if op == "<":
        return lhs < num
    if op == ">":
        return lhs > num
    return lhs == num


# -- statistics ---------------------------------------------------------------------------


def completion_json(
    model: str, reply: str, *, prompt: int = 40, completion: int = 10, cached: int = 30
) -> bytes:
    """A canned Ark ``chat.completion`` body for the in-process mock transports."""
    body = {
        "id": "cmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }
    return json.dumps(body).encode()


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    s = sorted(values)
    if len(s) == 1:
        return float(s[0])
    k = (len(s) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return float(s[lo] + (s[hi] - s[lo]) * (k - lo))


# -- timing -------------------------------------------------------------------------------


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0


def time_per_call(
    fn: Callable[[], Any], *, number: int = 100, repeats: int = 5, warmup: int = 10
) -> float:
    """Median over ``repeats`` of the mean µs per call of ``fn`` over ``number`` calls.

    GC is disabled inside each repeat (and collected between repeats) so that one unlucky
    collection does not land in a single sample."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    enabled = gc.isenabled()
    try:
        for _ in range(repeats):
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - t0) / number * 1e6)
            if enabled:
                gc.enable()
    finally:
        if enabled:
            gc.enable()
    return median(samples)


async def atime_per_call(
    fn: Callable[[], Awaitable[Any]], *, number: int = 100, repeats: int = 5, warmup: int = 10
) -> float:
    """Async twin of :func:`time_per_call` (awaits ``fn()`` sequentially)."""
    for _ in range(warmup):
        await fn()
    samples: list[float] = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(number):
            await fn()
        samples.append((time.perf_counter() - t0) / number * 1e6)
    return median(samples)


def run_async(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on a fresh event loop (benchmarks are plain sync functions)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


# -- import time --------------------------------------------------------------------------

_IMPORT_PROBE = (
    "import sys, time\n"
    "t0 = time.perf_counter()\n"
    "exec(sys.argv[1])\n"
    "print((time.perf_counter() - t0) * 1000.0)\n"
)


def _import_once(exe: str, statement: str) -> float:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    # Measure what users get: bytecode cached. With PYTHONDONTWRITEBYTECODE set (as on this
    # machine) our editable package would be recompiled on every run, while site-packages
    # ship precompiled; the warm-up round then writes the caches.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [exe, "-c", _IMPORT_PROBE, statement],
        capture_output=True,
        text=True,
        check=False,
        cwd=str(REPO_ROOT),
        env=env,
        timeout=120,
    )
    if out.returncode != 0:
        err = out.stderr.strip()[-400:]
        raise RuntimeError(f"{statement!r} failed in a fresh interpreter: {err}")
    return float(out.stdout.strip().splitlines()[-1])


def import_times_ms(
    statements: Sequence[str], *, repeats: int = 7, python: str | None = None
) -> list[float]:
    """Median wall time (ms) of executing each statement (e.g. ``"import httpx"``) in a
    fresh interpreter, measured inside that interpreter (start-up excluded).

    Statements are interleaved (A, B, A, B, ...) so drift in machine load hits all of them
    alike; one warm-up round (filling bytecode caches) is discarded."""
    exe = python or sys.executable
    samples: list[list[float]] = [[] for _ in statements]
    for i in range(repeats + 1):
        for j, stmt in enumerate(statements):
            ms = _import_once(exe, stmt)
            if i:
                samples[j].append(ms)
    return [median(s) for s in samples]


def import_time_ms(statement: str, *, repeats: int = 7, python: str | None = None) -> float:
    """:func:`import_times_ms` for one statement."""
    return import_times_ms([statement], repeats=repeats, python=python)[0]


# -- memory -------------------------------------------------------------------------------


def deep_sizeof(obj: Any) -> int:
    """Bytes reachable from ``obj`` (``sys.getsizeof`` summed over the object graph, each
    object once), skipping classes, modules and functions, which are shared code."""
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    seen: set[int] = set()
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, skip):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        stack.extend(gc.get_referents(o))
    return total


# -- processes and sockets ----------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str, *, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Poll ``url`` until it answers any HTTP status (raises RuntimeError on timeout or if
    ``proc`` exits first)."""
    import httpx

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server process exited with {proc.returncode} before answering {url}"
            )
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s ({last!r})")


def out_dir() -> Path:
    """``benchmarks/out`` (gitignored), created on demand, for CSVs the notebooks read."""
    d = REPO_ROOT / "benchmarks" / "out"
    d.mkdir(parents=True, exist_ok=True)
    return d


def dumps_rows(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, allow_nan=True)
