"""`python -m hpsearch` runs the command line."""

from __future__ import annotations

from hpsearch.cli import main

main()
