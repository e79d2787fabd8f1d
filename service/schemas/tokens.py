"""Bodies of the token resource."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TokenCreate", "TokenCreated", "TokenPublic"]

NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="Unique; e.g. node7 or alice.")
    scope: Literal["admin", "user", "worker"]
    owner: str | None = Field(
        default=None, pattern=NAME, description="Whose studies a user token sees (default: name)."
    )


class TokenPublic(BaseModel):
    token_id: int
    name: str
    scope: str
    owner: str
    prefix: str
    created_at: float
    revoked_at: float | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret: shown this once, stored only as a hash.")
