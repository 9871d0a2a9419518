"""The benchmark harness: target grammar, row checks, ratios, percentiles, the report."""

from __future__ import annotations

import math

import pytest

from benchmarks import __main__ as runner
from benchmarks._harness import (
    check_target,
    fill_ratios,
    parse_target,
    percentile,
    row,
    validate_row,
)


@pytest.mark.parametrize(
    ("target", "parsed"),
    [
        ("<= 1.3x", ("<=", False, 1.3, "x")),
        (">= 10x", (">=", False, 10.0, "x")),
        ("<= 200 us", ("<=", False, 200.0, "us")),
        ("<= +30 ms", ("<=", True, 30.0, "ms")),
        (">= 2000 req/s", (">=", False, 2000.0, "req/s")),
        ("== 0", ("==", False, 0.0, "")),
        ("== 1000", ("==", False, 1000.0, "")),
        ("< 5B", ("<", False, 5.0, "B")),
    ],
)
def test_parse_target(target: str, parsed: tuple[str, bool, float, str]) -> None:
    assert parse_target(target) == parsed


@pytest.mark.parametrize("target", ["", "about 3x", "<= x", "<= +2x", "=< 3", "<= 1.3 x y"])
def test_parse_target_rejects(target: str) -> None:
    assert parse_target(target) is None


def test_ratio_targets() -> None:
    base = row("s", "base", 2.0, "us")
    ours = row("s", "ours", 2.5, "us", anchor="base", target="<= 1.3x")
    fill_ratios([base, ours])
    assert ours["ratio"] == pytest.approx(1.25)
    assert check_target(ours, base) is True
    ours["value"], ours["ratio"] = 3.0, None
    fill_ratios([base, ours])
    assert check_target(ours, base) is False


def test_ratio_target_without_anchor_is_not_judged() -> None:
    r = row("s", "lonely", 1.0, "us", target="<= 1.3x")
    assert check_target(r) is None


def test_value_targets_convert_time_and_bytes() -> None:
    assert check_target(row("s", "a", 150.0, "us", target="<= 200 us")) is True
    assert check_target(row("s", "a", 0.15, "ms", target="<= 200 us")) is True
    assert check_target(row("s", "a", 0.25, "ms", target="<= 200 us")) is False
    assert check_target(row("s", "a", 0.4, "KB", target="<= 500 B")) is True
    assert check_target(row("s", "a", 2500.0, "req/s", target=">= 2000 req/s")) is True
    # Units that do not convert are not judged rather than guessed.
    assert check_target(row("s", "a", 2500.0, "turns/s", target=">= 2000 req/s")) is None
    assert check_target(row("s", "a", 1.0, "ms", target="<= 500 B")) is None


def test_unitless_and_equality_targets() -> None:
    assert check_target(row("s", "errors", 0, "errors", target="== 0")) is True
    assert check_target(row("s", "errors", 1, "errors", target="== 0")) is False
    assert check_target(row("s", "n", 1000, "contexts", target="== 1000")) is True


def test_delta_target() -> None:
    base = row("s", "deps", 100.0, "ms")
    ours = row("s", "ours", 125.0, "ms", anchor="deps", target="<= +30 ms")
    assert check_target(ours, base) is True
    ours["value"] = 131.0
    assert check_target(ours, base) is False
    assert check_target(ours, None) is None


def test_validate_row() -> None:
    assert validate_row(row("s", "n", 1.0, "us")) is None
    assert "misses" in (validate_row({"section": "s", "name": "n"}) or "")
    assert "number" in (validate_row({**row("s", "n", 1.0, "us"), "value": "fast"}) or "")
    assert "number" in (validate_row({**row("s", "n", 1.0, "us"), "value": True}) or "")
    bad_target = row("s", "n", 1.0, "us", target="fast enough")
    assert "grammar" in (validate_row(bad_target) or "")
    assert "dict" in (validate_row([1, 2]) or "")


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


def test_render_marks_unmet_targets_and_failures() -> None:
    rows = fill_ratios(
        [
            row("Speed", "base", 1.0, "us"),
            row("Speed", "ours", 2.0, "us", anchor="base", target="<= 1.3x", note="a|b"),
            row("Errors", "errors", 0, "errors", target="== 0"),
        ]
    )
    for r in rows:
        r["module"] = "x"
    text = runner.render(
        rows,
        [("broken", "exit status 1: boom")],
        [("x", 1.0, 3, "ok"), ("broken", 0.5, 0, "failed")],
        smoke=False,
        total_seconds=1.5,
        argv=[],
    )
    assert "## Speed" in text and "## Errors" in text
    assert "| ours | 2 | us | base | 2x | `<= 1.3x` | **NO** |" in text
    assert "| errors | 0 | errors |  |  | `== 0` | yes |" in text
    assert "a\\|b" in text  # a pipe in a note does not break the table
    assert "1 not met" in text and "## Failures" in text and "boom" in text
    assert "| Speed | ours | 2 us | 2x | `<= 1.3x` | **NO** |" in text
    for heading in ("## Machine", "## Package versions", "| httpx |", "| uvicorn |"):
        assert heading in text


def test_discover_finds_every_bench_module() -> None:
    topics = runner.discover()
    for expected in ("routing", "economics", "scale", "imports"):
        assert expected in topics
    assert topics.index("routing") < topics.index("economics") < topics.index("scale")
