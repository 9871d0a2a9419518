"""The ``ark-context`` command line: ``emulator`` (plus ``demo`` and ``chat``, added later).

>>> from ark_context.cli import build_parser
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
        from .emulator import Emulator, EmulatorError, serve
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
            print(f"Ark Context API emulator listening on {base_url}", flush=True)
            print(f"admin endpoints: {base_url.rsplit('/api/v3', 1)[0]}/_emulator/", flush=True)

        serve(emu, host=args.host, port=args.port, log_level=args.log_level, announce=announce)
    except EmulatorError as e:
        print(f"ark-context emulator: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    return 0


def _not_yet(name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        print(f"ark-context {name}: not yet available", file=sys.stderr)
        return 1

    return handler


def _add_emulator(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "emulator",
        help="run the local Ark Context API emulator",
        description="Serve the Ark Context API emulator (base URL http://HOST:PORT/api/v3).",
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
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level",
    )
    p.set_defaults(handler=_cmd_emulator)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Placeholder: the demo helper replaces this with the real `demo` subcommand.
    p = sub.add_parser("demo", help="run the offline demo (not yet available)")
    p.set_defaults(handler=_not_yet("demo"))


def _add_chat(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Placeholder: the chat helper replaces this with the real `chat` subcommand.
    p = sub.add_parser("chat", help="chat through the router (not yet available)")
    p.set_defaults(handler=_not_yet("chat"))


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
