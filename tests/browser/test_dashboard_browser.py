"""The dashboard in headless Chromium against a real uvicorn server: log in with the form,
plots drawn with data, a sortable leaderboard, and the Pause button through the REST API."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hpsearch import Client
from service import Settings, create_app
from tests.conftest import dispose
from tests.support.live_server import live_server
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("HPSEARCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard.png"
ADMIN = "browser-test-admin-token"
TRIALS = 6


@dataclass(frozen=True)
class Server:
    url: str
    client: Client


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'hpsearch.db'}",
        auth="on",
        admin_token=ADMIN,
        artifact_dir=tmp_path / "artifacts",
        reaper_interval=3600,
    )
    app = create_app(settings)
    try:
        with live_server(app) as url, Client(url, token=ADMIN) as client:
            yield Server(url, client)
    finally:
        dispose(app)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need it "
            "(apt-get install chromium chromium-driver; or set HPSEARCH_CHROMIUM)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def watch_errors(page: Page) -> list[str]:
    """Script errors and console errors (a CSP violation is one) seen by the page."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def leaderboard_order(page: Page) -> list[int]:
    numbers: list[str] = page.eval_on_selector_all(
        "#leaderboard tbody tr", "rows => rows.map(r => r.dataset.trialNumber)"
    )
    return [int(n) for n in numbers]


def test_the_dashboard_in_a_real_browser(server: Server, browser: Browser) -> None:
    client = server.client
    fields = {"max_trials": TRIALS, "pruner": "none", "training": {"epochs": 3}}
    finished = client.create_study(spec(name="finished", **fields))
    SimulatedWorker(client, "sim-0").run_until_idle()
    running = client.create_study(spec(name="running", max_trials=50))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = watch_errors(page)

    # Not logged in: the study page sends us to the form, which brings us back.
    page.goto(f"{server.url}/studies/{finished.study_id}")
    page.wait_for_url(re.compile(r".*/login\?next=/studies/\d+$"))
    page.fill("#token", ADMIN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/studies/{finished.study_id}")

    expect(page.locator("#leaderboard tbody tr")).to_have_count(TRIALS)
    page.wait_for_function(
        "document.querySelectorAll('.plot.js-plotly-plot .main-svg').length >= 5"
    )
    traces: list[int] = page.eval_on_selector_all(
        ".plot", "plots => plots.map(p => (p.data || []).length)"
    )
    assert sum(1 for n in traces if n > 0) >= 3, traces
    ranked = [t.number for t in client.leaderboard(finished, limit=TRIALS)]
    assert leaderboard_order(page) == ranked

    page.click("#leaderboard thead th:nth-child(3) button")  # Value, ascending
    values = [float(v) for v in page.eval_on_selector_all(
        "#leaderboard tbody td:nth-child(3)", "cells => cells.map(c => c.dataset.value)"
    )]  # fmt: skip
    assert leaderboard_order(page) != ranked
    assert values == sorted(values)
    expect(page.locator("#leaderboard thead th:nth-child(3)")).to_have_attribute(
        "aria-sort", "ascending"
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 20_000

    # The Pause button: PATCH through the REST API with the cookie and the CSRF header.
    page.goto(f"{server.url}/studies/{running.study_id}")
    expect(page.locator("#study-state")).to_have_text("running")
    page.click("button[data-action=paused]")
    expect(page.locator("#study-state")).to_have_text("paused")
    expect(page.locator("button[data-action=running]")).to_be_enabled()
    assert client.get_study(running).state == "paused"
    assert errors == []
