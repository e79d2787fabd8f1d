"""Datasets for trials: load a reference, split it, and cache the result in memory and on disk.

`load_dataset("digits")` gives float32 images in [0, 1] shaped (N, H, W, C) and int64 class
indices, split into train, validation and test parts. The split is stratified and
deterministic: the same reference and `Split` give byte-identical arrays in every process.
A source with a test split of its own (Keras datasets, an `.npz` with `x_test`) keeps it as
the test part, and the validation part is carved out of its training data.

File sources (`npz:`, `dir:`) are also cached on disk as an `.npz` named by the dataset's
fingerprint, so a second worker process does not decode an image folder again; builtin
sources are local files already (scikit-learn's bundle, Keras' own cache) and are not copied.
Importing this module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from search_spaces.datasets import BUILTIN_DATASETS, DatasetRef, parse_dataset_ref
from workers import image_folders
from workers.dataset_sources import (
    DatasetError,
    SourceArrays,
    hash_file,
    load_digits_arrays,
    load_keras_arrays,
    load_npz_arrays,
)

__all__ = ["Dataset", "DatasetError", "Split", "clear_memory_cache", "load_dataset"]

logger = logging.getLogger(__name__)

CACHE_ENV = "HPSEARCH_DATASET_CACHE"
CACHE_FORMAT = "hpsearch-dataset-v1"  # part of the fingerprint: bump when the output changes
DISK_CACHED_KINDS = frozenset({"npz", "dir"})
MEMORY_CACHE_SIZE = 4
MAX_FRACTION = 0.9
PART_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
CACHE_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


@dataclass(frozen=True)
class Split:
    """Validation and test fractions of the whole dataset, and the seed that shuffles it."""

    val: float = 0.15
    test: float = 0.15
    seed: int = 0


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded, split dataset; its arrays are read-only because caches share them."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    classes: int
    fingerprint: str
    class_names: tuple[str, ...]


DEFAULT_SPLIT = Split()

_memory_cache: OrderedDict[tuple[str, Split], Dataset] = OrderedDict()
_memory_lock = threading.Lock()


def clear_memory_cache() -> None:
    """Forget every dataset held in this process (the disk cache stays)."""
    with _memory_lock:
        _memory_cache.clear()


def load_dataset(ref: str, split: Split = DEFAULT_SPLIT, cache_dir: Path | None = None) -> Dataset:
    """Load, split and cache the dataset `ref` names; DatasetError says what is wrong."""
    parsed = _parse(ref)
    _check_split(split, ref)
    key = (_source_key(parsed), split)
    with _memory_lock:
        cached = _memory_cache.get(key)
        if cached is not None:
            _memory_cache.move_to_end(key)
    if cached is not None:
        logger.debug("dataset %s: from the memory cache", ref)
        return replace(cached, name=ref)
    dataset = _load_uncached(ref, parsed, split, cache_dir)
    with _memory_lock:
        _memory_cache[key] = dataset
        while len(_memory_cache) > MEMORY_CACHE_SIZE:
            _memory_cache.popitem(last=False)
    return dataset


def _parse(ref: str) -> DatasetRef:
    try:
        return parse_dataset_ref(ref)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc


def _check_split(split: Split, ref: str) -> None:
    for field, value in (("val", split.val), ("test", split.test)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DatasetError(f"dataset {ref!r}: split {field}={value!r} is not a number")
        if not 0 <= value < MAX_FRACTION:
            raise DatasetError(
                f"dataset {ref!r}: split {field}={value!r} must be in [0, {MAX_FRACTION})"
            )
    if split.val + split.test >= 1:
        raise DatasetError(
            f"dataset {ref!r}: split val={split.val!r} + test={split.test!r} must be below 1"
        )
    if isinstance(split.seed, bool) or not isinstance(split.seed, int) or split.seed < 0:
        raise DatasetError(f"dataset {ref!r}: split seed={split.seed!r} must be an int >= 0")


def _source_path(parsed: DatasetRef) -> Path:
    assert parsed.path is not None, "file references always carry a path"
    return Path(parsed.path).expanduser()


def _source_key(parsed: DatasetRef) -> str:
    """The memory cache's name for a source: file paths made absolute."""
    if parsed.kind in BUILTIN_DATASETS:
        return parsed.kind
    return f"{parsed.kind}:{_source_path(parsed).resolve()}"


def _load_uncached(ref: str, parsed: DatasetRef, split: Split, cache_dir: Path | None) -> Dataset:
    started = time.perf_counter()
    folder = None
    if parsed.kind == "dir":
        folder = image_folders.list_image_folder(_source_path(parsed), ref)
    fingerprint = _fingerprint(parsed.kind, _content_hash(parsed, folder, ref), split)
    cache_file = None
    if parsed.kind in DISK_CACHED_KINDS:
        cache_file = _cache_file(cache_dir, fingerprint)
    if cache_file is not None:
        dataset = _read_cached(cache_file, ref, fingerprint)
        if dataset is not None:
            _log_loaded(dataset, f"the disk cache {cache_file}", started)
            return dataset
    source = _read_source(parsed, folder, ref)
    dataset = _split_source(source, split, ref, fingerprint)
    _log_loaded(dataset, "source", started)
    if cache_file is not None:
        _write_cached(cache_file, dataset)
    return dataset


def _content_hash(parsed: DatasetRef, folder: image_folders.ImageFolder | None, ref: str) -> str:
    """What identifies the source's content: its bytes for files, its name for builtins."""
    if folder is not None:
        return image_folders.hash_image_folder(folder)
    if parsed.kind != "npz":
        return parsed.kind
    path = _source_path(parsed)
    if not path.is_file():
        raise DatasetError(f"dataset {ref!r}: file not found: {path}")
    try:
        return hash_file(path)
    except OSError as exc:
        raise DatasetError(f"dataset {ref!r}: cannot read {path} ({exc})") from exc


def _fingerprint(kind: str, content_hash: str, split: Split) -> str:
    fields = (CACHE_FORMAT, kind, content_hash, repr(split.val), repr(split.test), str(split.seed))
    return hashlib.sha256("\0".join(fields).encode()).hexdigest()


def _read_source(
    parsed: DatasetRef, folder: image_folders.ImageFolder | None, ref: str
) -> SourceArrays:
    if folder is not None:
        return image_folders.read_image_folder(folder, ref)
    if parsed.kind == "npz":
        return load_npz_arrays(_source_path(parsed), ref)
    if parsed.kind == "digits":
        return load_digits_arrays(ref)
    return load_keras_arrays(parsed.kind, ref)


def _stratified_parts(
    labels: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator
) -> list[np.ndarray]:
    """Index arrays, one per fraction and then the rest, each class split in proportion."""
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for part, fraction in zip(parts, fractions, strict=False):
            count = min(round(fraction * len(members)), len(members) - start)
            part.append(members[start : start + count])
            start += count
        parts[-1].append(members[start:])
    return [rng.permutation(np.concatenate(part)) for part in parts]


def _split_source(source: SourceArrays, split: Split, ref: str, fingerprint: str) -> Dataset:
    rng = np.random.default_rng(split.seed)
    x, y = source.x_train, source.y_train
    if source.x_test is None or source.y_test is None:
        test, val, train = _stratified_parts(y, (split.test, split.val), rng)
        x_test, y_test = x[test], y[test]
    else:
        val, train = _stratified_parts(y, (split.val / (1 - split.test),), rng)
        x_test, y_test = source.x_test, source.y_test
    arrays = {
        "x_train": x[train],
        "y_train": y[train],
        "x_val": x[val],
        "y_val": y[val],
        "x_test": x_test,
        "y_test": y_test,
    }
    _check_part_sizes(arrays, split, ref)
    return _make_dataset(ref, arrays, source.class_names, fingerprint)


def _check_part_sizes(arrays: dict[str, np.ndarray], split: Split, ref: str) -> None:
    wanted = {"train": True, "val": split.val > 0, "test": split.test > 0}
    for part, needed in wanted.items():
        if needed and len(arrays[f"y_{part}"]) == 0:
            sizes = ", ".join(f"{p} {len(arrays[f'y_{p}'])}" for p in wanted)
            raise DatasetError(
                f"dataset {ref!r} has too few images for the split "
                f"(val={split.val}, test={split.test}): the {part} part is empty ({sizes})"
            )


def _make_dataset(
    ref: str, arrays: dict[str, np.ndarray], class_names: tuple[str, ...], fingerprint: str
) -> Dataset:
    for array in arrays.values():
        array.flags.writeable = False
    return Dataset(
        name=ref,
        **arrays,
        input_shape=tuple(int(d) for d in arrays["x_train"].shape[1:]),
        classes=len(class_names),
        fingerprint=fingerprint,
        class_names=class_names,
    )


def _log_loaded(dataset: Dataset, origin: str, started: float) -> None:
    logger.info(
        "dataset %s: loaded from %s in %.2f s: %d train, %d val, %d test, input %s, %d classes",
        dataset.name, origin, time.perf_counter() - started, len(dataset.y_train),
        len(dataset.y_val), len(dataset.y_test), dataset.input_shape, dataset.classes,
    )  # fmt: skip


def _cache_file(cache_dir: Path | None, fingerprint: str) -> Path | None:
    """The disk cache's file for `fingerprint`, or None when the cache folder is unusable."""
    if cache_dir is None:
        configured = os.environ.get(CACHE_ENV)
        cache_dir = Path(configured) if configured else Path("~/.cache/hpsearch/datasets")
    directory = cache_dir.expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.warning("dataset cache %s is unusable, not caching (%s)", directory, exc)
        return None
    return directory / f"{fingerprint}.npz"


def _read_cached(path: Path, ref: str, fingerprint: str) -> Dataset | None:
    """The dataset cached in `path`, or None when it is missing or unusable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: np.asarray(archive[name]) for name in PART_ARRAYS}
            class_names = tuple(str(name) for name in archive["class_names"].tolist())
            stored = str(archive["fingerprint"])
    except (*CACHE_READ_ERRORS, AttributeError, TypeError) as exc:
        logger.warning("ignoring unreadable dataset cache file %s (%s)", path, exc)
        return None
    problem = _cache_problem(arrays, class_names, stored, fingerprint)
    if problem:
        logger.warning("ignoring dataset cache file %s: %s", path, problem)
        return None
    return _make_dataset(ref, arrays, class_names, fingerprint)


def _cache_problem(
    arrays: dict[str, np.ndarray], class_names: tuple[str, ...], stored: str, fingerprint: str
) -> str | None:
    """What is wrong with arrays read from the disk cache, or None."""
    if stored != fingerprint:
        return f"it holds fingerprint {stored}"
    shape = arrays["x_train"].shape[1:]
    for part in ("train", "val", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.dtype != np.float32 or x.ndim != 4 or x.shape[1:] != shape:
            return f"x_{part} has dtype {x.dtype} and shape {x.shape}"
        if y.dtype != np.int64 or y.shape != (len(x),):
            return f"y_{part} has dtype {y.dtype} and shape {y.shape}"
        if len(y) and not 0 <= int(y.min()) <= int(y.max()) < len(class_names):
            return f"y_{part} holds labels outside 0..{len(class_names) - 1}"
    return None


def _write_cached(path: Path, dataset: Dataset) -> None:
    """Write `dataset` to `path` atomically: other worker processes may read it at any time."""
    arrays = {name: getattr(dataset, name) for name in PART_ARRAYS}
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(
                    stream,
                    **arrays,
                    class_names=np.asarray(dataset.class_names, dtype=np.str_),
                    fingerprint=np.asarray(dataset.fingerprint),
                )
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.warning("could not write dataset cache file %s (%s)", path, exc)
        return
    logger.debug("dataset %s: wrote the disk cache file %s", dataset.name, path)
