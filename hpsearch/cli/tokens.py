"""`hpsearch token create / list / revoke`: API tokens (needs an admin token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from hpsearch.cli.connection import DEFAULT_URL, ControllerOption, TokenOption, open_client
from hpsearch.cli.output import console

__all__ = ["register"]

tokens = typer.Typer(help="API tokens: create (the secret is shown once), list, revoke.")


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M") if stamp else "-"


@tokens.command("create")
def create(
    scope: Annotated[str, typer.Option(help="admin, user or worker.")],
    name: Annotated[str, typer.Option(help="A unique name, e.g. node7 or alice.")],
    owner: Annotated[
        str | None, typer.Option(help="Whose studies a user token sees (default: its name).")
    ] = None,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Create a token and print its secret (shown this once; only its hash is stored)."""
    with open_client(controller, token) as client:
        created = client.create_token(name, scope, owner)
    console.print(f"token {created['name']} ({created['scope']}, owner {created['owner']}):")
    typer.echo(created["token"])


@tokens.command("list")
def list_tokens(controller: ControllerOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """The tokens, without their secrets."""
    with open_client(controller, token) as client:
        rows = client.list_tokens()
    table = Table("id", "name", "scope", "owner", "prefix", "created", "revoked")
    for row in rows:
        created, revoked = _when(row["created_at"]), _when(row["revoked_at"])
        cells = (row["name"], row["scope"], row["owner"], row["prefix"] + "…", created, revoked)
        table.add_row(str(row["token_id"]), *cells)
    console.print(table)


@tokens.command("revoke")
def revoke(
    which: Annotated[str, typer.Argument(help="The token's name or id.", show_default=False)],
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Revoke a token: it stops working at once on this controller, within seconds on others."""
    with open_client(controller, token) as client:
        client.revoke_token(which)
    console.print(f"token {which} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(tokens, name="token")
