"""An on-disk cache of decoded, protocol-sized splits, memory-mapped back on load.

Decoding is the same work at every run of a task (MNIST's 70,000 PNGs, GTSRB's 24,631 photographs),
so a split is decoded once and kept as raw uint8 images and labels beside a small JSON record. An
entry's name hashes everything its bytes depend on: the dataset spec, the data's fingerprint (and,
for a hub copy on a branch, the commit the branch points at in the hub cache), the split, the
task's size, channels and classes, and the source of the code that read it. The record holds
each file's size and SHA-256 and is written last, so an entry that was cut short, altered or
written by other code fails its check and is rebuilt, never used.

The folder is ``$UDABENCH_CACHE`` (``off`` turns the cache off), else the user cache directory.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

# Bumped when the layout of an entry changes.
FORMAT = 1
OFF = "off"
_DTYPES = {"uint8": 1, "int64": 8}


def cache_folder() -> Path | None:
    """Where entries live, or ``None`` when ``UDABENCH_CACHE=off``."""
    configured = os.environ.get("UDABENCH_CACHE")
    if configured is not None and configured.strip().lower() == OFF:
        return None
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("udabench")) / "decoded"


def _code_digest(objects) -> str:
    """A hash of the source files that define ``objects`` (the code an entry's bytes came from)."""
    digest = hashlib.sha256()
    for obj in objects:
        try:
            path = inspect.getsourcefile(obj)
        except TypeError:
            path = None
        digest.update(Path(path).read_bytes() if path else repr(obj).encode())
    return digest.hexdigest()[:16]


def entry_key(description: dict[str, Any], readers) -> str:
    """The name of an entry: a hash of ``description`` (JSON-able) and of the readers' source code."""
    payload = json.dumps({"format": FORMAT, "code": _code_digest(readers), **description},
                         sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def _write_tensor(tensor, path: Path) -> dict[str, Any]:
    array = tensor.contiguous().numpy()
    with open(path, "wb") as handle:
        handle.write(memoryview(array).cast("B"))
    return {"file": path.name, "shape": list(array.shape), "dtype": str(array.dtype),
            "bytes": path.stat().st_size, "sha256": _file_digest(path)}


def _map_tensor(folder: Path, record: dict[str, Any]):
    """The tensor a record describes, memory-mapped (copy on write) from its file."""
    import torch

    count = 1
    for side in record["shape"]:
        count *= side
    dtype = getattr(torch, record["dtype"])
    if count == 0:
        return torch.empty(record["shape"], dtype=dtype)
    flat = torch.from_file(str(folder / record["file"]), shared=False, size=count, dtype=dtype)
    return flat.view(record["shape"])


def _valid(folder: Path, meta: dict[str, Any]) -> bool:
    for name in ("images", "labels"):
        record = meta.get(name)
        if not isinstance(record, dict) or record.get("dtype") not in _DTYPES:
            return False
        path = folder / record["file"]
        expected = _DTYPES[record["dtype"]]
        for side in record["shape"]:
            expected *= side
        if not path.is_file() or path.stat().st_size != expected or record.get("bytes") != expected:
            return False
        if _file_digest(path) != record["sha256"]:
            return False
    return True


def load(key: str, folder: Path | None = None):
    """``(images, labels, extra)`` of a sound entry, memory-mapped; ``None`` if it is absent or fails
    its check (a failed entry is removed, so that it is rebuilt)."""
    folder = folder if folder is not None else cache_folder()
    if folder is None:
        return None
    entry = folder / key
    meta_path = entry / "entry.json"
    if not entry.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") == FORMAT and meta.get("key") == key and _valid(entry, meta):
            return _map_tensor(entry, meta["images"]), _map_tensor(entry, meta["labels"]), meta.get("extra", {})
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        pass
    print(f"udabench: decoded-data cache entry {key[:12]} failed its check; decoding again", file=sys.stderr)
    shutil.rmtree(entry, ignore_errors=True)
    return None


def store(key: str, images, labels, extra: dict[str, Any], folder: Path | None = None) -> bool:
    """Write an entry atomically (a temporary folder renamed into place); ``False`` if the cache is
    off or the disk refuses (the run goes on without it)."""
    folder = folder if folder is not None else cache_folder()
    if folder is None:
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=folder))
        try:
            meta = {"format": FORMAT, "key": key,
                    "images": _write_tensor(images, staging / "images.bin"),
                    "labels": _write_tensor(labels, staging / "labels.bin"), "extra": extra}
            (staging / "entry.json").write_text(json.dumps(meta, indent=1))
            target = folder / key
            try:
                os.replace(staging, target)
            except OSError:
                if not (target / "entry.json").is_file():
                    raise
                # another process finished the same entry first: theirs is as good as ours
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        print(f"udabench: could not write the decoded-data cache in {folder} ({exc.strerror or exc}); "
              "continuing without it", file=sys.stderr)
        return False
    return True


def cached(key: str, build: Callable[[], tuple[Any, Any, dict[str, Any]]]):
    """``(images, labels, extra, hit)``: the entry ``key`` if sound, else ``build()``'s result, stored."""
    found = load(key)
    if found is not None:
        return (*found, True)
    images, labels, extra = build()
    store(key, images, labels, extra)
    return images, labels, extra, False


def entries(folder: Path | None = None) -> list[dict[str, Any]]:
    """The entries in the cache folder: key, size in bytes and what they hold."""
    folder = folder if folder is not None else cache_folder()
    if folder is None or not folder.is_dir():
        return []
    found = []
    for meta_path in sorted(folder.glob("*/entry.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        size = sum(p.stat().st_size for p in meta_path.parent.iterdir() if p.is_file())
        count = (meta.get("labels") or {}).get("shape", [None])[0]
        found.append({"key": meta_path.parent.name, "bytes": size, "count": count, **meta.get("extra", {})})
    return found


def clear(folder: Path | None = None) -> int:
    """Remove every entry (and any half-written one); returns the bytes freed."""
    folder = folder if folder is not None else cache_folder()
    if folder is None or not folder.is_dir():
        return 0
    freed = 0
    for child in folder.iterdir():
        if child.is_dir():
            freed += sum(p.stat().st_size for p in child.rglob("*") if p.is_file())
            shutil.rmtree(child, ignore_errors=True)
    return freed
