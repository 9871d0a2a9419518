"""README.md cannot rot: its Python snippets run, its configuration table is generated from
``ArkContextParams``, and every row of its bad-input table is reproduced here.

Regenerate the configuration table after changing a field:
``.venv/bin/python -m tests.docs.test_readme --write``.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ark_context import ArkContextParams

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TABLE_START = "<!-- config-table:start (generated: python -m tests.docs.test_readme --write) -->"
TABLE_END = "<!-- config-table:end -->"
MODELS_START = "<!-- models-table:start (generated: python -m tests.docs.test_readme --write) -->"
MODELS_END = "<!-- models-table:end -->"
SKIP_MARK = "<!-- readme-test: skip"

# -- the configuration table -----------------------------------------------------------------

_ENV = {"model": "ARK_MODEL", "api_key": "ARK_API_KEY", "base_url": "ARK_BASE_URL"}
_DEFAULT: dict[str, str] = {}  # a field whose signature default needs another wording


def _annotation(field: Any) -> str:
    from ark_context._settings import annotation_text

    return annotation_text(field.annotation).replace("SecretStr", "str")


def _default(name: str, field: Any) -> str:
    if name in _DEFAULT:
        return _DEFAULT[name]
    return f"`{field.default!r}`"


def _rows() -> list[tuple[str, Any, str]]:
    """(field, pydantic field, which class) for the shared fields, then the adapters' own."""
    from langchain_ark_context import ChatArkContext
    from llama_index_ark_context import ArkContextLLM

    rows = [(n, f, "") for n, f in ArkContextParams.model_fields.items()]
    rows.append(("context_window", ArkContextLLM.model_fields["context_window"], "ArkContextLLM"))
    rows.append(("streaming", ChatArkContext.model_fields["streaming"], "ChatArkContext"))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def config_table() -> str:
    lines = [
        "| Field | Type | Default | Environment | Meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field, only in _rows():
        doc = " ".join((field.description or "").split())
        if only:
            doc = f"{only} only. {doc}"
        env = f"`{_ENV[name]}`" if name in _ENV else ""
        annotation = _annotation(field)
        lines.append(
            f"| `{name}` | `{_cell(annotation)}` | {_default(name, field)} | {env} | {_cell(doc)} |"
        )
    return "\n".join(lines)


def _price(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def models_table() -> str:
    """One row per model family of :mod:`ark_context.catalog`: which caching API its Model
    IDs use, its caching modes, thinking values and structured output, its first-tier
    prices (CNY per million tokens) and its token limits."""
    from ark_context.catalog import MODELS

    lines = [
        "| Model IDs | Caching API | Modes | Tools | `thinking` | JSON / schema output "
        "| Input / cached / output (CNY per M tokens, first tier) "
        "| Window / max input / max output (tokens) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows: dict[tuple[Any, ...], list[Any]] = {}
    for info in MODELS.values():
        key = (info.family, info.api, info.modes, info.thinking, info.thinking_default)
        rows.setdefault((*key, info.structured_output, info.prices, info.limits), []).append(info)
    for infos in rows.values():
        first = infos[0]
        api = first.api
        ids = ", ".join(f"`{i.model_id}`" for i in infos)
        if first.thinking:
            thinking = " / ".join(
                f"**{t}**" if t == first.thinking_default else t for t in first.thinking
            )
        else:
            thinking = "not sent" if api == "responses" else "—"
        if api == "responses":
            tools = "cached in the chain"
            structured = "yes" if first.structured_output else "no"
        else:
            tools = "uncached (plain `/chat/completions`)"
            structured = "no"
        if first.prices is None:
            prices = "—"
        else:
            tier = first.prices.tiers[0]
            prices = " / ".join(
                (_price(tier.input), _price(first.prices.cached_input), _price(tier.output))
            )
        modes = ", ".join(first.modes)
        lim = first.limits
        limits = (
            "—"
            if lim is None
            else " / ".join(
                f"{n // 1024}k" for n in (lim.context_window, lim.max_input, lim.max_output)
            )
        )
        lines.append(
            f"| {ids} | {api} | {modes} | {tools} | {thinking} | {structured} | {prices} "
            f"| {limits} |"
        )
    return "\n".join(lines)


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _replace_between(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_config_table() -> None:
    text = _replace_between(_readme(), TABLE_START, TABLE_END, config_table())
    README.write_text(_replace_between(text, MODELS_START, MODELS_END, models_table()), "utf-8")


def test_config_table_is_generated_from_the_settings() -> None:
    text = _readme()
    assert TABLE_START in text and TABLE_END in text
    current = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert current == config_table(), (
        "README configuration table is stale: python -m tests.docs.test_readme --write"
    )
    for name in [*ArkContextParams.model_fields, "context_window", "streaming"]:
        assert f"| `{name}` |" in current


def test_models_table_is_generated_from_the_catalog() -> None:
    from ark_context.catalog import MODELS

    text = _readme()
    assert MODELS_START in text and MODELS_END in text
    current = text.split(MODELS_START, 1)[1].split(MODELS_END, 1)[0].strip()
    assert current == models_table(), (
        "README models table is stale: python -m tests.docs.test_readme --write"
    )
    for model_id in MODELS:
        assert f"`{model_id}`" in current


# -- the Python snippets ----------------------------------------------------------------------


def _snippets() -> list[tuple[int, str, bool]]:
    """(line number, code, skipped) for every ```python block."""
    out = []
    lines = _readme().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            j = start
            while lines[j].strip() != "```":
                j += 1
            before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            out.append((start + 1, "\n".join(lines[start:j]), before.startswith(SKIP_MARK)))
            i = j
        i += 1
    return out


SNIPPETS = _snippets()


def test_most_snippets_run() -> None:
    assert len(SNIPPETS) >= 6
    assert sum(1 for *_, skipped in SNIPPETS if not skipped) >= 4


@pytest.mark.parametrize(
    "line,code",
    [(line, code) for line, code, skipped in SNIPPETS if not skipped],
    ids=[f"README.md:{line}" for line, _, skipped in SNIPPETS if not skipped],
)
def test_snippet_runs(
    line: int, code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("ARK_API_KEY", "ARK_MODEL", "ARK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    compiled = compile(code, f"README.md:{line}", "exec")
    exec(compiled, {"__name__": "__readme__"})


# -- the bad-input table ----------------------------------------------------------------------


def _bad_input_rows() -> list[tuple[str, str]]:
    text = _readme()
    section = text.split("## What each mistake gets", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| Mistake") and "---" not in line:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows.append((cells[0], cells[1]))
    return rows


def _chat(**kw: Any) -> Any:
    from langchain_ark_context import ChatArkContext

    kw.setdefault("model", "ep-x")
    kw.setdefault("api_key", "sk-readme")
    return ChatArkContext(**kw)


def _scenarios(emu: Any, strict_url: str, small_url: str) -> dict[str, Callable[[], Any]]:
    from langchain_core.messages import (
        AIMessage,
        FunctionMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
    )

    from llama_index_ark_context import ArkContextLLM

    ok = {"base_url": emu.base_url}

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, text="<html>proxy login</html>", headers={"content-type": "text/html"}
        )

    return {
        "`ttl` outside [3600, 604800]": lambda: _chat(**ok, ttl=60),
        "Unknown `mode`": lambda: _chat(**ok, mode="cache"),
        'A price out of range (`prices={"cached_ratio": 1.5}`)': lambda: _chat(
            **ok, prices={"cached_ratio": 1.5}
        ),
        '`truncation_strategy` with `mode="common_prefix"`': lambda: _chat(
            **ok,
            mode="common_prefix",
            truncation_strategy={"type": "last_history_tokens", "last_history_tokens": 100},
        ),
        'A built-in tool (`{"type": "web_search"}`) in `bind_tools`': lambda: _chat(
            **ok
        ).bind_tools([{"type": "web_search"}]),
        "A `thinking` value the model does not take": lambda: _chat(
            **ok, model="doubao-seed-1-6-251015", thinking="auto"
        ),
        "Base URL without a scheme": lambda: _chat(base_url="ark.cn-beijing.volces.com/api/v3"),
        "Base URL ending in `/chat/completions`": lambda: _chat(
            base_url="https://gw.example/api/v3/chat/completions"
        ),
        "Ark's host without `/api/v3`": lambda: _chat(base_url="https://ark.cn-beijing.volces.com"),
        "A Context-API Model ID (`doubao-1-5-pro-32k-250115`) for `model`": lambda: _warns(
            lambda: _chat(**ok, model="doubao-1-5-pro-32k-250115")
        ),
        "No API key": lambda: _chat(api_key=None, **ok).invoke("hi"),
        "No model": lambda: _chat(model="", **ok).invoke("hi"),
        "Wrong API key": lambda: _chat(base_url=strict_url, api_key="sk-wrong").invoke("hi"),
        "Wrong endpoint id": lambda: _wrong_endpoint(emu),
        "Empty message list": lambda: _chat(**ok).invoke([]),
        "Last message from the assistant": lambda: _chat(**ok).invoke(
            [HumanMessage("hi"), AIMessage("hello")]
        ),
        "A tool result whose tool call is not in the history": lambda: _chat(**ok).invoke(
            [HumanMessage("hi"), ToolMessage("r", tool_call_id="1")]
        ),
        "A legacy `FunctionMessage` in the history": lambda: _chat(**ok).invoke(
            [HumanMessage("hi"), FunctionMessage("r", name="f"), HumanMessage("x")]
        ),
        "Images or other non-text content": lambda: _chat(**ok).invoke(
            [HumanMessage(content=[{"type": "image_url", "image_url": {"url": "http://x/y.png"}}])]
        ),
        "Lone surrogates in the text": lambda: _chat(**ok).invoke([HumanMessage("bad \ud800")]),
        "Prompt longer than the model's window": lambda: _chat(base_url=small_url).invoke(
            [SystemMessage("s"), HumanMessage("word " * 400)]
        ),
        "Server answers something that is not the Ark API": lambda: _chat(
            base_url="http://gateway.invalid/api/v3",
            http_client=httpx.Client(transport=httpx.MockTransport(garbage)),
        ).invoke([SystemMessage("s"), HumanMessage("hi")]),
        "Unknown keyword argument (`temprature=0.2`, `openai_api_base=...`)": lambda: _chat(
            **ok, temprature=0.2
        ),
        "LlamaIndex: same mistakes": lambda: ArkContextLLM(model="ep-x", api_key="k", ttl=60),
    }


def _wrong_endpoint(emu: Any) -> None:
    # The emulator accepts any endpoint id; inject the answer Ark documents for an unknown one
    # (on the plain call auto makes for a first sight).
    emu.inject_fault(
        "/chat/completions",
        "status",
        status=404,
        code="InvalidEndpointOrModel.NotFound",
        message="The model or endpoint ep-wrong does not exist or you do not have access to it.",
    )
    from langchain_core.messages import HumanMessage, SystemMessage

    _chat(model="ep-wrong", base_url=emu.base_url).invoke([SystemMessage("s"), HumanMessage("hi")])


def _warns(fn: Callable[[], Any]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    raise caught[0].message  # type: ignore[misc]


@pytest.fixture(scope="module")
def servers() -> Any:
    from ark_context.emulator import run_emulator

    with (
        run_emulator() as open_emu,
        run_emulator(api_keys=["sk-right"]) as strict,
        run_emulator(model_window=200) as small,
    ):
        yield open_emu, strict.base_url, small.base_url


def test_bad_input_table_is_true(servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ARK_API_KEY", "ARK_MODEL", "ARK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    rows = _bad_input_rows()
    scenarios = _scenarios(*servers)
    assert [m for m, _ in rows] == list(scenarios), "README rows and scenarios differ"
    for mistake, outcome in rows:
        expected = re.findall(r"`(\w+(?:Error|Warning))`", outcome)
        assert expected, f"row {mistake!r} names no error class"
        try:
            scenarios[mistake]()
        except BaseException as err:  # the table's claim is checked below
            names = {c.__name__ for c in type(err).__mro__}
            assert expected[0] in names, f"{mistake}: got {type(err).__name__}: {err}"
            quoted = re.findall(r'"([^"]+)"', outcome)
            for fragment in quoted:
                assert fragment in str(err), f"{mistake}: {fragment!r} not in {err}"
            assert "sk-wrong" not in str(err) and "sk-readme" not in str(err)
            continue
        pytest.fail(f"{mistake}: no error raised")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_config_table()
    else:
        print(config_table())
        print(models_table())
