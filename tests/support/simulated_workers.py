"""Workers that train nothing: they claim through the real HTTP client, report made-up
epochs, and complete, so controller tests and benchmarks can drive studies quickly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch import Client
from hpsearch.objects import Assignment, Study
from tests.support.specs import spec

Curve = Callable[[Assignment, int], float]
MODEL_BYTES = b"not really a keras file, but bytes to carry" * 100


def steady_curve(assignment: Assignment, epoch: int) -> float:
    """A value that rises with the epoch and depends on the params (so trials differ)."""
    lr = float(assignment.params.get("learning_rate", 1e-3))
    return min(0.99, 0.5 + 0.04 * epoch + 0.01 * (lr * 1000 % 5))


@dataclass
class SimulatedWorker:
    client: Client
    worker_id: str
    curve: Curve = steady_curve
    metric: str = "val_accuracy"
    kinds: tuple[str, ...] = ("trial",)
    finished: list[dict[str, Any]] = field(default_factory=list)
    pruned: list[int] = field(default_factory=list)

    def run_one(self, epochs: int | None = None) -> Assignment | None:
        """Claim and run one piece of work to its end; None when there was none."""
        assignment = self.client.claim(self.worker_id, kinds=self.kinds)
        if assignment is None:
            return None
        total = epochs or int(assignment.training["epochs"])
        best = None
        for epoch in range(1, total + 1):
            value = self.curve(assignment, epoch)
            best = value if best is None else max(best, value)
            answer = self.client.report(
                assignment.work_id, self.worker_id, epoch, {self.metric: value, "loss": 1 - value}
            )
            if answer.prune:
                self.pruned.append(assignment.trial_id)
                result = self.client.complete(
                    assignment.work_id, self.worker_id, "pruned", metrics={self.metric: value},
                    epochs=epoch,
                )  # fmt: skip
                self.finished.append(result)
                return assignment
        result = self.client.complete(
            assignment.work_id,
            self.worker_id,
            "completed",
            metrics={self.metric: best, "loss": 1 - (best or 0)},
            epochs=total,
            best_epoch=total,
            duration_s=0.01 * total,
        )
        self.finished.append(result)
        return assignment

    def run_until_idle(self, limit: int = 10_000) -> int:
        done = 0
        while done < limit and self.run_one() is not None:
            done += 1
        return done


def finish_retrain(client: Client, folder: Path, test_accuracy: float = 0.9) -> bool:
    """Claim a queued retrain job as a fake worker and complete it with a model of
    MODEL_BYTES (written under `folder`); False when none was queued."""
    job = client.claim("sim-retrain", kinds=("retrain",))
    if job is None:
        return False
    assert job.kind == "retrain"
    model = folder / f"retrain-{job.work_id}" / "model.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(MODEL_BYTES)
    client.upload_artifact(job.work_id, "sim-retrain", model)
    metrics = {"test_accuracy": test_accuracy}
    client.complete(job.work_id, "sim-retrain", "completed", metrics=metrics)
    return True


def study_with_peers(
    client: Client, peers: int, curve: Curve, pruner: str, epochs: int, max_parallel: int
) -> Study:
    """A 30-trial study (random sampler, seed 1) whose first `peers` trials ran to their end
    along `curve`: a pruner then has finished peers to judge the next trial against."""
    study = client.create_study(
        spec(max_trials=30, max_parallel=max_parallel, pruner=pruner,
             training={"epochs": epochs}, sampler={"name": "random", "seed": 1})
    )  # fmt: skip
    worker = SimulatedWorker(client, "peer", curve=curve)
    for _ in range(peers):
        assert worker.run_one() is not None
    return study
