// hpsearch dashboard: draws the embedded Plotly figures, sorts tables, drives the study
// buttons through the REST API, and keeps live pages fresh. No framework, no build step.
"use strict";

(function () {
  const LIVE = new Set(["running", "paused"]);
  const POLL_MS = 5000;
  // A change made with the dashboard's cookie must carry this header (CSRF defence).
  const API_HEADERS = { "Content-Type": "application/json", "X-Hpsearch-Request": "dashboard" };

  function drawPlots() {
    if (typeof Plotly === "undefined") return;
    for (const block of document.querySelectorAll("script[data-plot-figure]")) {
      const target = document.querySelector(`.plot[data-plot="${block.dataset.plotFigure}"]`);
      const figure = JSON.parse(block.textContent);
      const config = { responsive: true, displaylogo: false };
      Plotly.newPlot(target, figure.data, figure.layout, config);
    }
  }

  function cellKey(row, column, type) {
    const cell = row.cells[column];
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    if (type !== "number") return raw.toLowerCase();
    const value = parseFloat(raw);
    return Number.isNaN(value) ? -Infinity : value;
  }

  function sortBy(table, header) {
    const column = header.cellIndex;
    const type = header.dataset.type;
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellKey(a, column, type);
      const y = cellKey(b, column, type);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    body.append(...rows);
  }

  function makeSortable(table) {
    for (const header of table.tHead.rows[0].cells) {
      header.addEventListener("click", () => sortBy(table, header));
    }
  }

  function showState(head, state) {
    head.dataset.state = state;
    const label = document.getElementById("study-state");
    label.textContent = state;
    label.className = `state state-${state}`;
    for (const button of head.querySelectorAll("button[data-action]")) {
      const action = button.dataset.action;
      const allowed =
        (action === "paused" && state === "running") ||
        (action === "running" && (state === "paused" || state === "stopped")) ||
        (action === "stopped" && LIVE.has(state));
      button.disabled = !allowed;
    }
  }

  function showMessage(text) {
    const message = document.getElementById("action-message");
    message.textContent = text;
    message.hidden = !text;
  }

  async function changeState(head, state) {
    showMessage("");
    const response = await fetch(`/api/v1/studies/${head.dataset.studyId}`, {
      method: "PATCH",
      credentials: "same-origin",
      headers: API_HEADERS,
      body: JSON.stringify({ state: state }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof body.detail === "string" ? body.detail : response.statusText;
      showMessage(`Could not change the study: ${detail}`);
      return;
    }
    showState(head, body.state);
    if (LIVE.has(body.state)) startPolling(head);
  }

  function changed(head, study) {
    const counts = JSON.parse(head.dataset.counts || "{}");
    const retrain = study.retrain ? study.retrain.state : "";
    if (study.state !== head.dataset.state || retrain !== head.dataset.retrain) return true;
    return Object.keys(study.counts).some((state) => study.counts[state] !== counts[state]);
  }

  async function poll(head) {
    if (document.hidden) return;
    const response = await fetch(`/api/v1/studies/${head.dataset.studyId}`, {
      credentials: "same-origin",
      headers: { "X-Hpsearch-Request": "dashboard" },
    });
    if (response.status === 401) return window.location.reload();
    if (!response.ok) return;
    const study = await response.json();
    if (changed(head, study)) window.location.reload();
  }

  let polling = null;

  function startPolling(head) {
    if (polling !== null) return;
    polling = window.setInterval(() => {
      if (!LIVE.has(head.dataset.state)) {
        window.clearInterval(polling);
        polling = null;
        return;
      }
      poll(head).catch(() => {});
    }, POLL_MS);
  }

  function setUpStudy(head) {
    showState(head, head.dataset.state);
    for (const button of head.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => {
        changeState(head, button.dataset.action).catch((error) => showMessage(String(error)));
      });
    }
    if (LIVE.has(head.dataset.state)) startPolling(head);
  }

  function setUpRefresh(main) {
    const seconds = parseInt(main.dataset.refreshSeconds || "0", 10);
    if (seconds > 0) window.setTimeout(() => window.location.reload(), seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    drawPlots();
    for (const table of document.querySelectorAll("table.sortable")) makeSortable(table);
    const head = document.getElementById("study");
    if (head) setUpStudy(head);
    const main = document.querySelector("main");
    if (main) setUpRefresh(main);
  });
})();
