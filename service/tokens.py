"""API tokens: created by an admin (the secret is shown once), listed, revoked."""

from __future__ import annotations

import logging

from sqlalchemy import select

from service.auth import SCOPES, hash_token, new_token
from service.context import Context
from service.errors import Conflict, NotFound
from service.leases import db_time
from service.schemas.tokens import TokenCreate
from service.tables import TokenRow

__all__ = ["create_token", "list_tokens", "revoke_token"]

log = logging.getLogger(__name__)
PREFIX_LENGTH = 10


def create_token(ctx: Context, request: TokenCreate) -> tuple[TokenRow, str]:
    """A new token and its secret; the secret is not stored, only its hash."""
    assert request.scope in SCOPES
    secret = new_token()
    with ctx.serialized(), ctx.transaction() as session:
        if session.scalar(select(TokenRow.token_id).where(TokenRow.name == request.name)):
            raise Conflict(f"a token named {request.name!r} already exists")
        row = TokenRow(
            name=request.name,
            scope=request.scope,
            owner=request.owner or request.name,
            token_hash=hash_token(secret),
            prefix=secret[:PREFIX_LENGTH],
            created_at=db_time(session),
        )
        session.add(row)
        session.flush()
    log.info("token %s (%s, owner %s) created", row.name, row.scope, row.owner)
    return row, secret


def list_tokens(ctx: Context) -> list[TokenRow]:
    with ctx.sessions() as session:
        return list(session.scalars(select(TokenRow).order_by(TokenRow.token_id)))


def revoke_token(ctx: Context, token: int | str) -> TokenRow:
    """Revoke by id or name; this controller forgets it at once, others within seconds."""
    with ctx.serialized(), ctx.transaction() as session:
        column = TokenRow.token_id if isinstance(token, int) else TokenRow.name
        row = session.scalars(select(TokenRow).where(column == token)).first()
        if row is None:
            raise NotFound(f"there is no token {token!r}")
        if row.revoked_at is None:
            row.revoked_at = db_time(session)
    log.info("token %s revoked", row.name)
    return row
