"""The files of a local copy of a dataset: its layout, which files hold a split, and a content name."""

from __future__ import annotations

import hashlib
from pathlib import Path

from udabench.errors import UdabenchError
from udabench.specs import DatasetSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SPLIT_KEYWORDS = {"train": ("train", "training"), "test": ("test", "testing", "eval", "evaluation"),
                  "validation": ("validation", "valid", "dev", "val")}
_SEPARATORS = "-._ 0123456789"


def folder_digest(folder: Path, times: bool = False) -> str:
    """A short content name for a local folder: relative file names and sizes, not paths or times
    (with ``times``, modification times too)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        stamp = f":{stat.st_mtime_ns}" if times else ""
        digest.update(f"{path.relative_to(folder).as_posix()}:{stat.st_size}{stamp};".encode())
    return digest.hexdigest()[:16]


# Sub-folder names that are parts of one dataset's parquet layout, not datasets of their own.
LAYOUT_FOLDERS = {"data", "train", "test", "validation", "valid", "val", "dev", "eval", "all", "sample"}


def _parquet_datasets(spec: DatasetSpec, folder: Path) -> list[str]:
    """The sub-folders of ``folder`` that each hold a dataset's parquet files (``train/``, ``data/`` and
    the like are parts of one layout), up to three levels down; ``.`` for files in ``folder`` itself."""
    layout = LAYOUT_FOLDERS | {split.lower() for split in spec.splits}
    found = set()
    for pattern in ("*.parquet", "*/*.parquet", "*/*/*.parquet"):
        for path in folder.glob(pattern):
            parts = [part for part in path.relative_to(folder).parent.parts if part.lower() not in layout]
            found.add(parts[0] if parts else ".")
    return sorted(found)


def classify_folder(spec: DatasetSpec, folder: Path) -> str:
    if not folder.is_dir():
        raise UdabenchError(f"data folder for '{spec.name}' does not exist: {folder}")
    held = _parquet_datasets(spec, folder)
    if len(held) > 1:  # datasets would read every parquet file below it as one dataset
        names = ", ".join("(the folder itself)" if name == "." else name for name in held)
        pick = next((name for name in (spec.name, spec.hub_config) if name in held),
                    next(name for name in held if name != "."))
        root = f" (or --data-root {folder}, which reads each dataset from its own sub-folder)" \
            if spec.name in held else ""
        raise UdabenchError(
            f"data folder for '{spec.name}' holds several datasets (parquet files in {names}): {folder}; "
            f"name the one for '{spec.name}', e.g. --data {spec.name}={folder / pick}{root}"
        )
    if any(folder.glob("*.parquet")) or any(folder.glob("*/*.parquet")):
        return "parquet"
    if spec.local_loader:
        return "archive"
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file()):
        return "imagefolder"
    raise UdabenchError(
        f"data folder for '{spec.name}' holds no readable split: {folder} "
        "(expected hub-layout parquet files such as train-00000-of-00001.parquet, "
        "or an image folder class/xxx.png)"
    )


def _keywords(split: str) -> tuple[str, ...]:
    return SPLIT_KEYWORDS.get(split.lower(), (split.lower(),))


def _names_split(relative: Path, keyword: str) -> bool:
    """Whether a file's path names ``keyword`` the way ``datasets`` looks for split names: as a folder,
    or as a word of the file name (``train-00000-of-00001.parquet``, ``mnist_train.parquet``)."""
    parts = [part.lower() for part in relative.parts]
    if keyword in parts[:-1]:
        return True
    stem = parts[-1]
    at = stem.find(keyword)
    while at >= 0:
        before = stem[at - 1] if at else ""
        after = stem[at + len(keyword)] if at + len(keyword) < len(stem) else ""
        if (not before or before in _SEPARATORS) and (not after or after in _SEPARATORS):
            return True
        at = stem.find(keyword, at + 1)
    return False


def split_files(folder: Path, split: str, suffixes) -> list[Path]:
    """The files of ``folder`` (with one of ``suffixes``) that hold ``split``, as ``datasets`` reads a
    hub-layout folder; every file for ``train`` when no file names a split."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    named = [p for p in files if any(_names_split(p.relative_to(folder), k)
                                     for keywords in SPLIT_KEYWORDS.values() for k in keywords)]
    if not named:
        return files if split == "train" else []
    return [p for p in files if any(_names_split(p.relative_to(folder), k) for k in _keywords(split))]


def image_folder_classes(folder: Path) -> list[str]:
    """The class names ``datasets``' image folder reader gives a folder: its images' parent folder
    names, sorted as strings (label ``i`` is the ``i``-th)."""
    names = set()
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and path.parent != folder:
            names.add(path.parent.name)
    return sorted(names)
