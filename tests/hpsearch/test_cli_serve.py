"""`hpsearch serve` refuses, in one line, a database it cannot use, before it binds a port."""

from __future__ import annotations

import pytest
import uvicorn
from typer.testing import CliRunner

from hpsearch.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve went on to start uvicorn")

    monkeypatch.setattr(uvicorn, "run", refuse)
    monkeypatch.delenv("HPSEARCH_DATABASE_URL", raising=False)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test",
            "error: cannot open postgresql+psycopg://postgres:***@127.0.0.1:1/test: connection"
            " failed: ",
        ),
        ("mysql://someone@db.invalid/hp", "error: no database driver for mysql is installed"),
        ("postgresql+psycopg://a:b@[bad", "error: cannot open postgresql+psycopg://a:***@[bad: "),
    ],
)
def test_a_database_it_cannot_use_is_one_line_without_the_password(url: str, said: str) -> None:
    result = runner.invoke(app, ["serve", "--database-url", url, "--processes", "2"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(said), result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
