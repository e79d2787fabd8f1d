"""`hpsearch token create / list / revoke` against the in-process controller."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hpsearch import Client
from hpsearch.cli import app, connection

runner = CliRunner()


@pytest.fixture
def cli(client: Client, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(connection, "connect", lambda controller, token: client)
    return runner


def test_create_prints_the_secret_once_and_list_shows_only_its_prefix(
    cli: CliRunner, client: Client
) -> None:
    created = cli.invoke(app, ["token", "create", "--scope", "worker", "--name", "node7"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("hps_") and len(secret) > 40
    listed = cli.invoke(app, ["token", "list"])
    assert listed.exit_code == 0 and "node7" in listed.stdout and "worker" in listed.stdout
    assert secret not in listed.stdout and secret[:10] in listed.stdout
    [row] = client.list_tokens()
    assert row["revoked_at"] is None


def test_revoke_marks_the_token_revoked(cli: CliRunner, client: Client) -> None:
    cli.invoke(app, ["token", "create", "--scope", "user", "--name", "alice"])
    revoked = cli.invoke(app, ["token", "revoke", "alice"])
    assert revoked.exit_code == 0 and "alice revoked" in revoked.stdout
    [row] = client.list_tokens()
    assert row["revoked_at"] is not None


def test_a_bad_scope_is_one_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["token", "create", "--scope", "root", "--name", "x"])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 422") and "scope" in lines[0]
