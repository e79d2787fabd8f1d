"""`hpsearch ...` command lines checked against the real CLI: the command exists (groups such
as `token` included), it takes the options given, and click parses the whole line."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from hpsearch.cli import app


def resolve(argv: list[str], where: str) -> tuple[Any, str, list[str]]:
    """The click command `hpsearch ...` runs, its name, and the arguments left for it."""
    assert argv and Path(argv[0]).name == "hpsearch", f"{where}: runs {argv}, not hpsearch"
    command, name, rest = typer.main.get_command(app), "hpsearch", list(argv[1:])
    while getattr(command, "commands", None):
        assert rest, f"{where}: `{name}` without a command"
        commands = command.commands
        assert rest[0] in commands, (
            f"{where}: `{name} {rest[0]}` is no command ({sorted(commands)})"
        )
        command, name, rest = commands[rest[0]], f"{name} {rest[0]}", rest[1:]
    return command, name, rest


def check_command_line(argv: list[str], where: str, *, parse: bool = True) -> None:
    """`hpsearch <command> [options]` names a command and only its options; with `parse`,
    click also parses it (values, types, ranges, stray arguments)."""
    command, name, rest = resolve(argv, where)
    known = {"--help"} | {
        opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
    }
    for token in rest:
        flag = token.split("=", 1)[0]
        if flag.startswith("-"):
            assert flag in known, f"{where}: `{name}` has no option {flag}"
    if parse:
        try:
            command.make_context(name, list(rest))
        except Exception as exc:  # click's usage errors; anything else is as bad
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            pytest.fail(f"{where}: `{shlex.join(argv)}`: {message}")
