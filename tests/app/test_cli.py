"""The `ark-context` argument parsing (the server itself: test_emulator_cli.py)."""

from __future__ import annotations

import pytest

from ark_context_app import cli


def test_emulator_defaults_bind_loopback():
    args = cli.build_parser().parse_args(["emulator"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    assert args.api_key is None
    args = cli.build_parser().parse_args(
        ["emulator", "--host", "0.0.0.0", "--port", "9000", "--api-key", "a", "--api-key", "b"]
    )
    assert (args.host, args.port, args.api_key) == ("0.0.0.0", 9000, ["a", "b"])


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]):
    assert cli.main([]) == 2
    assert "emulator" in capsys.readouterr().out


def test_bad_emulator_option_is_a_clear_error(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["emulator", "--chunk-tokens", "0"]) == 2
    assert "chunk_tokens" in capsys.readouterr().err
