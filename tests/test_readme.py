"""The README stays true: its commands exist and parse, its paths and settings exist, the
REST table matches the app, and the files it links are there."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from service import Settings
from service.app import create_app
from tests.support.commands import check_command_line

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
OPERATORS = {"|", "||", "&", "&&", ";", "(", ")"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def simple_commands(line: str) -> list[list[str]]:
    """A shell line's simple commands, split at operators and `$(`, quotes respected, leading
    VAR=value assignments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in OPERATORS:
            commands.append([])
        elif not (ASSIGNMENT.match(token) and not commands[-1]):
            commands[-1].append(token)
    return [c for c in commands if c]


def readme_commands() -> list[list[str]]:
    """Every `hpsearch ...` the README runs, in its bash blocks and in inline code."""
    found = []
    for block in [*BASH_BLOCKS, *re.findall(r"`(hpsearch [^`]+)`", README)]:
        for line in block.replace("\\\n", " ").splitlines():
            found += [c for c in simple_commands(line) if c[0] == "hpsearch"]
    return found


def test_the_two_commands_are_shown() -> None:
    assert "make demo" in README and "make test" in README


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda a: " ".join(a[:3]))
def test_every_hpsearch_command_in_the_readme_parses(argv: list[str]) -> None:
    check_command_line(argv, "README.md")


def test_the_readme_shows_the_main_commands() -> None:
    shown = {argv[1] for argv in readme_commands()}
    assert {"serve", "worker", "submit", "leaderboard", "download", "token"} <= shown


@pytest.mark.parametrize(
    "path",
    ["search_spaces/examples/digits_cnn.yaml", "docs/keras_tuner.md", "BENCHMARKS.md",
     "RELIABILITY.md", "docker-compose.yml", "deploy/Dockerfile", "deploy/k8s"],
)  # fmt: skip
def test_the_files_it_names_exist(path: str) -> None:
    assert (ROOT / path).exists()


def test_the_canonical_spec_is_the_readmes(tmp_path: Path) -> None:
    spec = (ROOT / "search_spaces/examples/digits_cnn.yaml").read_text()
    for line in ("name: digits-cnn", "pruner: hyperband", "retrain: {epochs: 20}"):
        assert line in spec and line in README


def test_the_settings_it_names_exist() -> None:
    named = set(re.findall(r"HPSEARCH_[A-Z_]+", README)) - {"HPSEARCH_URL", "HPSEARCH_TOKEN"}
    assert named <= set(Settings.env_names()), named - set(Settings.env_names())


def test_the_rest_table_matches_the_app(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/x.db", auth="off",
                              artifact_dir=tmp_path))  # fmt: skip
    served = {re.sub(r"\{[^}]+\}", "{}", p) for p in app.openapi()["paths"]}
    app.state.ctx.engine.dispose()
    table = re.findall(r"^\| `([^`]+)`", README, re.MULTILINE)
    paths = {re.sub(r"\{[^}]+\}", "{}", p.split()[-1].split("?")[0]) for p in table}
    paths |= {re.sub(r"\{[^}]+\}", "{}", p) for p in re.findall(r"`DELETE (/api/[^`]+)`", README)}
    missing = {p for p in paths if p.startswith("/") and p != "/" and p not in served}
    assert missing == set()
