"""Ids as they arrive in paths and bodies: positive and within a 32-bit column."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["MAX_ID", "StudyId", "WorkId"]

MAX_ID = 2_147_483_647

StudyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The study's id.")]
WorkId = Annotated[int, Path(ge=1, le=MAX_ID, description="The id a claim answered with.")]
