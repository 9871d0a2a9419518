"""``ark-context chat``: a session-mode REPL that shows cache statistics after every turn.

Each line read from stdin is one user turn (typed at a terminal, or piped from a script).
``/quit`` (or ``/exit``) or the end of input ends the chat; ``/stats`` prints the table so
far; ``/help`` lists the commands. After every reply one line shows the prompt and cached
tokens, the cache-hit share and what happened to the context; at the end a table and the
cost against full resend. Against the emulator the replies echo what the "model" saw.

LangChain, the adapter and rich are imported inside :func:`run_chat` (application code; the
core never imports a framework).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING

from ark_context import ArkError

from .backend import is_fatal, open_backend
from .costs import Totals, TurnStats
from .render import make_console, print_error, print_totals, turn_line, turn_table
from .streaming import stream_turn

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from rich.console import Console

    from langchain_ark_context import ChatArkContext

__all__ = ["DEFAULT_SYSTEM_PROMPT", "run_chat"]

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, concise assistant. Answer in a few sentences unless asked for more. "
    "Remember what the user told you earlier in this conversation."
)
#: The shortest ttl Ark allows: a chat's context stops costing storage an hour after its last use.
TTL = 3600
HELP = "commands: /stats (table so far), /help, /quit (or end of input)"


def _read_line(stdin: IO[str], con: Console, interactive: bool) -> str | None:
    """The next line, or None at end of input."""
    if interactive:
        try:
            return str(con.input("[bold cyan]you > [/]"))
        except EOFError:
            return None
    line = stdin.readline()
    if not line:
        return None
    from rich.text import Text

    text = line.rstrip("\r\n")
    con.print(Text.assemble(("you > ", "bold cyan"), text))  # keep piped transcripts readable
    return text


def run_chat(
    *,
    model: str | None = None,
    force_emulator: bool = False,
    system: str | None = None,
    chunk_delay: float = 0.02,
    stdin: IO[str] | None = None,
    console: Console | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Chat until ``/quit`` or end of input; returns the process exit status."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
    from rich.text import Text

    from langchain_ark_context import ChatArkContext

    con = console if console is not None else make_console()
    source = stdin if stdin is not None else sys.stdin
    interactive = source is sys.stdin and source.isatty()
    prompt = DEFAULT_SYSTEM_PROMPT if system is None else system
    turns: list[TurnStats] = []
    try:
        with open_backend(model, force_emulator=force_emulator, environ=environ,
                          chunk_delay=chunk_delay) as backend:  # fmt: skip
            if backend.note:
                con.print(Text.assemble(("note: ", "yellow"), backend.note))
            con.print(Text.assemble(("ark-context chat", "bold"), f" on the {backend.describe()}"))
            con.print(f"[dim]session mode; {HELP}[/]")
            if backend.is_emulator:
                con.print("[dim]The emulator's replies echo what the model saw.[/]")
            llm = ChatArkContext(**backend.settings(), mode="session", ttl=TTL)
            history: list[BaseMessage] = [SystemMessage(prompt)] if prompt else []
            while True:
                line = _read_line(source, con, interactive)
                if line is None:
                    break
                text = line.strip()
                if not text:
                    continue
                if text in ("/quit", "/exit"):
                    break
                if text == "/help":
                    con.print(HELP)
                    continue
                if text == "/stats":
                    con.print(turn_table("Turns so far", turns))
                    continue
                history.append(HumanMessage(text))
                stats = _turn(con, llm, history, len(turns) + 1)
                if stats is None:
                    history.pop()  # the turn failed: the next one starts from here again
                    continue
                reply, t = stats
                history.append(AIMessage(reply))
                turns.append(t)
                con.print(f"  [dim]{turn_line(t)}[/]")
    except ArkError as err:
        print_error(con, err)
        return 1
    except KeyboardInterrupt:
        con.print()
    if turns:
        con.print()
        con.print(turn_table("Per turn", turns))
        print_totals(con, Totals.of(turns))
    con.print("bye")
    return 0


def _turn(
    con: Console, llm: ChatArkContext, history: list[BaseMessage], n: int
) -> tuple[str, TurnStats] | None:
    """Stream one reply; None (after printing the error) when the call failed."""
    from rich.text import Text

    con.print(Text("model > ", "bold green"), end="")
    try:
        return stream_turn(con, llm, history, n)
    except ArkError as err:
        if is_fatal(err):
            raise
        print_error(con, err)
        return None
