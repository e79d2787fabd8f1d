"""hpsearch: the Python client and the `hpsearch` command.

from hpsearch import Client
client = Client("http://127.0.0.1:8000", token="hps_...")
"""

from __future__ import annotations

from hpsearch.client import Client
from hpsearch.errors import ApiError, ControllerUnreachable, HpsearchError

__all__ = ["ApiError", "Client", "ControllerUnreachable", "HpsearchError"]
