"""`/api/v1/tokens`: token management, for admins only."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.auth import AdminDep, ContextDep
from service.schemas.ids import MAX_ID
from service.schemas.tokens import TokenCreate, TokenCreated, TokenPublic
from service.tables import TokenRow
from service.tokens import create_token, list_tokens, revoke_token

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


def _public(row: TokenRow) -> TokenPublic:
    return TokenPublic.model_validate(row, from_attributes=True)


@router.post("", status_code=201, response_model=TokenCreated)
def create(request: TokenCreate, ctx: ContextDep, principal: AdminDep) -> TokenCreated:
    """A new token; its secret is in this answer only."""
    row, secret = create_token(ctx, request)
    return TokenCreated(**_public(row).model_dump(), token=secret)


@router.get("", response_model=list[TokenPublic])
def list_all(ctx: ContextDep, principal: AdminDep) -> list[TokenPublic]:
    return [_public(row) for row in list_tokens(ctx)]


@router.delete("/{token}", status_code=204)
def revoke(token: str, request: Request, ctx: ContextDep, principal: AdminDep) -> Response:
    """Revoke a token by id or name."""
    by_id = token.isascii() and token.isdigit() and int(token) <= MAX_ID
    revoke_token(ctx, int(token) if by_id else token)
    request.app.state.authenticator.forget()
    return Response(status_code=204)
