"""The device a worker slot trains on: what it is, and how it is set up.

The supervisor pins each slot to a GPU with `CUDA_VISIBLE_DEVICES` before the slot starts
(`workers.pinning`); here, inside the slot, memory growth or a per-slot memory limit lets
several small trials share one GPU, and CPU slots split the cores between them.
"""

from __future__ import annotations

import logging
import os
import platform

import keras

__all__ = ["configure_device", "describe_device", "missing_gpu", "visible_gpus"]

log = logging.getLogger(__name__)


def configure_device(cpu_threads: int | None = None) -> None:
    """Apply the slot's limits to the backend (TensorFlow: memory growth or a logical memory
    cap per GPU, thread pools; JAX and PyTorch read their environment)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf  # noqa: PLC0415 - only on the TensorFlow backend

    limit = os.environ.get("HPSEARCH_GPU_MEMORY_MB")
    for gpu in tf.config.list_physical_devices("GPU"):
        if limit:
            config = [tf.config.LogicalDeviceConfiguration(memory_limit=int(limit))]
            tf.config.set_logical_device_configuration(gpu, config)
        else:
            tf.config.experimental.set_memory_growth(gpu, True)
    if cpu_threads:
        tf.config.threading.set_intra_op_parallelism_threads(cpu_threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, cpu_threads)))


def describe_device() -> str:
    """E.g. `GPU:0 (tensorflow)` or `CPU x86_64 (jax)`."""
    backend = keras.backend.backend()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = visible_gpus()
    if gpus:
        return f"{gpus[0]} (CUDA_VISIBLE_DEVICES={visible}, {backend})"
    return f"CPU {platform.machine()} ({backend})"


def visible_gpus() -> list[str]:
    """The GPUs the Keras backend can train on in this process (none where it cannot list
    them: no driver, or a CPU-only build)."""
    try:
        return _gpu_names(keras.backend.backend())
    except Exception:
        log.debug("could not list GPUs", exc_info=True)
        return []


def missing_gpu(gpu: str | None) -> str | None:
    """Why a slot pinned to `gpu` cannot train on it (its backend sees no GPU), or None. A
    GPU node whose driver or CUDA libraries are missing would otherwise train every trial it
    claims on the CPU, hours where minutes were planned."""
    if gpu is None or visible_gpus():
        return None
    return (
        f"pinned to GPU {gpu} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}) "
        f"but {keras.backend.backend()} sees no GPU; check the driver with nvidia-smi and that "
        "the backend is built for CUDA (TensorFlow: pip install 'tensorflow[and-cuda]'), "
        "or train on the CPU with `hpsearch worker --cpu`"
    )


def _gpu_names(backend: str) -> list[str]:
    if backend == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415 - backend-specific

        return [
            d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices("GPU")
        ]
    if backend == "jax":
        import jax  # noqa: PLC0415 - backend-specific

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch  # noqa: PLC0415 - backend-specific

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []
