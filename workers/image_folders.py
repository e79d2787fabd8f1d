"""Image folders as datasets: `dir:PATH` holds one sub-folder of images per class.

Class names are the sorted sub-folder names. Every image is converted to one colour mode (RGB
if any image is in colour, else grayscale) and resized to the most common image size. Hidden
files and folders are skipped, and so are files whose suffix is not an image format's.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from workers.dataset_sources import DatasetError, SourceArrays, to_unit_images

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolder",
    "hash_image_folder",
    "list_image_folder",
    "read_image_folder",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp", ".tif", ".tiff", ".pbm", ".pgm", ".ppm"}
)
HASH_CHUNK_BYTES = 1 << 20
READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


@dataclass(frozen=True)
class ImageFolder:
    """The listing of an image folder: its image files in sorted order and their class index."""

    root: Path
    class_names: tuple[str, ...]
    files: tuple[Path, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class ImageHeader:
    size: tuple[int, int]  # (width, height), as PIL gives it
    colour: bool


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _class_images(class_dir: Path, root: Path) -> tuple[list[Path], int]:
    """The image files under one class folder, sorted, and how many other files were skipped."""
    files = [p for p in class_dir.rglob("*") if p.is_file() and not _is_hidden(p, root)]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(images, key=lambda p: p.relative_to(root).as_posix()), len(files) - len(images)


def list_image_folder(root: Path, ref: str) -> ImageFolder:
    """List the classes and images of `root`; DatasetError when it is not a usable folder."""
    if not root.is_dir():
        raise DatasetError(f"dataset {ref!r}: {root} is not a directory")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DatasetError(
            f"dataset {ref!r}: {root} has {len(class_dirs)} class folder(s); expected one "
            "sub-folder of images per class and at least 2 classes"
        )
    files: list[Path] = []
    labels: list[int] = []
    skipped = 0
    for label, class_dir in enumerate(class_dirs):
        images, others = _class_images(class_dir, root)
        if not images:
            raise DatasetError(f"dataset {ref!r}: class folder {class_dir} holds no images")
        files += images
        labels += [label] * len(images)
        skipped += others
    if skipped:
        logger.warning("dataset %s: skipped %d files that are not images", ref, skipped)
    names = tuple(p.name for p in class_dirs)
    return ImageFolder(root, names, tuple(files), tuple(labels))


def hash_image_folder(folder: ImageFolder) -> str:
    """sha256 over each image's relative path, size and bytes, in listing order."""
    digest = hashlib.sha256()
    for path in folder.files:
        relative = path.relative_to(folder.root).as_posix()
        digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as stream:
            while chunk := stream.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def _is_colour(image: Image.Image) -> bool:
    if image.mode in ("P", "PA"):
        palette = image.getpalette("RGB") or []
        reds, greens, blues = palette[0::3], palette[1::3], palette[2::3]
        return reds != greens or greens != blues
    return Image.getmodebase(image.mode) != "L"


def _read_header(path: Path, ref: str) -> ImageHeader:
    try:
        with Image.open(path) as image:
            return ImageHeader(image.size, _is_colour(image))
    except READ_ERRORS as exc:
        raise DatasetError(f"dataset {ref!r}: cannot read image {path} ({exc})") from exc


def _decode(path: Path, mode: str, size: tuple[int, int], ref: str) -> np.ndarray:
    """One image as uint8 (H, W) or (H, W, 3), in `mode` and resized to `size` (width, height)."""
    try:
        with Image.open(path) as image:
            converted = image.convert(mode)
            if converted.size != size:
                converted = converted.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(converted, dtype=np.uint8)
    except READ_ERRORS as exc:
        raise DatasetError(f"dataset {ref!r}: cannot read image {path} ({exc})") from exc


def read_image_folder(folder: ImageFolder, ref: str) -> SourceArrays:
    """Decode every image of `folder` into one array (no test split of its own)."""
    headers = [_read_header(path, ref) for path in folder.files]
    (width, height), _count = Counter(h.size for h in headers).most_common(1)[0]
    colour = any(h.colour for h in headers)
    mode, channels = ("RGB", 3) if colour else ("L", 1)
    resized = sum(h.size != (width, height) for h in headers)
    logger.info(
        "dataset %s: decoding %d images as %dx%d %s (%d resized)",
        ref, len(headers), width, height, mode, resized,
    )  # fmt: skip
    images = np.empty((len(folder.files), height, width, channels), dtype=np.uint8)
    for index, path in enumerate(folder.files):
        images[index] = _decode(path, mode, (width, height), ref).reshape(height, width, channels)
    labels = np.asarray(folder.labels, dtype=np.int64)
    return SourceArrays(
        to_unit_images(images, ref, "images"), labels, None, None, folder.class_names
    )
