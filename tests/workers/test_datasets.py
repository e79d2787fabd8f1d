"""Tests for workers/datasets.py: sources, stratified splits, memory and disk caches."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import textwrap
import threading
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workers import image_folders
from workers.dataset_sources import load_keras_arrays
from workers.datasets import Dataset, DatasetError, Split, clear_memory_cache, load_dataset

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("train", "val", "test")


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    clear_memory_cache()
    yield
    clear_memory_cache()


def write_npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


def indexed_images(count: int) -> np.ndarray:
    """uint8 images (N, 4, 4) whose first two pixels encode the image's own index."""
    images = np.zeros((count, 4, 4), dtype=np.uint8)
    images[:, 0, 0] = np.arange(count) // 256
    images[:, 0, 1] = np.arange(count) % 256
    images[:, 1:, :] = 128
    return images


def decoded_indices(x: np.ndarray) -> np.ndarray:
    pixels = np.rint(x[:, 0, :2, 0] * 255).astype(np.int64)
    return pixels[:, 0] * 256 + pixels[:, 1]


def labels_for(indices: np.ndarray) -> np.ndarray:
    """Unbalanced classes: an image's class is a function of its index."""
    return np.asarray([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])[indices % 10]


def write_indexed_npz(path: Path, count: int, test_count: int = 0) -> str:
    arrays = {"x_train": indexed_images(count), "y_train": labels_for(np.arange(count))}
    if test_count:
        test_indices = np.arange(count, count + test_count)
        arrays["x_test"] = indexed_images(count + test_count)[count:]
        arrays["y_test"] = labels_for(test_indices)
    return write_npz(path, **arrays)


def write_image(path: Path, size: tuple[int, int], mode: str = "L", shade: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = shade if mode == "L" else (shade, 255 - shade, 30)
    Image.new(mode, size, colour).save(path)


def write_image_folder(root: Path, per_class: int = 10) -> str:
    """Three classes of grayscale PNGs, most 12x10 (W x H), every fifth one 20x16."""
    for label, name in enumerate(("cat", "ant", "bee")):
        for index in range(per_class):
            size = (20, 16) if index % 5 == 0 else (12, 10)
            write_image(root / name / f"{index:02d}.png", size, shade=20 * label + index)
    return f"dir:{root}"


def part_arrays(dataset: Dataset) -> list[np.ndarray]:
    return [getattr(dataset, f"{axis}_{part}") for part in PARTS for axis in "xy"]


def test_digits_load_as_unit_float_images_in_ten_classes(tmp_path):
    dataset = load_dataset("digits", cache_dir=tmp_path)

    assert dataset.name == "digits"
    assert dataset.input_shape == (8, 8, 1)
    assert dataset.classes == 10
    assert dataset.class_names == tuple(str(d) for d in range(10))
    for part in PARTS:
        x, y = getattr(dataset, f"x_{part}"), getattr(dataset, f"y_{part}")
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape[1:] == (8, 8, 1) and y.shape == (len(x),)
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert set(np.unique(y)) == set(range(10))
    sizes = [len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)]
    assert sum(sizes) == 1797
    assert sizes[1] == pytest.approx(0.15 * 1797, abs=10)
    assert sizes[2] == pytest.approx(0.15 * 1797, abs=10)
    assert dataset.x_train.max() == 1.0  # 16/16: scaled by 16, not 255


def test_split_is_deterministic_between_loads_and_seeds_change_it(tmp_path):
    first = load_dataset("digits", cache_dir=tmp_path)
    clear_memory_cache()
    again = load_dataset("digits", cache_dir=tmp_path / "other")
    reseeded = load_dataset("digits", Split(seed=1), cache_dir=tmp_path)

    assert again is not first
    for a, b in zip(part_arrays(first), part_arrays(again), strict=True):
        assert a.tobytes() == b.tobytes()
    assert first.fingerprint == again.fingerprint
    assert reseeded.fingerprint != first.fingerprint
    assert not np.array_equal(reseeded.y_test, first.y_test)


def test_split_is_byte_identical_in_another_process(tmp_path):
    ref = write_indexed_npz(tmp_path / "data.npz", 300)
    digest = hashlib.sha256()
    for array in part_arrays(load_dataset(ref, cache_dir=tmp_path / "here")):
        digest.update(array.tobytes())
    script = textwrap.dedent(
        """
        import hashlib, sys
        from pathlib import Path
        from workers.datasets import load_dataset
        digest = hashlib.sha256()
        dataset = load_dataset(sys.argv[1], cache_dir=Path(sys.argv[2]))
        for part in ("train", "val", "test"):
            for axis in "xy":
                digest.update(getattr(dataset, f"{axis}_{part}").tobytes())
        print(digest.hexdigest())
        """
    )
    there = str(tmp_path / "there")  # a separate disk cache: the child splits from the source
    result = subprocess.run(
        [sys.executable, "-c", script, ref, there],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == digest.hexdigest()


def test_split_is_stratified_by_class(tmp_path):
    dataset = load_dataset("digits", cache_dir=tmp_path)
    everything = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    per_class = Counter(everything.tolist())

    for part in ("val", "test"):
        counts = Counter(getattr(dataset, f"y_{part}").tolist())
        for label, total in per_class.items():
            assert abs(counts[label] - 0.15 * total) <= 1, (part, label)


def test_train_val_and_test_never_overlap_and_keep_their_labels(tmp_path):
    ref = write_indexed_npz(tmp_path / "indexed.npz", 1000)
    dataset = load_dataset(ref, cache_dir=tmp_path)
    indices = {part: decoded_indices(getattr(dataset, f"x_{part}")) for part in PARTS}

    for part, found in indices.items():
        assert len(np.unique(found)) == len(found), f"{part} repeats an image"
        np.testing.assert_array_equal(getattr(dataset, f"y_{part}"), labels_for(found))
    assert not set(indices["train"]) & set(indices["val"])
    assert not set(indices["train"]) & set(indices["test"])
    assert not set(indices["val"]) & set(indices["test"])
    assert sorted(np.concatenate(list(indices.values()))) == list(range(1000))
    assert not np.all(np.diff(dataset.y_train) >= 0), "parts are shuffled, not grouped by class"


def test_a_source_test_split_is_kept_and_val_is_carved_from_train(tmp_path):
    ref = write_indexed_npz(tmp_path / "with_test.npz", 850, test_count=200)
    dataset = load_dataset(ref, cache_dir=tmp_path)
    train, val = decoded_indices(dataset.x_train), decoded_indices(dataset.x_val)

    np.testing.assert_array_equal(decoded_indices(dataset.x_test), np.arange(850, 1050))
    np.testing.assert_array_equal(dataset.y_test, labels_for(np.arange(850, 1050)))
    assert not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == list(range(850))
    assert len(val) == pytest.approx(850 * 0.15 / 0.85, abs=4)  # 150, one rounding per class


def test_uint8_images_are_divided_by_255(tmp_path):
    images = np.arange(40 * 9, dtype=np.uint16).reshape(40, 3, 3).astype(np.uint8)
    ref = write_npz(tmp_path / "u8.npz", x_train=images, y_train=np.arange(40) % 2)
    dataset = load_dataset(ref, Split(val=0.25, test=0.25), cache_dir=tmp_path)
    x = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])

    assert x.dtype == np.float32 and x.shape == (40, 3, 3, 1)
    assert x.max() == 1.0
    assert sorted(x.ravel().tolist()) == sorted((images.astype(np.float32) / 255).ravel().tolist())


def test_uint8_images_are_divided_by_255_even_when_they_hold_only_0_and_1(tmp_path):
    masks = (np.arange(20 * 4).reshape(20, 2, 2) % 2).astype(np.uint8)
    ref = write_npz(tmp_path / "masks.npz", x_train=masks, y_train=np.arange(20) % 2)
    dataset = load_dataset(ref, Split(val=0.2, test=0.2), cache_dir=tmp_path)

    assert dataset.x_train.max() == np.float32(1 / 255)


@pytest.mark.parametrize(
    ("high", "expected_max"), [(1.0, 1.0), (0.5, 0.5), (255.0, 1.0), (127.5, 0.5)]
)
def test_float_images_above_one_are_divided_by_255_and_others_kept(tmp_path, high, expected_max):
    images = np.linspace(0, high, 20 * 4, dtype=np.float64).reshape(20, 2, 2, 1)
    ref = write_npz(tmp_path / "f.npz", x_train=images, y_train=np.arange(20) % 2)
    dataset = load_dataset(ref, Split(val=0.2, test=0.2), cache_dir=tmp_path)
    x = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])

    assert x.dtype == np.float32
    assert x.max() == pytest.approx(expected_max)


def test_one_hot_labels_become_class_indices(tmp_path):
    labels = np.arange(60) % 3
    one_hot = np.eye(3, dtype=np.float32)[labels]
    images = np.zeros((60, 5, 5, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = labels
    ref = write_npz(tmp_path / "onehot.npz", x_train=images, y_train=one_hot)
    dataset = load_dataset(ref, cache_dir=tmp_path)

    assert dataset.classes == 3 and dataset.input_shape == (5, 5, 3)
    assert dataset.y_train.shape == (len(dataset.x_train),)
    recovered = np.rint(dataset.x_train[:, 0, 0, 0] * 255).astype(np.int64)
    np.testing.assert_array_equal(dataset.y_train, recovered)


def test_labels_that_are_not_0_to_k_are_remapped_by_sorted_value(tmp_path):
    raw = np.asarray([10, 3, 7] * 20).reshape(60, 1)
    images = np.zeros((60, 2, 2), dtype=np.uint8)
    images[:, 0, 0] = raw[:, 0]
    ref = write_npz(
        tmp_path / "sparse.npz",
        x_train=images,
        y_train=raw,
        x_test=images[:9],
        y_test=raw[:9, 0],
    )
    dataset = load_dataset(ref, cache_dir=tmp_path)

    assert dataset.class_names == ("3", "7", "10")
    assert dataset.classes == 3
    for part in PARTS:
        x, y = getattr(dataset, f"x_{part}"), getattr(dataset, f"y_{part}")
        original = np.rint(x[:, 0, 0, 0] * 255).astype(np.int64)
        np.testing.assert_array_equal(y, np.searchsorted([3, 7, 10], original))


@pytest.mark.parametrize(
    ("arrays", "named"),
    [
        ({"x_train": np.zeros((10, 4, 4))}, "'y_train'"),
        ({"y_train": np.zeros(10)}, "'x_train'"),
        ({"x_train": np.zeros((10, 4, 4)), "y_train": np.zeros(10), "x_test": np.zeros((2, 4, 4))},
         "'y_test'"),
        ({"x_train": np.zeros((10, 16)), "y_train": np.zeros(10)}, "x_train has shape (10, 16)"),
        ({"x_train": np.zeros((10, 4, 4)), "y_train": np.zeros(9)}, "y_train has 9 labels"),
        ({"x_train": np.zeros((10, 4, 4)), "y_train": np.zeros((10, 2, 2))}, "y_train has shape"),
        ({"x_train": np.full((10, 4, 4), 300.0), "y_train": np.zeros(10)}, "x_train has values"),
        ({"x_train": np.zeros((10, 4, 4)), "y_train": np.zeros(10),
          "x_test": np.zeros((2, 5, 5)), "y_test": np.zeros(2)}, "x_test images have shape"),
    ],
)  # fmt: skip
def test_a_bad_npz_is_an_error_naming_the_array(tmp_path, arrays, named):
    ref = write_npz(tmp_path / "bad.npz", **arrays)

    with pytest.raises(DatasetError, match=r"bad\.npz") as caught:
        load_dataset(ref, cache_dir=tmp_path)
    assert named in str(caught.value)


def test_a_missing_or_unreadable_file_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere.npz"
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an archive at all")

    with pytest.raises(DatasetError, match=r"file not found: .*nowhere\.npz"):
        load_dataset(f"npz:{missing}", cache_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"garbage\.npz"):
        load_dataset(f"npz:{garbage}", cache_dir=tmp_path)


@pytest.mark.parametrize("ref", ["imagenet", "npz:", "csv:/data.csv"])
def test_an_unknown_reference_is_a_dataset_error(tmp_path, ref):
    with pytest.raises(DatasetError, match="dataset"):
        load_dataset(ref, cache_dir=tmp_path)


@pytest.mark.parametrize(
    "split",
    [Split(val=0.9), Split(test=-0.1), Split(val=0.5, test=0.5), Split(val=float("nan")),
     Split(seed=-1)],
)  # fmt: skip
def test_bad_split_fractions_are_rejected(tmp_path, split):
    with pytest.raises(DatasetError, match="split"):
        load_dataset("digits", split, cache_dir=tmp_path)


def test_a_folder_of_grayscale_images_loads_resized_to_the_common_size(tmp_path):
    ref = write_image_folder(tmp_path / "images")
    (tmp_path / "images" / "ant" / ".hidden.png").write_bytes(b"junk, but hidden")
    (tmp_path / "images" / ".trash").mkdir()
    dataset = load_dataset(ref, cache_dir=tmp_path / "cache")

    assert dataset.class_names == ("ant", "bee", "cat")
    assert dataset.input_shape == (10, 12, 1)
    assert dataset.x_train.dtype == np.float32 and dataset.x_train.min() >= 0.0
    total = sum(len(getattr(dataset, f"y_{part}")) for part in PARTS)
    assert total == 30
    for part in ("val", "test"):  # round(0.15 * 10) = 2 of each class
        assert Counter(getattr(dataset, f"y_{part}").tolist()) == {0: 2, 1: 2, 2: 2}
    assert Counter(dataset.y_train.tolist()) == {0: 6, 1: 6, 2: 6}


def test_one_colour_image_makes_the_whole_folder_rgb(tmp_path):
    ref = write_image_folder(tmp_path / "images")
    write_image(tmp_path / "images" / "bee" / "colour.jpg", (12, 10), mode="RGB")
    dataset = load_dataset(ref, cache_dir=tmp_path / "cache")

    assert dataset.input_shape == (10, 12, 3)
    x = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])
    coloured = np.any(x[..., 0] != x[..., 1], axis=(1, 2))
    assert coloured.sum() == 1


def test_an_unreadable_image_is_an_error_naming_the_file(tmp_path):
    ref = write_image_folder(tmp_path / "images")
    (tmp_path / "images" / "cat" / "broken.png").write_bytes(b"\x89PNG but then nothing")

    with pytest.raises(DatasetError, match=r"broken\.png"):
        load_dataset(ref, cache_dir=tmp_path / "cache")


def test_a_folder_with_one_class_is_an_error(tmp_path):
    for index in range(5):
        write_image(tmp_path / "images" / "only" / f"{index}.png", (8, 8))

    with pytest.raises(DatasetError, match="at least 2 classes"):
        load_dataset(f"dir:{tmp_path / 'images'}", cache_dir=tmp_path / "cache")


def test_a_second_load_reads_the_disk_cache_instead_of_decoding(tmp_path, monkeypatch, caplog):
    ref = write_image_folder(tmp_path / "images")
    cache = tmp_path / "cache"
    first = load_dataset(ref, cache_dir=cache)
    clear_memory_cache()

    def refuse_to_decode(*args, **kwargs):
        raise AssertionError("the image folder was decoded again")

    monkeypatch.setattr(image_folders, "read_image_folder", refuse_to_decode)
    with caplog.at_level(logging.INFO, logger="workers.datasets"):
        second = load_dataset(ref, cache_dir=cache)

    assert [p.name for p in cache.iterdir()] == [f"{first.fingerprint}.npz"]
    assert any("disk cache" in record.getMessage() for record in caplog.records)
    for a, b in zip(part_arrays(first), part_arrays(second), strict=True):
        np.testing.assert_array_equal(a, b)
    assert second.class_names == first.class_names and second.classes == 3


def test_the_fingerprint_follows_the_source_content(tmp_path):
    path = tmp_path / "data.npz"
    ref = write_indexed_npz(path, 100)
    before = load_dataset(ref, cache_dir=tmp_path / "cache")
    clear_memory_cache()
    write_indexed_npz(path, 120)
    after = load_dataset(ref, cache_dir=tmp_path / "cache")

    assert len(before.fingerprint) == 64 and after.fingerprint != before.fingerprint
    assert len(after.y_train) + len(after.y_val) + len(after.y_test) == 120
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert cached == sorted([f"{before.fingerprint}.npz", f"{after.fingerprint}.npz"])


def test_a_corrupt_cache_file_is_ignored_and_rewritten(tmp_path, caplog):
    ref = write_indexed_npz(tmp_path / "data.npz", 100)
    cache = tmp_path / "cache"
    good = load_dataset(ref, cache_dir=cache)
    cache_file = cache / f"{good.fingerprint}.npz"
    cache_file.write_bytes(b"PK\x03\x04 truncated")
    clear_memory_cache()

    with caplog.at_level(logging.INFO, logger="workers.datasets"):
        again = load_dataset(ref, cache_dir=cache)

    assert any("loaded from source" in record.getMessage() for record in caplog.records)
    np.testing.assert_array_equal(again.x_train, good.x_train)
    with np.load(cache_file) as archive:
        np.testing.assert_array_equal(archive["x_train"], good.x_train)
    assert [p.name for p in cache.iterdir()] == [cache_file.name], "no temporary file left"


def test_the_cache_folder_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSEARCH_DATASET_CACHE", str(tmp_path / "from-env"))
    dataset = load_dataset(write_indexed_npz(tmp_path / "data.npz", 50))

    assert (tmp_path / "from-env" / f"{dataset.fingerprint}.npz").is_file()


def test_the_memory_cache_shares_read_only_arrays(tmp_path):
    first = load_dataset("digits", cache_dir=tmp_path)
    second = load_dataset(" digits", cache_dir=tmp_path)

    assert second.x_train is first.x_train
    assert second.name == " digits"
    with pytest.raises(ValueError, match="read-only"):
        first.x_train[0, 0, 0, 0] = 0.5


def fake_keras_mnist(tmp_path, monkeypatch, load_data):
    """A `keras` module whose `datasets.mnist.load_data` is `load_data`, with a writable
    KERAS_HOME under `tmp_path`; returns Keras' dataset cache folder."""
    fake_keras = types.ModuleType("keras")
    fake_keras.datasets = types.SimpleNamespace(  # type: ignore[attr-defined]
        mnist=types.SimpleNamespace(load_data=load_data)
    )
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    (tmp_path / "keras-home").mkdir()
    return tmp_path / "keras-home" / "datasets"


def test_a_failed_keras_download_names_the_download_and_the_cache(tmp_path, monkeypatch):
    def offline_load_data():
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- offline")

    cache = fake_keras_mnist(tmp_path, monkeypatch, offline_load_data)

    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert "'mnist'" in message and "download failed" in message and "URL fetch" in message
    assert str(cache) in message


def test_slots_of_a_node_load_a_keras_dataset_one_at_a_time(tmp_path, monkeypatch):
    """Keras writes its download in place: two slots downloading at once would spoil it."""
    entries = [threading.Event(), threading.Event()]
    release, inside, most = threading.Event(), [], []

    def load_data():
        entries[len(most)].set()
        inside.append(1)
        most.append(len(inside))
        release.wait(timeout=30)  # the first load holds on while the second slot starts
        inside.pop()
        x, y = np.zeros((4, 2, 2), np.uint8), np.arange(4) % 2
        return (x, y), (x[:2], y[:2])

    cache = fake_keras_mnist(tmp_path, monkeypatch, load_data)
    slots = [threading.Thread(target=load_keras_arrays, args=("mnist", "mnist")) for _ in range(2)]
    slots[0].start()
    assert entries[0].wait(timeout=30)
    slots[1].start()
    assert not entries[1].wait(timeout=1.0)  # the second slot waits for the lock
    release.set()
    for slot in slots:
        slot.join(timeout=30)
    assert entries[1].is_set() and most == [1, 1]
    assert (cache / ".hpsearch-download.lock").exists()


@pytest.mark.keras
def test_real_keras_offline_with_an_empty_cache_raises_a_dataset_error(tmp_path):
    script = textwrap.dedent(
        """
        import socket, sys
        from pathlib import Path

        def refuse(*args, **kwargs):
            raise OSError("network disabled by the test")

        socket.getaddrinfo = refuse
        socket.socket.connect = refuse
        from workers.datasets import DatasetError, load_dataset
        try:
            load_dataset("mnist", cache_dir=Path(sys.argv[1]))
        except DatasetError as exc:
            print("DatasetError:", exc)
        """
    )
    keras_home = tmp_path / "keras-home"
    env = {**os.environ, "KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "cache")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("DatasetError:")]
    assert len(lines) == 1, result.stdout + result.stderr[-2000:]
    assert "download failed" in lines[0]
    assert str(keras_home / "datasets") in lines[0]


def test_importing_workers_datasets_imports_neither_tensorflow_nor_keras():
    script = (
        "import sys, workers.datasets; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
