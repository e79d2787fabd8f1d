"""The dashboard's pages over HTTP (SQLite and PostgreSQL): content, plots, plotly.js,
security headers, escaping, and login with the cookie and its CSRF header."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import optuna
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hpsearch import Client
from service import Settings, create_app
from service.auth import COOKIE, CSRF_HEADER, hash_token
from service.dashboard.plots import MAX_CURVES, study_plots
from service.tables import TokenRow
from tests.conftest import dispose
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec

PLOTS = {"history", "intermediate", "parallel", "importance", "edf"}
FIGURE = re.compile(
    r'<script type="application/json" data-plot-figure="(\w+)">(.*?)</script>', re.S
)
ADMIN = "admin-token-for-dashboard-tests"
ALICE = "hps_alice_dashboard_token"
BOB = "hps_bob_dashboard_token"
WORKER = "hps_worker_dashboard_token"


def finished_study(client: Client, name: str = "finished", **overrides: Any) -> int:
    fields = {"max_trials": 6, "pruner": "none", "training": {"epochs": 3}, **overrides}
    study = client.create_study(spec(name=name, **fields))
    SimulatedWorker(client, f"{name}-worker", kinds=("trial",)).run_until_idle()
    return study.study_id


def figures(html: str) -> dict[str, dict[str, Any]]:
    return {key: json.loads(text) for key, text in FIGURE.findall(html)}


def leaderboard_numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-trial-number="(\d+)">', html)]


# -- pages, auth off -----------------------------------------------------------------------


def test_the_studies_page_lists_each_study_with_its_progress(
    client: Client, http: TestClient
) -> None:
    done = finished_study(client)
    waiting = client.create_study(spec(name="waiting", max_trials=9)).study_id
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f'href="/studies/{done}"' in html and f'href="/studies/{waiting}"' in html
    assert ">finished</a>" in html and ">waiting</a>" in html
    assert "6 / 6" in html and "0 / 9" in html
    assert 'class="state state-completed"' in html and 'class="state state-running"' in html
    best = client.get_study(done).best_value
    assert best is not None and f"{best:.4g}" in html


def test_the_study_page_ranks_trials_in_the_apis_leaderboard_order(
    client: Client, http: TestClient
) -> None:
    study_id = finished_study(client)
    page = http.get(f"/studies/{study_id}")
    assert page.status_code == 200
    assert "<h1>finished" in page.text
    expected = [t.number for t in client.leaderboard(study_id, limit=100)]
    assert len(expected) == 6
    assert leaderboard_numbers(page.text) == expected
    assert 'data-action="paused"' in page.text and 'id="study-state">completed<' in page.text


def test_the_study_page_embeds_optunas_plots_with_data(client: Client, http: TestClient) -> None:
    study_id = finished_study(client)
    html = http.get(f"/studies/{study_id}").text
    drawn = figures(html)
    assert set(drawn) == PLOTS
    for key, figure in drawn.items():
        assert figure["data"], key
        assert f'<div class="plot" data-plot="{key}"' in html
    history = drawn["history"]["data"][0]
    assert len(history["y"]) == 6
    assert len(drawn["intermediate"]["data"]) == 6
    assert "/dashboard/plotly.min.js?v=" in html


def test_plots_optuna_cannot_draw_yet_leave_a_note(client: Client, http: TestClient) -> None:
    study = client.create_study(spec(name="young", max_trials=1, pruner="none"))
    html = http.get(f"/studies/{study.study_id}").text
    assert figures(html) == {}
    assert html.count("Not enough data yet") == len(PLOTS)
    SimulatedWorker(client, "one").run_until_idle()
    html = http.get(f"/studies/{study.study_id}").text
    assert set(figures(html)) == PLOTS - {"importance"}
    assert 'data-plot-missing="importance"' in html


# Optuna notes that importance evaluators rank a `target` lower-is-better: the plots give
# them the first objective turned that way.
@pytest.mark.filterwarnings("ignore:PedAnovaImportanceEvaluator computes the importances")
def test_a_multi_objective_study_plots_its_first_objective(
    client: Client, http: TestClient
) -> None:
    objectives = [{"metric": "val_accuracy"}, {"metric": "loss", "direction": "minimize"}]
    study_id = finished_study(client, "pareto", objective=objectives)
    html = http.get(f"/studies/{study_id}").text
    drawn = figures(html)
    # Optuna keeps no per-epoch values for several objectives: no learning curves.
    assert set(drawn) == PLOTS - {"intermediate"}
    for key in ("history", "parallel", "importance", "edf"):
        assert "val_accuracy (first objective)" in json.dumps(drawn[key]), key
    board = client.leaderboard(study_id, 100)
    assert leaderboard_numbers(html) == [t.number for t in board]
    facts = html.split('class="facts"', 1)[1].split("</dl>", 1)[0]
    assert re.search(r"val_accuracy <span class=\"muted\">\(maximize\)</span>, loss <span"
                     r" class=\"muted\">\(minimize\)</span>", facts), facts  # fmt: skip
    best = facts.split('id="best-value">', 1)[1].split("</dd>", 1)[0]
    assert f"trial {board[0].number}, the first of the Pareto front" in best
    # A sortable column per objective, named by its metric.
    table = html.split('id="leaderboard"', 1)[1].split("</table>", 1)[0]
    headers = re.findall(r'<button type="button">([^<]+)</button>', table)
    assert headers[:4] == ["Rank", "Trial", "val_accuracy", "loss"]
    first_row = table.split("<tr data-trial-number=", 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td class="num" data-value="([^"]*)"', first_row)
    assert [float(x) for x in cells[2:4]] == board[0].values


def test_plots_of_a_large_study_draw_only_its_latest_trials() -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    total = MAX_CURVES + 60

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.report(x / 2, 1)
        return x + trial.suggest_int("n", 1, 4)

    study.optimize(objective, n_trials=total)
    plots = {p.key: p for p in study_plots(study, ["val_accuracy"], "large")}
    curves = plots["intermediate"]
    assert curves.figure is not None
    assert len(json.loads(curves.figure)["data"]) == MAX_CURVES
    assert curves.note == f"The latest {MAX_CURVES} of {total} trials."
    history = plots["history"]
    assert history.figure is not None and history.note is None
    assert len(json.loads(history.figure)["data"][0]["x"]) == total


def test_the_workers_page_shows_each_workers_current_trial(
    client: Client, http: TestClient
) -> None:
    study = client.create_study(spec(name="busy"))
    assignment = client.claim("gpu-node-1", hostname="node1.lab", device="GPU:0 H100")
    assert assignment is not None
    page = http.get("/workers")
    assert page.status_code == 200
    row = page.text.split("<td>gpu-node-1</td>", 1)[1].split("</tr>", 1)[0]
    assert "GPU:0 H100" in row and "node1.lab" in row
    assert f'href="/studies/{study.study_id}"' in row
    assert f"trial {assignment.trial_number}" in row
    assert "s ago" in row


def test_the_retrained_model_panel_shows_test_metrics_and_the_download(
    client: Client, http: TestClient, tmp_path: Path
) -> None:
    study_id = finished_study(client, retrain={"epochs": 4, "seeds": 2})
    job = client.claim("retrainer", kinds=("retrain",))
    assert job is not None and job.kind == "retrain"
    model = tmp_path / "model.keras"
    model.write_bytes(b"not really a keras file" * 100)
    client.upload_artifact(job.work_id, "retrainer", model)
    scores = [{"test_accuracy": 0.91, "seed": 1.0}, {"test_accuracy": 0.89, "seed": 2.0}]
    metrics = {"test_accuracy": 0.91, "test_accuracy_mean": 0.9, "test_accuracy_std": 0.0141}
    client.complete(job.work_id, "retrainer", "completed", metrics=metrics, seed_scores=scores)
    html = http.get(f"/studies/{study_id}").text
    panel = html.split('id="retrain"', 1)[1].split("</section>", 1)[0]
    assert "state-completed" in panel and "2 seeds" in panel
    retrain = client.get_study(study_id).retrain
    assert retrain is not None and retrain.trial_id == job.trial_id
    assert retrain.trial_number == job.trial_number  # the number the leaderboard shows
    assert f"Trial {job.trial_number} retrained on train+val" in panel
    assert "0.91" in panel and "0.9 ± 0.0141" in panel
    assert f'href="/api/v1/studies/{study_id}/model"' in panel
    assert http.get(f"/api/v1/studies/{study_id}/model").content == model.read_bytes()


def test_plotly_js_is_served_from_the_installed_plotly_package(http: TestClient) -> None:
    response = http.get("/dashboard/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age=31536000" in response.headers["cache-control"]
    bundle = resources.files("plotly") / "package_data" / "plotly.min.js"
    assert response.content == bundle.read_bytes()
    assert response.text.lstrip().startswith("/**\n* plotly.js v")
    plain = http.get("/dashboard/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert plain.content == response.content and "content-encoding" not in plain.headers


def test_static_files_are_served_by_name_only(http: TestClient) -> None:
    script = http.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200 and "X-Hpsearch-Request" in script.text
    assert (
        http.get("/dashboard/static/dashboard.css").headers["content-type"].startswith("text/css")
    )
    assert http.get("/dashboard/static/..%2F__init__.py").status_code == 404
    assert http.get("/dashboard/static/plots.py").status_code == 404


def test_pages_carry_security_headers_and_no_inline_script(
    client: Client, http: TestClient
) -> None:
    study_id = finished_study(client)
    for path in ("/", f"/studies/{study_id}", "/workers", "/studies/999"):
        page = http.get(path)
        assert page.status_code == (404 if path == "/studies/999" else 200), path
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "same-origin"
        for tag in re.findall(r"<script[^>]*>", page.text):
            assert " src=" in tag or 'type="application/json"' in tag, tag


def test_user_controlled_text_is_escaped(client: Client, http: TestClient) -> None:
    client.create_study(spec(name="xss"))
    hostile = "<script>alert('x')</script>"
    assert client.claim("w-escape", hostname=hostile, device=hostile) is not None
    html = http.get("/workers").text
    assert hostile not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_login_is_not_needed_when_auth_is_off(http: TestClient) -> None:
    response = http.get("/login", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert http.get("/").status_code == 200


# -- auth on -------------------------------------------------------------------------------


@pytest.fixture
def secured(database_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    settings = Settings(
        database_url=database_url,
        auth="on",
        admin_token=ADMIN,
        artifact_dir=tmp_path / "artifacts",
        reaper_interval=3600,
    )
    application = create_app(settings)
    tokens = [("alice", "user", ALICE), ("bob", "user", BOB), ("fleet", "worker", WORKER)]
    with application.state.ctx.transaction() as session:
        for name, scope, token in tokens:
            session.add(
                TokenRow(
                    name=name,
                    scope=scope,
                    owner=name,
                    token_hash=hash_token(token),
                    prefix=token[:8],
                    created_at=time.time(),
                )
            )
    yield application
    dispose(application)


@pytest.fixture
def browser(secured: FastAPI) -> Iterator[TestClient]:
    """A client holding no token: it logs in like a browser, with the form and the cookie."""
    with TestClient(secured) as test_client:
        yield test_client


def as_user(browser: TestClient, token: str) -> Client:
    return Client("http://testserver", token=token, http=browser)


def log_in(browser: TestClient, token: str, next_path: str = "/") -> Any:
    return browser.post("/login", data={"token": token, "next": next_path}, follow_redirects=False)


def test_without_a_cookie_a_page_redirects_to_the_login_form(browser: TestClient) -> None:
    for path in ("/", "/studies/1", "/workers"):
        response = browser.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"
    form = browser.get("/login?next=/workers")
    assert form.status_code == 200
    assert 'name="token"' in form.text and 'value="/workers"' in form.text
    assert "script-src 'self'" in form.headers["content-security-policy"]


def test_logging_in_sets_a_strict_http_only_cookie_and_opens_the_pages(
    browser: TestClient,
) -> None:
    as_user(browser, ALICE).create_study(spec(name="alices"))
    as_user(browser, BOB).create_study(spec(name="bobs"))
    response = log_in(browser, ALICE, "/workers")
    assert response.status_code == 303 and response.headers["location"] == "/workers"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={ALICE};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = browser.get("/")
    assert page.status_code == 200
    assert ">alices</a>" in page.text and ">bobs</a>" not in page.text
    assert "alice" in page.text and 'href="/logout"' in page.text


def test_a_wrong_or_worker_token_does_not_log_in(browser: TestClient) -> None:
    wrong = log_in(browser, "hps_not_a_token")
    assert wrong.status_code == 401 and "invalid or revoked token" in wrong.text
    worker = log_in(browser, WORKER)
    assert worker.status_code == 403 and "cannot open the dashboard" in worker.text
    assert COOKIE not in browser.cookies
    browser.cookies.set(COOKIE, WORKER)
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_login_goes_back_only_to_a_page_of_this_site(browser: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert log_in(browser, ALICE, target).headers["location"] == "/"
    other_site = browser.post(
        "/login",
        data={"token": ALICE, "next": "/"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert other_site.status_code == 403


def test_the_admin_token_opens_every_owners_study(browser: TestClient) -> None:
    study = as_user(browser, BOB).create_study(spec(name="bobs"))
    assert log_in(browser, ADMIN).status_code == 303
    assert browser.get(f"/studies/{study.study_id}").status_code == 200


def test_another_owners_study_page_is_404(browser: TestClient) -> None:
    study = as_user(browser, BOB).create_study(spec(name="bobs"))
    log_in(browser, ALICE)
    page = browser.get(f"/studies/{study.study_id}")
    assert page.status_code == 404
    assert "bobs" not in page.text and f"there is no study {study.study_id}" in page.text


def test_the_pause_button_needs_the_csrf_header_with_the_cookie(browser: TestClient) -> None:
    study = as_user(browser, ALICE).create_study(spec(name="alices"))
    log_in(browser, ALICE)
    path = f"/api/v1/studies/{study.study_id}"
    forged = browser.patch(path, json={"state": "paused"})
    assert forged.status_code == 403 and CSRF_HEADER in forged.json()["detail"]
    assert browser.get(path).json()["state"] == "running"
    paused = browser.patch(path, json={"state": "paused"}, headers={CSRF_HEADER: "dashboard"})
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert 'id="study-state">paused<' in browser.get(f"/studies/{study.study_id}").text


def test_logging_out_clears_the_cookie(browser: TestClient) -> None:
    log_in(browser, ALICE)
    assert browser.get("/", follow_redirects=False).status_code == 200
    response = browser.get("/logout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (
        f'{COOKIE}="";' in response.headers["set-cookie"]
        or "Max-Age=0" in (response.headers["set-cookie"])
    )
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_a_study_the_controller_paused_says_why(client: Client, http: TestClient) -> None:
    study = client.create_study(spec(name="failing", max_trials=20, max_parallel=1, retrain=None))
    for _ in range(5):
        work = client.claim("w1")
        assert work is not None
        client.complete(work.work_id, "w1", "failed", reason="dataset error: <no file>")
    html = http.get(f"/studies/{study.study_id}").text
    assert 'id="state-reason"' in html
    assert "after 5 failed trials in a row; the last: dataset error: &lt;no file&gt;" in html
    listed = http.get("/").text.split(f'data-study-id="{study.study_id}"', 1)[1]
    assert (
        'title="5 failed trials in a row; the last: dataset error: &lt;no file&gt;">paused:'
        " trials failing</span>" in listed.split("</tr>", 1)[0]
    )
    client.resume(study.study_id)
    assert 'id="state-reason"' not in http.get(f"/studies/{study.study_id}").text
    assert "trials failing" not in http.get("/").text
