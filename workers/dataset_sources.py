"""Reading dataset sources into arrays: bundled and Keras datasets, `.npz` files.

Everything here returns a `SourceArrays`: images as float32 in [0, 1] shaped (N, H, W, C) and
labels as int64 class indices. Splitting and caching live in `workers/datasets.py`; image
folders in `workers/image_folders.py`. Keras and scikit-learn are imported only inside the
functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DatasetError",
    "SourceArrays",
    "hash_file",
    "keras_cache_dir",
    "load_digits_arrays",
    "load_keras_arrays",
    "load_npz_arrays",
    "to_class_indices",
    "to_unit_images",
]

logger = logging.getLogger(__name__)

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
HASH_CHUNK_BYTES = 1 << 20
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetError(ValueError):
    """A dataset cannot be loaded; the message names the reference and what is wrong."""


@dataclass(frozen=True)
class SourceArrays:
    """A source's arrays before splitting; `x_test` is None where the source has no test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: tuple[str, ...]


def hash_file(path: Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def to_unit_images(x: np.ndarray, ref: str, array: str) -> np.ndarray:
    """Images as float32 in [0, 1] shaped (N, H, W, C); DatasetError names the bad array."""
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or 0 in x.shape:
        raise DatasetError(
            f"dataset {ref!r}: {array} has shape {x.shape}; expected (N, H, W) or (N, H, W, C)"
        )
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"dataset {ref!r}: {array} has dtype {x.dtype}; expected numbers")
    scale_255 = x.dtype == np.uint8
    images = x.astype(np.float32)
    low, high = float(images.min()), float(images.max())
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
        raise DatasetError(
            f"dataset {ref!r}: {array} has values in [{low}, {high}]; "
            "expected pixel values in [0, 1] or [0, 255]"
        )
    if scale_255 or high > 1:
        images /= np.float32(255)
    return images


def _label_values(y: np.ndarray, ref: str, array: str) -> tuple[np.ndarray, int]:
    """1-D raw label values, and the one-hot width (0 when `y` is not one-hot)."""
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1), y.shape[1]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise DatasetError(
            f"dataset {ref!r}: {array} has shape {y.shape}; expected (N,), (N, 1) or one-hot (N, K)"
        )
    if y.dtype.kind not in "biufU":
        raise DatasetError(f"dataset {ref!r}: {array} has dtype {y.dtype}; expected class labels")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise DatasetError(
            f"dataset {ref!r}: {array} holds non-integer values; expected class labels"
        )
    return y, 0


def _label_name(value: object) -> str:
    if isinstance(value, np.floating | float):
        return str(int(value))
    return str(value)


def to_class_indices(
    labels: dict[str, np.ndarray], ref: str
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Labels of several arrays as int64 indices 0..K-1 over their sorted unique values."""
    values: dict[str, np.ndarray] = {}
    width = 0
    for array, y in labels.items():
        values[array], one_hot_width = _label_values(y, ref, array)
        width = max(width, one_hot_width)
    known = np.unique(np.concatenate(list(values.values())))
    if width:
        known = np.union1d(known, np.arange(width))
    indices = {array: np.searchsorted(known, v).astype(np.int64) for array, v in values.items()}
    return indices, tuple(_label_name(value) for value in known.tolist())


def _check_lengths(x: np.ndarray, y: np.ndarray, ref: str, x_name: str, y_name: str) -> None:
    if len(x) != len(y):
        raise DatasetError(
            f"dataset {ref!r}: {x_name} has {len(x)} images but {y_name} has {len(y)} labels"
        )


def build_source(
    x_train: np.ndarray,
    y_train: np.ndarray,
    test: tuple[np.ndarray, np.ndarray] | None,
    ref: str,
) -> SourceArrays:
    """Check, scale and index raw arrays (`test` is the source's own test split, if any)."""
    _check_lengths(x_train, y_train, ref, "x_train", "y_train")
    images = to_unit_images(x_train, ref, "x_train")
    if test is None:
        indices, names = to_class_indices({"y_train": y_train}, ref)
        return SourceArrays(images, indices["y_train"], None, None, names)
    _check_lengths(test[0], test[1], ref, "x_test", "y_test")
    test_images = to_unit_images(test[0], ref, "x_test")
    if test_images.shape[1:] != images.shape[1:]:
        raise DatasetError(
            f"dataset {ref!r}: x_test images have shape {test_images.shape[1:]} "
            f"but x_train images have shape {images.shape[1:]}"
        )
    indices, names = to_class_indices({"y_train": y_train, "y_test": test[1]}, ref)
    return SourceArrays(images, indices["y_train"], test_images, indices["y_test"], names)


def load_digits_arrays(ref: str) -> SourceArrays:
    """scikit-learn's bundled 8x8 digits, pixel values 0..16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits  # noqa: PLC0415 - scikit-learn loads slowly

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / 16.0
    return build_source(images, np.asarray(bunch.target), None, ref)


def keras_cache_dir() -> Path:
    """Where `keras.utils.get_file` keeps downloaded datasets (the rule Keras itself follows)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(os.path.expanduser(home), os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return Path(os.path.expanduser(home)) / "datasets"


@contextlib.contextmanager
def one_process_at_a_time(folder: Path) -> Iterator[None]:
    """Hold a lock on a file in `folder` shared by this node's processes. Keras downloads
    into its cache file in place: the slots of a node starting together on CIFAR-10 would
    each find the others' half-written file, take it for corrupt and download over it. A
    folder that cannot hold the lock file (or a system without `flock`) goes unlocked."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only

        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / ".hpsearch-download.lock").open("a")
    except (ImportError, OSError) as exc:
        logger.debug("no download lock in %s: %s", folder, exc)
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def load_keras_arrays(name: str, ref: str) -> SourceArrays:
    """A `keras.datasets` dataset, from Keras' cache or downloaded into it."""
    if name not in KERAS_DATASETS:
        raise DatasetError(f"dataset {ref!r} is not a Keras dataset")
    try:
        import keras  # noqa: PLC0415 - workers.datasets must not import Keras
    except ImportError as exc:
        raise DatasetError(
            f"dataset {ref!r} needs Keras, which is not installed (pip install 'hpsearch[worker]')"
        ) from exc
    try:
        with one_process_at_a_time(keras_cache_dir()):
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        raise DatasetError(
            f"dataset {ref!r}: the download failed ({reason}) and no usable cached copy was "
            f"found in Keras' dataset cache {keras_cache_dir()} (set KERAS_HOME to use another "
            "cache, or place the downloaded file there)"
        ) from exc
    return build_source(x_train, y_train, (x_test, y_test), ref)


def _read_npz(path: Path, ref: str) -> dict[str, np.ndarray]:
    """The known arrays of an `.npz` archive, by name."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"dataset {ref!r}: cannot read {path} as .npz ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"dataset {ref!r}: {path} holds a single array, not an .npz archive")
    with archive:
        try:
            return {name: np.asarray(archive[name]) for name in NPZ_ARRAYS if name in archive}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            raise DatasetError(
                f"dataset {ref!r}: cannot read the arrays of {path} ({exc})"
            ) from exc


def load_npz_arrays(path: Path, ref: str) -> SourceArrays:
    """`x_train`, `y_train` and optionally `x_test`, `y_test` from an `.npz` file."""
    arrays = _read_npz(path, ref)
    for required in ("x_train", "y_train"):
        if required not in arrays:
            raise DatasetError(f"dataset {ref!r}: {path} has no array {required!r}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        missing = "y_test" if "x_test" in arrays else "x_test"
        raise DatasetError(
            f"dataset {ref!r}: {path} has no array {missing!r} (x_test and y_test go together)"
        )
    test = (arrays["x_test"], arrays["y_test"]) if "x_test" in arrays else None
    return build_source(arrays["x_train"], arrays["y_train"], test, ref)
