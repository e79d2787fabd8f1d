"""A slot pinned to a GPU that its backend cannot see refuses to train, rather than training
every trial it claims on the CPU."""

from __future__ import annotations

import pytest

import hpsearch
from workers import devices, slot
from workers.supervisor import UNFIT_EXIT


def no_gpu(backend: str) -> list[str]:
    return []


def broken_listing(backend: str) -> list[str]:
    raise RuntimeError("failed call to cuInit")


def test_a_cpu_slot_needs_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_gpu_names", no_gpu)
    assert devices.missing_gpu(None) is None


def test_a_gpu_slot_that_sees_its_gpu_may_train(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_gpu_names", lambda backend: ["GPU:0"])
    assert devices.missing_gpu("1") is None
    assert devices.describe_device().startswith("GPU:0 ")


@pytest.mark.parametrize("listing", [no_gpu, broken_listing])
def test_a_gpu_slot_without_a_gpu_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, listing: object
) -> None:
    monkeypatch.setattr(devices, "_gpu_names", listing)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    problem = devices.missing_gpu("1")
    assert problem is not None
    assert "pinned to GPU 1 (CUDA_VISIBLE_DEVICES=1)" in problem
    assert "sees no GPU" in problem and "nvidia-smi" in problem and "--cpu" in problem
    assert devices.describe_device().startswith("CPU ")


def test_the_slot_exits_before_claiming_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("a slot without its GPU contacted the controller")

    monkeypatch.setattr(devices, "_gpu_names", no_gpu)
    monkeypatch.setattr(hpsearch, "Client", no_client)
    monkeypatch.setattr(slot.signal, "signal", lambda signum, handler: None)  # keep pytest's
    argv = ["--controller", "http://127.0.0.1:1", "--name", "t-gpu0-0", "--gpu", "0"]
    assert slot.main(argv) == UNFIT_EXIT
