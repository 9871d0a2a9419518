"""`ark-context demo` and `ark-context chat`, run as subprocesses the way a newcomer runs them.

Offline they start their own emulator. The "real service" path (ARK_API_KEY + --model) is
exercised against an emulator this test serves on loopback through ARK_BASE_URL, so the
numbers the commands print can be checked against the server's own records.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ark_context.emulator import run_emulator
from ark_context_app.agent_demo import AGENT_ANSWER, AGENT_PLAN
from ark_context_app.script import CHAT_TURNS, QUESTIONS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"^\s*(?P<kind>turn|query|step) (?P<n>\d+) · prompt (?P<prompt>\d+) tok · cached (?P<cached>\d+)"
    r" \((?P<pct>\d+)%\) · context (?P<outcome>\w+)",
    re.M,
)
SAVINGS = re.compile(r"Savings: input cost (\d+)% (less|more)")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARK_")}
    env.update(extra)
    return env


def _run(args: list[str], *, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ark_context_app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=_env(**env),
    )


def _lines(out: str, kind: str) -> list[dict[str, int | str]]:
    rows: list[dict[str, int | str]] = []
    for m in LINE.finditer(out):
        if m["kind"] == kind:
            rows.append(
                {
                    "n": int(m["n"]),
                    "prompt": int(m["prompt"]),
                    "cached": int(m["cached"]),
                    "outcome": m["outcome"],
                }
            )
    return rows


def _table_rows(out: str) -> list[list[str]]:
    """Data rows of the per-turn tables (box-drawn), as lists of cell texts."""
    rows = []
    for line in out.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells and cells[0].isdigit():
                rows.append(cells)
    return rows


def _check_chat_turns(turns: list[dict[str, int | str]], count: int) -> None:
    assert [t["n"] for t in turns] == list(range(1, count + 1))
    assert turns[0]["outcome"] == "created"
    for prev, cur in itertools.pairwise(turns):
        assert cur["outcome"] == "reused"
        assert 0 < int(cur["cached"]) < int(cur["prompt"])
        # the context holds the whole previous prompt (and its reply): all of it is cached now
        assert int(cur["cached"]) > int(prev["prompt"])


@pytest.fixture(scope="module")
def offline_demo() -> subprocess.CompletedProcess[str]:
    """`ark-context demo` with no ARK_* variables (run once for this module)."""
    return _run(["demo", "--chunk-delay", "0"])


def test_demo_offline_shows_cached_tokens_from_turn_2(
    offline_demo: subprocess.CompletedProcess[str],
) -> None:
    proc = offline_demo
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "local Ark emulator" in out
    chat = _lines(out, "turn")
    _check_chat_turns(chat, len(CHAT_TURNS))
    queries = _lines(out, "query")
    assert [q["outcome"] for q in queries] == ["created", "reused"]
    assert all(int(q["cached"]) > 0 for q in queries)
    # part 3: a tool agent on a Responses-API model, one chain, cached from step 2 on
    steps = _lines(out, "step")
    assert [s["outcome"] for s in steps] == ["created"] + ["reused"] * len(AGENT_PLAN)
    assert all(int(s["cached"]) * 10 >= int(s["prompt"]) * 8 for s in steps[1:])
    assert AGENT_ANSWER[:40] in out
    agent_cost = re.search(r"with plain calls \((\d+)% less; (\d\.\d\d)x\)", " ".join(out.split()))
    assert agent_cost is not None and float(agent_cost[2]) < 1
    # the tables repeat the per-turn lines: prompt and cached tokens per row
    rows = _table_rows(out)
    assert [(int(r[1].replace(",", "")), int(r[2].replace(",", ""))) for r in rows] == [
        (int(t["prompt"]), int(t["cached"])) for t in chat + queries + steps
    ]
    savings = SAVINGS.findall(out)
    assert len(savings) == 2 and savings[0][1] == "less" and int(savings[0][0]) > 50
    # the scripted replies were streamed
    assert CHAT_TURNS[-1][1] in out
    assert QUESTIONS[0][1] in out


def test_readme_quotes_the_demo_output(offline_demo: subprocess.CompletedProcess[str]) -> None:
    """The excerpt in README's quick start is what `make demo` prints (emulator token counts
    are deterministic; latencies are not compared)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    excerpt = readme.split("## Quick start", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    quoted = [r for r in _table_rows(excerpt) if r[0].isdigit()]
    assert len(quoted) >= 3
    proc = offline_demo
    assert proc.returncode == 0, proc.stdout + proc.stderr
    actual = {
        (str(t["n"]), f"{int(t['prompt']):,}", f"{int(t['cached']):,}")
        for t in _lines(proc.stdout, "turn")
    }
    for row in quoted:
        assert (row[0], row[1], row[2]) in actual, f"README row {row} is not what the demo prints"
    savings = next(line for line in excerpt.splitlines() if line.startswith("Savings:"))
    assert savings.strip() in " ".join(proc.stdout.split()), "README savings line is stale"


def test_demo_with_key_and_model_uses_the_configured_service() -> None:
    with run_emulator(api_keys=["sk-test-key"]) as emu:
        url = emu.base_url
        proc = _run(
            ["demo", "--model", "ep-20250101-test"],
            ARK_API_KEY="sk-test-key",
            ARK_BASE_URL=emu.base_url,
        )
        records = emu.records()
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert f"Volcengine Ark at {url}, endpoint ep-20250101-test" in out
    assert "sk-test-key" not in out + proc.stderr
    chats = [r for r in records if r["path"] == "/context/chat/completions"]
    creates = [r for r in records if r["path"] == "/context/create"]
    assert len(creates) == 2  # one session context, one shared QA prefix
    assert {r["model"] for r in records} == {"ep-20250101-test"}
    printed = _lines(out, "turn") + _lines(out, "query")
    # what the command printed is what the server billed, call by call
    assert [(p["prompt"], p["cached"]) for p in printed] == [
        (r["usage"]["prompt_tokens"], r["usage"]["prompt_tokens_details"]["cached_tokens"])
        for r in chats
    ]
    _check_chat_turns(_lines(out, "turn"), len(CHAT_TURNS))


def test_demo_model_without_key_says_what_to_set() -> None:
    proc = _run(["demo", "--model", "ep-x"])
    assert proc.returncode == 1
    assert "ARK_API_KEY" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_demo_wrong_key_is_a_clear_error() -> None:
    with run_emulator(api_keys=["right-key"]) as emu:
        proc = _run(["demo", "--model", "ep-x"], ARK_API_KEY="wrong-key", ARK_BASE_URL=emu.base_url)
    assert proc.returncode == 1
    assert "ArkAuthentication" in proc.stdout and "ARK_API_KEY" in proc.stdout
    assert "wrong-key" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_chat_three_typed_lines() -> None:
    proc = _run(
        ["chat", "--chunk-delay", "0"],
        stdin="Hello, I am planning a trip.\nI like temples.\nWhat did I say I like?\n",
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    turns = _lines(out, "turn")
    _check_chat_turns(turns, 3)
    assert all(int(t["cached"]) > 0 for t in turns[1:])
    assert "echo: What did I say I like?" in out
    assert out.rstrip().endswith("bye")


def test_chat_quit_stops_and_stats_prints_the_table() -> None:
    proc = _run(["chat", "--chunk-delay", "0"], stdin="one\n\n/stats\ntwo\n/quit\nthree\n")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert [t["n"] for t in _lines(out, "turn")] == [1, 2]
    assert "Turns so far" in out
    assert "echo: three" not in out


def test_chat_without_system_prompt_bypasses_turn_1_then_seeds() -> None:
    proc = _run(["chat", "--chunk-delay", "0", "--system", ""], stdin="a\nb\nc\n")
    turns = _lines(proc.stdout, "turn")
    assert [t["outcome"] for t in turns] == ["bypassed", "created", "reused"]
    assert turns[0]["cached"] == 0 and int(turns[2]["cached"]) > 0


def test_chat_on_the_configured_service_matches_server_records() -> None:
    with run_emulator(api_keys=["sk-chat"]) as emu:
        proc = _run(
            ["chat", "--model", "ep-chat"],
            stdin="first\nsecond\nthird\n",
            ARK_API_KEY="sk-chat",
            ARK_BASE_URL=emu.base_url,
        )
        chats = emu.records("/context/chat/completions")
        contexts = emu.contexts()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    turns = _lines(proc.stdout, "turn")
    assert [(t["prompt"], t["cached"]) for t in turns] == [
        (r["usage"]["prompt_tokens"], r["usage"]["prompt_tokens_details"]["cached_tokens"])
        for r in chats
    ]
    assert len(contexts) == 1  # one conversation, one context
    assert [r["sent"] for r in chats] == [
        [{"role": "user", "content": text}] for text in ("first", "second", "third")
    ]


@pytest.mark.parametrize("command", ["demo", "chat"])
def test_ark_model_without_key_falls_back_to_the_emulator(command: str) -> None:
    proc = _run([command, "--chunk-delay", "0"], stdin="hi\n", ARK_MODEL="ep-from-env")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "local Ark emulator" in proc.stdout
