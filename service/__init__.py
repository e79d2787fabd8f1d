"""The controller: a FastAPI app over SQL (SQLite or PostgreSQL) and Optuna.

Never imports TensorFlow or Keras: the controller image stays small and starts fast.
"""

from __future__ import annotations

from service.app import create_app
from service.settings import Settings

__all__ = ["Settings", "create_app"]
