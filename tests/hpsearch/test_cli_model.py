"""Tests for hpsearch/cli/model.py: `hpsearch model TEMPLATE` prints a model's summary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.cli.model import CommandError, parse_input_shape, parse_setting

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = ROOT / "search_spaces" / "examples" / "digits_cnn.yaml"

runner = CliRunner()


def weight_line(output: str) -> tuple[int, int]:
    found = re.search(r"weights: ([\d,]+) \(estimate from the spec: ([\d,]+)", output)
    assert found, output
    return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))


@pytest.mark.keras
def test_resnet_summary_shows_conv_add_layers_and_the_weight_count() -> None:
    result = runner.invoke(app, ["model", "resnet", "--input", "32,32,3", "--set", "filters=64"])
    assert result.exit_code == 0, result.output
    assert "(Conv2D)" in result.stdout
    assert "(Add)" in result.stdout
    assert "(RandomFlip)" in result.stdout
    built, estimate = weight_line(result.stdout)
    assert built == estimate
    assert built > 10_000_000  # stages of 64/128/256/512 filters


@pytest.mark.keras
def test_spec_file_model_uses_the_dataset_shape_and_the_set_values() -> None:
    result = runner.invoke(app, ["model", "--spec", str(CANONICAL), "--set", "filters=8"])
    assert result.exit_code == 0, result.output
    assert "(None, 8, 8, 8)" in result.stdout
    built, estimate = weight_line(result.stdout)
    assert built == estimate


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model", "vgg"], "unknown template 'vgg'"),
        (["model", "cnn", "--set", "filters"], "--set expects name=value"),
        (["model", "cnn", "--set", "filterz=3"], "no hyperparameter 'filterz'"),
        (["model", "cnn", "--set", "filters=many"], "expected a number"),
        (["model", "cnn", "--input", "32,32"], "--input expects H,W,C"),
        (["model", "cnn", "--classes", "0"], "--classes must be at least 1"),
        (["model"], "name a template"),
        (
            [
                "model",
                "cnn",
                "--input",
                "8,8,1",
                "--set",
                "padding=valid",
                "--set",
                "kernel_size=5",
            ],
            "smaller than its window",
        ),
        (["model", "--spec", "/no/such/spec.yaml"], "cannot read"),
    ],
)
def test_bad_input_prints_one_clear_line_and_exits_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_set_values_are_read_as_bool_int_float_or_string() -> None:
    assert parse_setting("batch_norm=true") == ("batch_norm", True)
    assert parse_setting("flip=False") == ("flip", False)
    assert parse_setting("filters=64") == ("filters", 64)
    assert parse_setting("l2=1e-4") == ("l2", 1e-4)
    assert parse_setting("padding=valid") == ("padding", "valid")
    with pytest.raises(CommandError):
        parse_setting("l2=nan")


def test_input_shape_is_three_positive_integers() -> None:
    assert parse_input_shape("32,32,3") == (32, 32, 3)
    assert parse_input_shape("28x28x1") == (28, 28, 1)
    for bad in ("32,32", "0,32,3", "a,b,c", "32,32,3,1"):
        with pytest.raises(CommandError):
            parse_input_shape(bad)


def test_help_does_not_import_keras_or_tensorflow() -> None:
    code = (
        "import sys\n"
        "from hpsearch.cli import app\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(app, ['model', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert '--set' in result.output\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_python_dash_m_hpsearch_lists_the_model_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hpsearch", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "model" in done.stdout
