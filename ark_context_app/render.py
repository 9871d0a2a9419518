"""Terminal output for the demo and the chat: per-turn tables, one-line turn stats, totals.

``rich`` is imported inside the functions (it is in the ``cli`` extra, not a core dependency).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from .costs import PRICE_CACHED_INPUT, PRICE_INPUT, PRICE_MODEL, Totals, TurnStats

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["make_console", "pct_less", "print_error", "print_totals", "turn_line", "turn_table"]

#: Width used when the output is not a terminal (pipes, CI logs), so tables do not wrap.
PIPE_WIDTH = 110


def make_console(file: IO[str] | None = None) -> Console:
    """A ``rich`` console; wide enough for the tables when writing to a pipe or a file."""
    from rich.console import Console

    console = Console(file=file, highlight=False)
    if not console.is_terminal:
        console = Console(file=file, highlight=False, width=PIPE_WIDTH)
    return console


def print_error(console: Console, err: BaseException) -> None:
    """``error: <class>: <message>``, plus what to check when the class says it."""
    from rich.text import Text

    from ark_context import ArkError

    from .backend import error_hint

    console.print(Text.assemble(("error: ", "bold red"), f"{type(err).__name__}: {err}"))
    hint = error_hint(err) if isinstance(err, ArkError) else None
    if hint:
        console.print(Text(f"       {hint}", "yellow"))


def turn_line(t: TurnStats, *, label: str = "turn") -> str:
    """One line of stats after a turn, e.g.
    ``turn 2 · prompt 612 tok · cached 540 (88%) · context reused · 95 ms``."""
    return (
        f"{label} {t.turn} · prompt {t.prompt_tokens} tok · cached {t.cached_tokens} "
        f"({t.hit_pct:.0f}%) · context {t.context_label} · {t.latency_s * 1000:.0f} ms"
    )


def turn_table(title: str, turns: Sequence[TurnStats], *, label: str = "Turn") -> Table:
    """A ``rich`` table with one row per turn."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    table.add_column(label, justify="right")
    table.add_column("Prompt tok", justify="right")
    table.add_column("Cached tok", justify="right")
    table.add_column("Cache hit", justify="right")
    table.add_column("Sent bytes", justify="right")
    table.add_column("Full resend ≈", justify="right")
    table.add_column("Latency", justify="right")
    table.add_column("Context", no_wrap=True)
    for t in turns:
        table.add_row(
            str(t.turn),
            f"{t.prompt_tokens:,}",
            f"{t.cached_tokens:,}",
            f"{t.hit_pct:.0f}%",
            f"{t.request_bytes:,}",
            f"{t.resend_bytes:,}",
            f"{t.latency_s * 1000:.0f} ms",
            t.context_label,
        )
    return table


def pct_less(ours: float, base: float) -> str:
    """``"68% less"`` / ``"5% more"`` for ``ours`` against ``base``; ``"-"`` without a base.

    >>> pct_less(32, 100), pct_less(105, 100), pct_less(1, 0)
    ('68% less', '5% more', '-')
    """
    if not base:
        return "-"
    change = 100.0 * (base - ours) / base
    return f"{change:.0f}% less" if change >= 0 else f"{-change:.0f}% more"


def print_totals(console: Console, totals: Totals) -> None:
    """Totals against resending the full history every turn: tokens, cost, bytes."""
    from rich.table import Table

    table = Table(
        title=f"Input cost at {PRICE_MODEL} prices: {PRICE_INPUT:.2f} CNY per million tokens, "
        f"{PRICE_CACHED_INPUT:.2f} cached",
        title_justify="left",
        title_style="bold",
    )
    table.add_column(f"{totals.turns} calls")
    table.add_column("Full-price tok", justify="right")
    table.add_column("Cached tok", justify="right")
    table.add_column("Input cost (CNY)", justify="right")
    table.add_column("Per 1,000 runs (CNY)", justify="right")
    table.add_column("Sent bytes", justify="right")
    table.add_row(
        "Full resend",
        f"{totals.prompt_tokens:,}",
        "0",
        f"{totals.baseline_cost:.6f}",
        f"{totals.baseline_cost * 1000:.2f}",
        f"≈ {totals.resend_bytes:,}",
    )
    table.add_row(
        "ark-context",
        f"{totals.full_price_tokens:,}",
        f"{totals.cached_tokens:,}",
        f"{totals.cost:.6f}",
        f"{totals.cost * 1000:.2f}",
        f"{totals.request_bytes:,}",
    )
    console.print(table)
    console.print(
        f"[bold]Savings:[/] input cost {pct_less(totals.cost, totals.baseline_cost)}, "
        f"request bytes {pct_less(totals.request_bytes, totals.resend_bytes)}; "
        f"{totals.hit_pct:.0f}% of all prompt tokens came from the cache. "
        f"(Full-price tokens with contexts: {totals.uncached_tokens:,} uncached + "
        f"{totals.create_tokens:,} to create contexts. Output tokens cost the same both ways; "
        "the small context storage fee per token-hour is not included.)"
    )
