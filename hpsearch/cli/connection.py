"""How a command reaches the controller: the `--controller` and `--token` options, defined
once, and `open_client`, which builds the Client and turns any error of the controller (or
its absence) into one line on stderr.

Tests point the commands at an in-process app by replacing `connect`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from hpsearch.cli.output import fail
from hpsearch.client import DEFAULT_URL, Client
from hpsearch.errors import ApiError, HpsearchError, describe

__all__ = [
    "API_ERROR",
    "DEFAULT_URL",
    "ControllerOption",
    "StudyArgument",
    "TokenOption",
    "connect",
    "explain",
    "open_client",
]

API_ERROR = 1

ControllerOption = Annotated[
    str,
    typer.Option(
        "--controller", envvar="HPSEARCH_URL", help="The controller's URL.", show_envvar=True
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="HPSEARCH_TOKEN", help="An API token.", show_default=False),
]
StudyArgument = Annotated[str, typer.Argument(help="The study's id or name.", show_default=False)]


def connect(controller: str, token: str | None) -> Client:
    """The Client every command uses."""
    return Client(controller, token)


def explain(error: HpsearchError) -> str:
    """One line for an error of the client: `422: space.filters: low (128) must be ...`."""
    if isinstance(error, ApiError):
        return f"{error.status}: {describe(error.detail)}"
    return str(error)


@contextmanager
def open_client(controller: str, token: str | None) -> Iterator[Client]:
    """A Client for the block; an error from the controller ends the command with one line."""
    client = connect(controller, token)
    try:
        yield client
    except HpsearchError as exc:
        fail(explain(exc), API_ERROR)
    finally:
        client.close()
