"""Dataset references as a study spec names them (`digits`, `cifar10`, `npz:PATH`, `dir:PATH`).

Pure: this module only parses and describes references. Loading lives in `workers/datasets.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUILTIN_DATASETS", "DatasetRef", "parse_dataset_ref"]


@dataclass(frozen=True)
class BuiltinDataset:
    """What the controller knows of a bundled or downloadable dataset without loading it."""

    input_shape: tuple[int, int, int]
    classes: int
    has_test_split: bool


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "digits": BuiltinDataset((8, 8, 1), 10, has_test_split=False),
    "mnist": BuiltinDataset((28, 28, 1), 10, has_test_split=True),
    "fashion_mnist": BuiltinDataset((28, 28, 1), 10, has_test_split=True),
    "cifar10": BuiltinDataset((32, 32, 3), 10, has_test_split=True),
    "cifar100": BuiltinDataset((32, 32, 3), 100, has_test_split=True),
}

FILE_KINDS = ("npz", "dir")


@dataclass(frozen=True)
class DatasetRef:
    """A parsed reference: `kind` is a builtin name, `npz` or `dir`; `path` is set for files."""

    kind: str
    path: str | None = None

    @property
    def builtin(self) -> BuiltinDataset | None:
        return BUILTIN_DATASETS.get(self.kind)

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}" if self.path is not None else self.kind


def parse_dataset_ref(text: str) -> DatasetRef:
    """Parse `digits`, `mnist`, ..., `npz:PATH` or `dir:PATH`; ValueError names the bad value."""
    value = text.strip()
    if value in BUILTIN_DATASETS:
        return DatasetRef(value)
    kind, sep, path = value.partition(":")
    if sep and kind in FILE_KINDS:
        if not path.strip():
            raise ValueError(f"dataset {value!r} names no path after '{kind}:'")
        if "\x00" in path:
            raise ValueError(f"dataset {value!r} has a NUL character in its path")
        return DatasetRef(kind, path.strip())
    known = ", ".join([*BUILTIN_DATASETS, "npz:PATH", "dir:PATH"])
    raise ValueError(f"unknown dataset {value!r}; expected one of: {known}")
