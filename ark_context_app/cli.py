"""The ``ark-context`` command line: ``emulator``, ``demo`` and ``chat``.

>>> from ark_context_app.cli import build_parser
>>> build_parser().parse_args(["emulator", "--port", "0"]).port
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _cmd_emulator(args: argparse.Namespace) -> int:
    try:
        from ark_context.emulator import Emulator, EmulatorError, serve
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        print(
            f"ark-context emulator needs the 'emulator' extra: pip install 'ark-context[emulator]'"
            f" ({e})",
            file=sys.stderr,
        )
        return 2
    try:
        emu = Emulator(
            api_keys=args.api_key or None,
            model_window=args.model_window,
            latency=args.latency,
            chunk_delay=args.chunk_delay,
            chunk_tokens=args.chunk_tokens,
        )

        def announce(base_url: str) -> None:
            print(f"Ark API emulator (Context + Responses) listening on {base_url}", flush=True)
            print(f"admin endpoints: {base_url.rsplit('/api/v3', 1)[0]}/_emulator/", flush=True)

        serve(emu, host=args.host, port=args.port, log_level=args.log_level, announce=announce)
    except EmulatorError as e:
        print(f"ark-context emulator: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    return 0


def _app_missing(command: str, err: ImportError) -> int:
    print(
        f"ark-context {command} needs the adapters and rich: pip install 'ark-context[all]' "
        f"({err})",
        file=sys.stderr,
    )
    return 2


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from .demo import run_demo

        return run_demo(
            model=args.model,
            agent_model=args.agent_model,
            force_emulator=args.emulator,
            chunk_delay=args.chunk_delay,
        )
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        return _app_missing("demo", e)


def _cmd_chat(args: argparse.Namespace) -> int:
    try:
        from .chat import run_chat

        return run_chat(
            model=args.model,
            force_emulator=args.emulator,
            system=args.system,
            chunk_delay=args.chunk_delay,
        )
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        return _app_missing("chat", e)


def _add_backend_options(p: argparse.ArgumentParser, chunk_delay: float) -> None:
    p.add_argument(
        "--model",
        metavar="EP",
        help="Ark endpoint id (ep-...); with ARK_API_KEY set, talk to the real service "
        "(default: ARK_MODEL)",
    )
    p.add_argument(
        "--emulator",
        action="store_true",
        help="use the in-process emulator even when ARK_API_KEY and a model are set",
    )
    p.add_argument(
        "--chunk-delay",
        type=float,
        default=chunk_delay,
        help=f"emulator: seconds between streamed tokens (default {chunk_delay})",
    )


def _add_emulator(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "emulator",
        help="run the local Ark API emulator (Context API and Responses API)",
        description="Serve the Ark API emulator (base URL http://HOST:PORT/api/v3).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free)")
    p.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="accept only this key (repeatable); default: accept any non-empty key",
    )
    p.add_argument("--model-window", type=int, default=32768, help="model context window")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    p.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between SSE chunks")
    p.add_argument("--chunk-tokens", type=int, default=1, help="tokens per SSE chunk")
    p.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default warning: quiet; info shows uvicorn's own lines)",
    )
    p.set_defaults(handler=_cmd_emulator)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="see cache savings: a LangChain chat, a LlamaIndex query engine, a tool agent",
        description="Run a six-turn ChatArkContext chat (session mode), two LlamaIndex "
        "queries (common_prefix mode) and a tool-using agent on a current model (Responses "
        "API), then show per-turn cached tokens and the cost against resending the full "
        "history. Uses an in-process emulator unless ARK_API_KEY is set and an endpoint id "
        "is given (--model ep-... or ARK_MODEL).",
    )
    _add_backend_options(p, chunk_delay=0.01)
    p.add_argument(
        "--agent-model",
        default=None,
        help="on the real service: the Responses-API model for part 3, e.g. "
        "doubao-seed-1-6-251015 (default: part 3 is skipped there; the emulator uses its own)",
    )
    p.set_defaults(handler=_cmd_demo)


def _add_chat(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "chat",
        help="chat in session mode and see cache statistics after every turn",
        description="An interactive chat through ChatArkContext (session mode). Reads one "
        "message per line from stdin (typed or piped); /quit or end of input exits. Uses an "
        "in-process emulator unless ARK_API_KEY is set and an endpoint id is given.",
    )
    _add_backend_options(p, chunk_delay=0.02)
    p.add_argument(
        "--system",
        default=None,
        help="system prompt (default: a short assistant prompt; '' for none, then turn 1 "
        "goes through plain /chat/completions)",
    )
    p.set_defaults(handler=_cmd_chat)


#: Subcommand registrars, in help order. Add new subcommands here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_emulator,
    _add_demo,
    _add_chat,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ark-context", description="Volcengine Ark Context API tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ark-context`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
