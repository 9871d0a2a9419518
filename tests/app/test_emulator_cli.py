"""`ark-context emulator`, started as a subprocess, answers the seed documents' curl examples
(their JSON bodies verbatim, placeholders filled, base URL changed to the emulator's)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

ENDPOINT = "ep-20250101000000-seed"
KEY = "seed-key"

# seed 000 (usage guide), step 1 and step 2
SEED_000_CREATE = {
    "model": "${YOUR_ENDPOINT_ID}",
    # the seed's full-width comma, escaped
    "messages": [{"role": "system", "content": "你是小爱\uff0c你只会说“我是小爱”"}],
    "ttl": 3600,
    "truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 4096},
}
SEED_000_CHAT = {
    "context_id": "${YOUR_CONTEXT_ID}",
    "model": "${YOUR_ENDPOINT_ID}",
    "messages": [{"role": "user", "content": "给我讲个故事"}],
}
# seed 001 (ContextCreate)
SEED_001_CREATE = {
    "model": "<YOUR_ENDPOINT_ID>",
    "messages": [{"role": "system", "content": "你是李雷,你只会说“我是李雷”"}],
    "mode": "session",
    "ttl": 3600,
    "truncation_strategy": {"type": "last_history_tokens", "last_history_tokens": 4096},
}
# seed 002 (a gateway's ContextCreate; its base URL is /v1, here /api/v3)
SEED_002_CREATE = {
    "model": "Doubao-1.5-pro-32k",
    "messages": [
        {"role": "system", "content": "请扮演一位友好的客服"},
        {"role": "user", "content": "你好"},
    ],
    "mode": "session",
    "ttl": 3600,
}
# seed 004 (ContextChatCompletions)
SEED_004_CHAT = {
    "context_id": "<YOUR_CONTEXT_ID>",
    "model": "<YOUR_ENDPOINT_ID>",
    "messages": [{"role": "user", "content": "你好"}],
}
# seed 003 (ChatCompletions), the multi-round example's body
SEED_003_CHAT = {
    "model": "<Model>",
    "messages": [
        {"role": "system", "content": "你是豆包,是由字节跳动开发的 AI 人工智能助手"},
        {"role": "user", "content": "花椰菜是什么?"},
        {"role": "assistant", "content": "花椰菜又称菜花、花菜,是一种常见的蔬菜。"},
        {"role": "user", "content": "再详细点"},
    ],
}


def fill(body: dict[str, Any], context_id: str = "") -> dict[str, Any]:
    out = dict(body)
    if "model" in out and ("YOUR_ENDPOINT_ID" in out["model"] or out["model"] == "<Model>"):
        out["model"] = ENDPOINT
    if "context_id" in out:
        out["context_id"] = context_id
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("ark-context")
    if script.exists():
        return [str(script)]
    found = shutil.which("ark-context")
    return [found] if found else [sys.executable, "-m", "ark_context_app.cli"]


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*cli_command(), "emulator", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{root}/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"the emulator CLI did not come up (exit {proc.returncode}): {out}")
            time.sleep(0.05)
        yield root
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def test_cli_answers_the_seed_examples(server: str):
    base = f"{server}/api/v3"
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as c:
        # seed 000: create, then chat on the returned id
        r = c.post("/context/create", json=fill(SEED_000_CREATE))
        assert r.status_code == 200, r.text
        created = r.json()
        assert created["id"].startswith("ctx-")
        assert created["usage"]["prompt_tokens"] == 18
        r = c.post("/context/chat/completions", json=fill(SEED_000_CHAT, created["id"]))
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"].endswith("echo: 给我讲个故事")

        # seed 001: the documented response has these fields (usage.prompt_tokens 18 too)
        r = c.post("/context/create", json=fill(SEED_001_CREATE))
        assert r.status_code == 200, r.text
        body = r.json()
        assert {"id", "model", "ttl", "mode", "truncation_strategy", "usage"} <= set(body)
        assert body["usage"] == {
            "prompt_tokens": 18,
            "completion_tokens": 0,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 0},
        }

        # seed 004: chat on the seed 001 context; cached part = the 18 create tokens
        r = c.post("/context/chat/completions", json=fill(SEED_004_CHAT, body["id"]))
        assert r.status_code == 200, r.text
        usage = r.json()["usage"]
        assert usage["prompt_tokens_details"]["cached_tokens"] == 18
        assert usage["prompt_tokens"] > 18
        assert r.json()["object"] == "chat.completion"

        # seed 002: a create seeded with a system and a user message (model name as given)
        r = c.post("/context/create", json=SEED_002_CREATE)
        assert r.status_code == 200, r.text
        assert r.json()["mode"] == "session" and r.json()["ttl"] == 3600

        # seed 003: plain chat completions, multi-round
        r = c.post("/chat/completions", json=fill(SEED_003_CHAT))
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
        assert r.headers["x-request-id"]

    contexts = httpx.get(f"{server}/_emulator/contexts").json()["contexts"]
    assert len(contexts) == 3


def test_cli_binds_loopback_by_default_and_announces_the_url():
    proc = subprocess.Popen(
        [*cli_command(), "emulator", "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.strip().rsplit(" ", 1)[1]
        assert url.endswith("/api/v3")
        r = httpx.post(
            f"{url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": "Bearer x"},
            timeout=10,
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == 0


def test_cli_rejects_a_taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        done = subprocess.run(
            [*cli_command(), "emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert "cannot bind" in done.stderr


def _startup_output(*extra: str) -> str:
    """Everything `ark-context emulator` prints from start to a clean SIGINT shutdown."""
    proc = subprocess.Popen(
        [*cli_command(), "emulator", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    assert "listening on" in lines[0], lines
    base_url = lines[0].strip().rsplit(" ", 1)[1]
    assert httpx.get(base_url.replace("/api/v3", "/_emulator/health"), timeout=5).status_code == 200
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate(timeout=10)
    return "".join(lines) + rest


def test_cli_is_quiet_by_default_and_verbose_on_request():
    quiet = _startup_output()
    assert "INFO" not in quiet and "Uvicorn running" not in quiet
    assert "Responses" in quiet  # the banner names both APIs
    verbose = _startup_output("--log-level", "info")
    assert "INFO" in verbose
