"""Pinning a slot process to its GPU: the environment the supervisor starts it with.

Kept apart from `workers.devices` so that the supervisor never imports Keras: it starts in
a fraction of a second and holds no TensorFlow memory on the node.
"""

from __future__ import annotations

__all__ = ["gpu_environment"]


def gpu_environment(
    gpu: str | None, slots_per_gpu: int, memory_limit_mb: int | None
) -> dict[str, str]:
    """Environment for a slot process: which GPU it sees and how its memory is shared."""
    env = {"CUDA_VISIBLE_DEVICES": gpu if gpu is not None else ""}
    if gpu is None:
        return env
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    if slots_per_gpu > 1:
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / slots_per_gpu:.3f}"
    if memory_limit_mb:
        env["HPSEARCH_GPU_MEMORY_MB"] = str(memory_limit_mb)
    return env
