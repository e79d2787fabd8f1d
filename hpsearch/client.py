"""The one HTTP client of the controller, used by the CLI, the workers and user code.

client = Client("http://127.0.0.1:8000", token="hps_...")
study = client.create_study("search_spaces/examples/digits_cnn.yaml")
client.wait(study, progress=True)
print(client.leaderboard(study, limit=5))
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from hpsearch.errors import ControllerUnreachable, NotFound, error_for
from hpsearch.objects import (
    Assignment,
    HeartbeatAnswer,
    ReportAnswer,
    Retrain,
    Study,
    StudySummary,
    Trial,
)
from hpsearch.progress import watch

__all__ = ["DEFAULT_URL", "Client", "StudyRef"]

DEFAULT_URL = "http://127.0.0.1:8000"
StudyRef = int | str | StudySummary


class Client:
    """Typed calls to the controller's REST API. `http` may be any httpx.Client (a FastAPI
    TestClient in tests); otherwise one is made for `url`."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = (url or os.environ.get("HPSEARCH_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("HPSEARCH_TOKEN")
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout)
        self._owns_http = http is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; ApiError subclasses for 4xx/5xx, ControllerUnreachable if none."""
        headers = self._headers(kwargs.pop("headers", None))
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ControllerUnreachable(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise error_for(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST a body that may hold NaN or infinities (Python's JSON dialect, which the
        controller reads), as a worker's metrics can."""
        content = json.dumps(body, allow_nan=True).encode()
        return self._json(
            "POST", path, content=content, headers={"Content-Type": "application/json"}
        )

    # -- studies ----------------------------------------------------------------------------

    def create_study(self, spec: str | Path | Mapping[str, Any]) -> Study:
        """From a YAML/JSON file path, YAML text, or a mapping."""
        if isinstance(spec, Mapping):
            data = self._json("POST", "/api/v1/studies", json=dict(spec))
        else:
            text = _spec_text(spec)
            media = "application/json" if text.lstrip().startswith("{") else "application/yaml"
            data = self._json(
                "POST", "/api/v1/studies", content=text.encode(), headers={"Content-Type": media}
            )
        return Study.from_json(data)

    def list_studies(self) -> list[StudySummary]:
        return [StudySummary.from_json(s) for s in self._json("GET", "/api/v1/studies")]

    def study_id(self, study: StudyRef) -> int:
        """An id from an id, a summary, a numeric string or a study name."""
        if isinstance(study, StudySummary):
            return study.study_id
        if isinstance(study, int) or (str(study).isascii() and str(study).isdigit()):
            return int(study)
        for summary in self.list_studies():
            if summary.name == study:
                return summary.study_id
        raise NotFound(404, f"there is no study named {study!r}")

    def get_study(self, study: StudyRef) -> Study:
        return Study.from_json(self._json("GET", f"/api/v1/studies/{self.study_id(study)}"))

    def update_study(self, study: StudyRef, **changes: Any) -> Study:
        path = f"/api/v1/studies/{self.study_id(study)}"
        return Study.from_json(self._json("PATCH", path, json=changes))

    def pause(self, study: StudyRef) -> Study:
        return self.update_study(study, state="paused")

    def resume(self, study: StudyRef) -> Study:
        return self.update_study(study, state="running")

    def stop(self, study: StudyRef) -> Study:
        return self.update_study(study, state="stopped")

    def delete_study(self, study: StudyRef) -> None:
        self.request("DELETE", f"/api/v1/studies/{self.study_id(study)}")

    def trials(self, study: StudyRef, state: str | None = None, limit: int = 10_000) -> list[Trial]:
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        path = f"/api/v1/studies/{self.study_id(study)}/trials"
        return [Trial.from_json(t) for t in self._json("GET", path, params=params)]

    def leaderboard(self, study: StudyRef, limit: int = 10) -> list[Trial]:
        path = f"/api/v1/studies/{self.study_id(study)}/leaderboard"
        return [Trial.from_json(t) for t in self._json("GET", path, params={"limit": limit})]

    def retrain(
        self,
        study: StudyRef,
        trial_id: int | None = None,
        epochs: int | None = None,
        seeds: int | None = None,
    ) -> Retrain:
        body = {
            k: v for k, v in {"trial_id": trial_id, "epochs": epochs, "seeds": seeds}.items() if v
        }
        path = f"/api/v1/studies/{self.study_id(study)}/retrain"
        return Retrain.from_json(self._json("POST", path, json=body))

    def download_model(self, study: StudyRef, path: str | Path) -> Path:
        """Save the retrained model to `path`; returns it. The sha256 header is checked."""
        target = Path(path)
        digest = hashlib.sha256()
        url = f"/api/v1/studies/{self.study_id(study)}/model"
        with self._http.stream("GET", url, headers=self._headers()) as response:
            if response.status_code >= 400:
                response.read()
                raise error_for(response)
            expected = response.headers.get("X-Content-SHA256")
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
        if expected and expected != digest.hexdigest():
            target.unlink(missing_ok=True)
            raise ControllerUnreachable("the model download was corrupted (sha256 mismatch)")
        return target

    def workers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/api/v1/workers")
        return result

    def wait(
        self,
        study: StudyRef,
        *,
        progress: bool = False,
        retrain: bool = False,
        poll: float = 1.0,
        timeout: float | None = None,
        on_update: Callable[[Study], None] | None = None,
    ) -> Study:
        """Poll until the study ends (and its retrain, when `retrain`), or until the
        controller pauses it because its trials keep failing (`Study.halted`, with the reason
        in `state_reason`); a rich progress bar when `progress`."""
        if progress and on_update is None:
            return watch(self, study, retrain=retrain, poll=poll, timeout=timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.get_study(study)
            if on_update is not None:
                on_update(current)
            if current.settled(retrain) or current.halted:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"study {current.study_id} still {current.state}")
            time.sleep(poll)

    # -- tokens (admin) ---------------------------------------------------------------------

    def create_token(self, name: str, scope: str, owner: str | None = None) -> dict[str, Any]:
        """A new token; its secret (`token`) is in this answer only."""
        body = {"name": name, "scope": scope, "owner": owner}
        result: dict[str, Any] = self._json("POST", "/api/v1/tokens", json=body)
        return result

    def list_tokens(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/api/v1/tokens")
        return result

    def revoke_token(self, token: int | str) -> None:
        self.request("DELETE", f"/api/v1/tokens/{token}")

    # -- the worker protocol ----------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        *,
        hostname: str | None = None,
        device: str | None = None,
        kinds: tuple[str, ...] = ("trial", "retrain"),
        capabilities: Mapping[str, Any] | None = None,
        study_id: int | None = None,
    ) -> Assignment | None:
        """Claim work; with `study_id`, only a trial of that study."""
        body: dict[str, Any] = {
            "worker_id": worker_id,
            "hostname": hostname,
            "device": device,
            "kinds": list(kinds),
            "capabilities": dict(capabilities or {}),
        }
        if study_id is not None:
            body["study_id"] = study_id
        response = self.request("POST", "/api/v1/work/claim", json=body)
        return None if response.status_code == 204 else Assignment.from_json(response.json())

    def report(
        self, work_id: int, worker_id: str, epoch: int, metrics: Mapping[str, float | None]
    ) -> ReportAnswer:
        body = {"worker_id": worker_id, "epoch": epoch, "metrics": dict(metrics)}
        path = f"/api/v1/work/{work_id}/report"
        return ReportAnswer(**self._post_json(path, body))

    def heartbeat(self, work_id: int, worker_id: str) -> HeartbeatAnswer:
        path = f"/api/v1/work/{work_id}/heartbeat"
        return HeartbeatAnswer(**self._json("POST", path, json={"worker_id": worker_id}))

    def complete(self, work_id: int, worker_id: str, status: str, **fields: Any) -> dict[str, Any]:
        body = {"worker_id": worker_id, "status": status, **fields}
        result: dict[str, Any] = self._post_json(f"/api/v1/work/{work_id}/complete", body)
        return result

    def upload_artifact(self, work_id: int, worker_id: str, path: str | Path) -> dict[str, Any]:
        file = Path(path)
        with file.open("rb") as handle:
            result: dict[str, Any] = self._json(
                "PUT",
                f"/api/v1/work/{work_id}/artifact",
                params={"worker_id": worker_id, "filename": file.name},
                content=handle,
                headers={"Content-Type": "application/octet-stream"},
            )
        return result


def _spec_text(spec: str | Path) -> str:
    """The text of a spec given as a path, or the spec text itself."""
    if isinstance(spec, Path) or _is_file(spec):
        return Path(spec).read_text()
    return spec


def _is_file(text: str) -> bool:
    try:
        return "\n" not in text and Path(text).is_file()
    except OSError:  # e.g. a one-line spec longer than a file name may be
        return False
