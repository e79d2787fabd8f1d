"""Tokens, scopes and ownership on every API route; limits on bodies, uploads and rates.

The route table below must name every `/api/` route of the app (a test checks), so a new
route cannot arrive without its wrong-scope and wrong-owner checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hpsearch import Client
from service import Settings, create_app
from tests.conftest import dispose
from tests.support.specs import spec

ADMIN = "admin-secret-for-tests-0123456789"


@dataclass
class World:
    http: TestClient
    tokens: dict[str, str]
    study_id: int
    work_id: int

    def as_(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def client(self, who: str) -> Client:
        return Client("http://testserver", self.tokens[who], http=self.http)


@pytest.fixture
def secured(database_url: str, tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient]]:
    settings = Settings(database_url=database_url, admin_token=ADMIN, reaper_interval=3600,
                        artifact_dir=tmp_path / "artifacts")  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as http:
        yield app, http
    dispose(app)


@pytest.fixture
def world(secured: tuple[FastAPI, TestClient]) -> World:
    _, http = secured
    admin = Client("http://testserver", ADMIN, http=http)
    tokens = {"admin": ADMIN}
    for name, scope in (
        ("alice", "user"),
        ("bob", "user"),
        ("node", "worker"),
        ("rogue", "worker"),
    ):
        tokens[name] = admin.create_token(name, scope)["token"]
    world = World(http, tokens, 0, 0)
    world.study_id = world.client("alice").create_study(spec()).study_id
    work = world.client("node").claim("node-1")
    assert work is not None
    world.work_id = work.work_id
    return world


REPORT = {"worker_id": "node-1", "epoch": 1, "metrics": {}}
FAILED = {"worker_id": "node-1", "status": "failed"}
# (method, path, body, scope group)
ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/v1/studies", spec(name="another"), "user"),
    ("GET", "/api/v1/studies", None, "user"),
    ("GET", "/api/v1/studies/{study_id}", None, "owner"),
    ("PATCH", "/api/v1/studies/{study_id}", {"priority": 3}, "owner"),
    ("DELETE", "/api/v1/studies/{study_id}", None, "owner"),
    ("GET", "/api/v1/studies/{study_id}/trials", None, "owner"),
    ("GET", "/api/v1/studies/{study_id}/leaderboard", None, "owner"),
    ("POST", "/api/v1/studies/{study_id}/retrain", {}, "owner"),
    ("GET", "/api/v1/studies/{study_id}/model", None, "owner"),
    ("GET", "/api/v1/workers", None, "user"),
    ("POST", "/api/v1/work/claim", {"worker_id": "node-2"}, "worker"),
    ("POST", "/api/v1/work/{work_id}/report", REPORT, "work"),
    ("POST", "/api/v1/work/{work_id}/heartbeat", {"worker_id": "node-1"}, "work"),
    ("POST", "/api/v1/work/{work_id}/complete", FAILED, "work"),
    ("PUT", "/api/v1/work/{work_id}/artifact?worker_id=node-1", b"x", "work"),
    ("POST", "/api/v1/tokens", {"name": "new", "scope": "user"}, "admin"),
    ("GET", "/api/v1/tokens", None, "admin"),
    ("DELETE", "/api/v1/tokens/{token}", None, "admin"),
]  # fmt: skip
WRONG_SCOPE = {
    "user": ["node"],
    "owner": ["node"],
    "worker": ["alice"],
    "work": ["alice"],
    "admin": ["alice", "node"],
}
IDS = [f"{m} {p}" for m, p, _, _ in ROUTES]


def call(world: World, method: str, path: str, body: Any, who: str | None) -> int:
    url = path.format(study_id=world.study_id, work_id=world.work_id, token="bob")
    kwargs: dict[str, Any] = {"headers": world.as_(who)}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = body
    return world.http.request(method, url, **kwargs).status_code


def test_the_route_table_covers_every_api_route(secured: tuple[FastAPI, TestClient]) -> None:
    app, _ = secured
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    listed = {(m, p.split("?")[0]) for m, p, _, _ in ROUTES}
    assert served == listed


@pytest.mark.parametrize(("method", "path", "body", "group"), ROUTES, ids=IDS)
def test_without_a_token_every_route_is_401(
    world: World, method: str, path: str, body: Any, group: str
) -> None:
    assert call(world, method, path, body, None) == 401


@pytest.mark.parametrize(("method", "path", "body", "group"), ROUTES, ids=IDS)
def test_the_wrong_scope_is_403(
    world: World, method: str, path: str, body: Any, group: str
) -> None:
    for who in WRONG_SCOPE[group]:
        assert call(world, method, path, body, who) == 403, who


@pytest.mark.parametrize(
    ("method", "path", "body", "group"),
    [r for r in ROUTES if r[3] in ("owner", "work")],
    ids=[i for i, r in zip(IDS, ROUTES, strict=True) if r[3] in ("owner", "work")],
)
def test_another_owners_object_is_404(
    world: World, method: str, path: str, body: Any, group: str
) -> None:
    stranger = "bob" if group == "owner" else "rogue"
    assert call(world, method, path, body, stranger) == 404


def test_a_user_sees_only_its_own_studies(world: World) -> None:
    bob = world.client("bob")
    assert bob.list_studies() == []
    bob.create_study(spec(name="bobs"))
    assert [s.name for s in bob.list_studies()] == ["bobs"]
    assert {s.name for s in world.client("admin").list_studies()} == {"digits-cnn", "bobs"}
    # Names are unique per owner, not globally.
    assert bob.create_study(spec()).name == "digits-cnn"


def test_a_token_is_shown_once_stored_hashed_and_revocable(world: World) -> None:
    admin = world.client("admin")
    created = admin.create_token("carol", "user")
    assert created["token"].startswith("hps_") and len(created["token"]) > 40
    listed = {t["name"]: t for t in admin.list_tokens()}
    assert "token" not in listed["carol"] and listed["carol"]["prefix"] == created["token"][:10]
    carol = Client("http://testserver", created["token"], http=world.http)
    assert carol.list_studies() == []
    admin.revoke_token("carol")
    assert (
        world.http.get(
            "/api/v1/studies", headers={"Authorization": f"Bearer {created['token']}"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize("name", ["¹", "٣", "²³"])
def test_revoking_a_token_named_with_non_ascii_digits_is_a_404(world: World, name: str) -> None:
    # str.isdigit() is true for superscripts and Arabic-Indic digits that int() refuses.
    response = world.http.delete(f"/api/v1/tokens/{name}", headers=world.as_("admin"))
    assert response.status_code == 404 and "detail" in response.json()


def test_auth_off_is_refused_off_loopback(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.db", auth="off", bind_host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        create_app(settings)


def test_claims_past_the_rate_limit_are_429_with_retry_after(world: World, secured: Any) -> None:
    app, _ = secured
    from service.rate_limits import RateLimiter

    app.state.rate_limits["claim"] = RateLimiter(rate=0.5, burst=2)
    statuses = [
        call(world, "POST", "/api/v1/work/claim", {"worker_id": f"n{i}"}, "node") for i in range(3)
    ]
    assert statuses[:2] != [429, 429] and statuses[2] == 429
    response = world.http.post(
        "/api/v1/work/claim", json={"worker_id": "n9"}, headers=world.as_("node")
    )
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1


def test_oversized_bodies_are_413(world: World) -> None:
    huge = {"worker_id": "node-1", "epoch": 1, "metrics": {f"m{i}": 0.1 for i in range(100)}}
    path = f"/api/v1/work/{world.work_id}/report"
    assert world.http.post(path, json=huge, headers=world.as_("node")).status_code == 413
    blob = b"x" * 2_000_000
    assert (
        world.http.post("/api/v1/studies", content=blob, headers=world.as_("alice")).status_code
        == 413
    )
