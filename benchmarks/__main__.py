"""``python -m benchmarks [--smoke] [--only NAME ...] [--out PATH]``.

Runs every ``benchmarks/bench_*.py`` module's ``run(smoke)`` in its own fresh interpreter
(one at a time, so import times, memory and timings do not leak between modules), then
writes a Markdown report: ``benchmarks/RESULTS.md`` in full mode, and
``benchmarks/out/RESULTS-smoke.md`` in smoke mode (the committed report is never
overwritten by a smoke run).

A module that fails or times out becomes a row in the report's "Failures" section. In
smoke mode (``make test``) any failure makes the exit status 1, so rot is caught; in full
mode (``make bench``) the report is written with whatever worked, failures are listed,
and the exit status is 0 unless ``--strict`` is given.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from ._harness import REPO_ROOT, check_target, fill_ratios, validate_row

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "RESULTS.md"
SMOKE_OUT = BENCH_DIR / "out" / "RESULTS-smoke.md"

#: Report order; modules not listed follow alphabetically.
ORDER = [
    "routing",
    "economics",
    "patterns",
    "responses",
    "scale",
    "client",
    "store",
    "emulator",
    "langchain",
    "llama_index",
    "imports",
]
RUN_FIRST = ("imports",)
PACKAGES = [
    "httpx",
    "pydantic",
    "langchain-core",
    "langchain-openai",
    "llama-index-core",
    "llama-index-llms-openai-like",
    "volcengine-ark-runtime",
    "starlette",
    "uvicorn",
    "redis",
]
TIMEOUT_FULL = 360.0
TIMEOUT_SMOKE = 120.0


def discover() -> list[str]:
    """Topics of every ``bench_<topic>.py`` next to this file, in report order."""
    found = sorted(p.stem[len("bench_") :] for p in BENCH_DIR.glob("bench_*.py"))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda n: (rank.get(n, len(ORDER)), n))


# -- child: run one module ----------------------------------------------------------------


def run_child(topic: str, smoke: bool, json_path: str) -> int:
    """Import ``benchmarks.bench_<topic>``, run it, write its rows as JSON."""
    try:
        mod = importlib.import_module(f"benchmarks.bench_{topic}")
        run = getattr(mod, "run", None)
        if not callable(run):
            raise TypeError(f"benchmarks/bench_{topic}.py has no run(smoke) function")
        rows = run(smoke)
        if not isinstance(rows, list):
            raise TypeError(f"run() returned {type(rows).__name__}, expected a list of row dicts")
        problems = [p for p in (validate_row(r) for r in rows) if p]
        if problems:
            raise ValueError("invalid rows: " + "; ".join(problems[:5]))
        if not rows:
            raise ValueError("run() returned no rows")
    except BaseException:
        traceback.print_exc()
        return 1
    Path(json_path).write_text(json.dumps(rows, allow_nan=True))
    return 0


# -- parent: orchestrate ------------------------------------------------------------------


def run_module(
    topic: str, smoke: bool, timeout: float
) -> tuple[list[dict[str, Any]], str | None, float]:
    """Run one module in a subprocess: (rows, failure message or None, seconds)."""
    with tempfile.TemporaryDirectory(prefix="ark-bench-") as tmp:
        json_path = os.path.join(tmp, "rows.json")
        cmd = [sys.executable, "-m", "benchmarks", "--child", topic, "--json", json_path]
        if smoke:
            cmd.append("--smoke")
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd,
                cwd=str(REPO_ROOT),
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [], f"timed out after {timeout:.0f}s", time.perf_counter() - t0
        seconds = time.perf_counter() - t0
        if proc.returncode != 0 or not os.path.exists(json_path):
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-12:]
            return [], f"exit status {proc.returncode}: " + " | ".join(tail), seconds
        rows = json.loads(Path(json_path).read_text())
    for r in rows:
        r.setdefault("anchor", None)
        r.setdefault("ratio", None)
        r.setdefault("target", None)
        r.setdefault("note", None)
        r["module"] = topic
    return fill_ratios(rows), None, seconds


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": cpu,
        "Cores": f"{os.cpu_count()} logical ({affinity} usable by this process)",
        "Memory": mem,
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def git_revision() -> str:
    """Short commit of the checkout, with ``+dirty`` when tracked files differ."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=str(REPO_ROOT),
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=str(REPO_ROOT),
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def fmt_num(v: float | None) -> str:
    if v is None:
        return ""
    if v != v:  # NaN
        return "n/a"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_ratio(v: float | None) -> str:
    return "" if v is None else f"{fmt_num(v)}x"


def _cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def met_label(r: dict[str, Any], anchor: dict[str, Any] | None) -> str:
    ok = check_target(r, anchor)
    if r.get("target") is None:
        return ""
    return {True: "yes", False: "**NO**", None: "n/a"}[ok]


def render(
    rows: list[dict[str, Any]],
    failures: list[tuple[str, str]],
    timings: list[tuple[str, float, int, str]],
    *,
    smoke: bool,
    total_seconds: float,
    argv: list[str],
) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines: list[str] = []
    title = "Benchmark results" + (
        " (SMOKE run: tiny N, figures are not meaningful)" if smoke else ""
    )
    lines += [f"# {title}", ""]
    lines += [
        f"Generated by `python -m benchmarks{' ' + ' '.join(argv) if argv else ''}` on {now} "
        f"at commit `{git_revision()}` "
        f"in {total_seconds:.0f} s. Medians of repeats; ratios are `value / anchor`. "
        "The `target` grammar is described in [README.md](README.md#targets). "
        "Nothing here is asserted: a target that is not met is reported, not hidden.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_cell(v)} |" for k, v in machine_info().items()]
    lines += ["", "## Package versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in package_versions().items()]

    by_key = {(r["section"], r["name"]): r for r in rows}
    targeted = [r for r in rows if r.get("target")]
    verdicts = [check_target(r, by_key.get((r["section"], r.get("anchor")))) for r in targeted]
    lines += ["", "## Summary", ""]
    lines.append(
        f"{len(rows)} figures from {len(timings) - len(failures)} of {len(timings)} modules; "
        f"{len(targeted)} with a target: {verdicts.count(True)} met, "
        f"{verdicts.count(False)} not met, {verdicts.count(None)} not judged."
    )
    if targeted:
        lines += [
            "",
            "| section | figure | value | ratio | target | met? |",
            "|---|---|---:|---:|---|---|",
        ]
        for r, v in zip(targeted, verdicts, strict=True):
            met = {True: "yes", False: "**NO**", None: "n/a"}[v]
            lines.append(
                f"| {_cell(r['section'])} | {_cell(r['name'])} | {fmt_num(r['value'])} "
                f"{_cell(r['unit'])} | {fmt_ratio(r.get('ratio'))} | `{_cell(r['target'])}` | "
                f"{met} |"
            )
    if failures:
        lines += ["", f"**{len(failures)} module(s) failed**; see [Failures](#failures)."]

    sections: list[str] = []
    for r in rows:
        if r["section"] not in sections:
            sections.append(r["section"])
    for sec in sections:
        srows = [r for r in rows if r["section"] == sec]
        mods = sorted({r["module"] for r in srows})
        lines += ["", f"## {sec}", "", f"_From {', '.join(f'`bench_{m}.py`' for m in mods)}._", ""]
        lines += [
            "| name | value | unit | anchor | ratio | target | met? |",
            "|---|---:|---|---|---:|---|---|",
        ]
        notes: list[str] = []
        for r in srows:
            anchor = by_key.get((sec, r.get("anchor"))) if r.get("anchor") else None
            lines.append(
                "| "
                + " | ".join(
                    [
                        _cell(r["name"]),
                        fmt_num(r["value"]),
                        _cell(r["unit"]),
                        _cell(r.get("anchor") or ""),
                        fmt_ratio(r.get("ratio")),
                        f"`{_cell(r['target'])}`" if r.get("target") else "",
                        met_label(r, anchor),
                    ]
                )
                + " |"
            )
            if r.get("note"):
                notes.append(f"- **{_cell(r['name'])}**: {_cell(r['note'])}")
        if notes:
            lines += ["", "Notes:", "", *notes]

    if failures:
        lines += ["", "## Failures", "", "| module | error |", "|---|---|"]
        lines += [f"| `bench_{m}.py` | {_cell(err)[:1500]} |" for m, err in failures]

    lines += ["", "## Run", "", "| module | status | rows | seconds |", "|---|---|---:|---:|"]
    lines += [f"| `bench_{m}.py` | {st} | {n} | {s:.1f} |" for m, s, n, st in timings]
    lines += [f"| total | | {len(rows)} | {total_seconds:.1f} |", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    p.add_argument("--smoke", action="store_true", help="tiny N: checks every module still runs")
    p.add_argument("--only", nargs="+", metavar="NAME", help="topics to run (e.g. routing scale)")
    p.add_argument(
        "--out", type=Path, help="report path (default RESULTS.md; smoke: out/RESULTS-smoke.md)"
    )
    p.add_argument("--timeout", type=float, help="seconds per module before it is killed")
    p.add_argument(
        "--strict", action="store_true", help="exit 1 on a failed module in full mode too"
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        return run_child(args.child, args.smoke, args.json)

    topics = discover()
    if args.only:
        wanted = [n.removeprefix("bench_").removesuffix(".py") for n in args.only]
        unknown = [n for n in wanted if n not in topics]
        if unknown:
            print(
                f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(topics)}",
                file=sys.stderr,
            )
            return 2
        topics = [t for t in topics if t in wanted]
    out: Path = args.out or (SMOKE_OUT if args.smoke else DEFAULT_OUT)
    timeout = args.timeout or (TIMEOUT_SMOKE if args.smoke else TIMEOUT_FULL)

    mode = "smoke" if args.smoke else "full"
    print(f"benchmarks ({mode}): {len(topics)} modules, each in its own interpreter", flush=True)
    failures: list[tuple[str, str]] = []
    timings: list[tuple[str, float, int, str]] = []
    t_all = time.perf_counter()
    by_topic: dict[str, list[dict[str, Any]]] = {}
    # Import timing is the most sensitive to a busy machine: run it before the modules that
    # start servers and subprocesses; the report keeps ORDER.
    for topic in sorted(topics, key=lambda t: t not in RUN_FIRST):
        print(f"  bench_{topic:<14} ...", end="", flush=True)
        rows, err, seconds = run_module(topic, args.smoke, timeout)
        if err is None:
            print(f" ok      {seconds:6.1f} s  {len(rows)} rows", flush=True)
            timings.append((topic, seconds, len(rows), "ok"))
        else:
            print(f" FAILED  {seconds:6.1f} s  {err.rsplit(' | ', 1)[-1][:200]}", flush=True)
            failures.append((topic, err))
            timings.append((topic, seconds, 0, "failed"))
        by_topic[topic] = rows
    all_rows: list[dict[str, Any]] = [r for t in topics for r in by_topic.get(t, [])]
    total = time.perf_counter() - t_all

    seen: dict[tuple[str, str], str] = {}
    for r in all_rows:
        key = (r["section"], r["name"])
        if key in seen and seen[key] != r["module"]:
            print(
                f"  warning: {key} is reported by bench_{seen[key]} and bench_{r['module']}",
                file=sys.stderr,
            )
        seen.setdefault(key, r["module"])

    report = render(all_rows, failures, timings, smoke=args.smoke, total_seconds=total, argv=argv)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"wrote {out} ({len(all_rows)} rows) in {total:.0f} s", flush=True)
    if failures:
        print(
            f"{len(failures)} module(s) failed: {', '.join(m for m, _ in failures)}",
            file=sys.stderr,
        )
        if args.smoke or args.strict:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
