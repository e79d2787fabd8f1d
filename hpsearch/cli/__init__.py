"""The `hpsearch` command. Each module in this package registers one group of commands.

Heavy imports (the controller, TensorFlow) happen inside the commands that need them, so
`hpsearch --help` and the client commands start fast.
"""

from __future__ import annotations

import typer

from hpsearch.cli import demo, fleet, model, results, serve, studies, tokens, worker

__all__ = ["app", "main"]

app = typer.Typer(
    name="hpsearch",
    help="Hyperparameter search for Keras image models: controller, workers, studies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Hyperparameter search for Keras image models: controller, workers, studies."""


for module in (studies, results, fleet, tokens, demo, model, serve, worker):
    module.register(app)


def main() -> None:
    app()
