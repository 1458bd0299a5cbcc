"""Turns a dataset spec and a location into a decoded, protocol-sized uint8 tensor split.

A hub id and a local folder in the hub's parquet layout go through the same call,
``datasets.load_dataset``; a folder of ``class/xxx.png`` goes through its ``imagefolder`` builder.
Images are decoded once, checked, converted to the task's channels and resolution, and kept as one
uint8 tensor: batches are later drawn by index, never through a per-sample pipeline.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from udabench.errors import UdabenchError
from udabench.specs import DatasetSpec, TaskSpec, load_object

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
# How far a split's images may be upsampled before the task cannot honestly use them.
MAX_UPSCALE = 4


@dataclass(frozen=True)
class DataSource:
    """Where one dataset's files come from for a run, and a fingerprint that names their content."""

    dataset: str
    kind: str  # "hub", "parquet", "imagefolder" or "archive"
    location: str
    revision: str | None = None

    @property
    def fingerprint(self) -> str:
        if self.kind == "hub":
            return f"hub:{self.location}@{self.revision}"
        return f"{self.kind}:{_folder_digest(Path(self.location))}"

    def describe(self) -> str:
        if self.kind == "hub":
            return f"{self.dataset} from the Hugging Face Hub ({self.location}@{self.revision})"
        return f"{self.dataset} from {self.location} ({self.kind})"


@dataclass
class DomainSplit:
    """One split of one domain: uint8 images ``(N, C, H, W)`` at task resolution and int64 labels."""

    images: "object"
    labels: "object"
    num_classes: int
    source: DataSource
    split: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device) -> "DomainSplit":
        return DomainSplit(self.images.to(device), self.labels.to(device), self.num_classes, self.source, self.split)


def _folder_digest(folder: Path) -> str:
    """A short content name for a local folder: relative file names and sizes, not paths or times."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}:{path.stat().st_size};".encode())
    return digest.hexdigest()[:16]


def _classify_folder(spec: DatasetSpec, folder: Path) -> str:
    if not folder.is_dir():
        raise UdabenchError(f"data folder for '{spec.name}' does not exist: {folder}")
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


def resolve_source(spec: DatasetSpec, folder: str | os.PathLike | None = None,
                   data_root: str | os.PathLike | None = None) -> DataSource:
    """Pick the data for ``spec``: an explicit folder, else ``data_root/<name>``, else the hub."""
    if folder is None and data_root is not None and (Path(data_root) / spec.name).is_dir():
        folder = Path(data_root) / spec.name
    if folder is not None:
        folder = Path(folder).expanduser().resolve()
        return DataSource(spec.name, _classify_folder(spec, folder), str(folder))
    if spec.hub_id is None:
        where = f" ({spec.homepage})" if spec.homepage else ""
        raise UdabenchError(
            f"dataset '{spec.name}' has no Hugging Face Hub copy: download it{where} and pass "
            f"--data {spec.name}=PATH, or put it in a data root as <root>/{spec.name} "
            "(--data-root or UDABENCH_DATA)"
        )
    return DataSource(spec.name, "hub", spec.hub_id, spec.revision)


def _load_hf_split(spec: DatasetSpec, source: DataSource, split: str):
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        if source.kind == "hub":
            loaded = datasets.load_dataset(source.location, spec.hub_config, revision=source.revision)
        elif source.kind == "parquet":
            loaded = datasets.load_dataset(source.location)
        else:
            loaded = datasets.load_dataset("imagefolder", data_dir=source.location)
    except UdabenchError:
        raise
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UdabenchError(
            f"could not read {source.describe()}: {type(exc).__name__}: {first_line}"
        ) from None
    if split not in loaded:
        raise UdabenchError(
            f"{source.describe()} has no '{split}' split (found: {', '.join(sorted(loaded))})"
        )
    return loaded[split]


def _decode(spec: DatasetSpec, source: DataSource, split: str, progress: bool):
    """Decoded images as a list of uint8 HWC numpy arrays, and the labels as a numpy array."""
    import numpy as np
    from PIL import Image

    if source.kind == "archive":
        return load_object(spec.local_loader)(Path(source.location), split)

    from datasets import Image as ImageFeature

    table = _load_hf_split(spec, source, split)
    image_column = spec.image_column if spec.image_column in table.column_names else "image"
    label_column = spec.label_column if spec.label_column in table.column_names else "label"
    missing = [c for c in (image_column, label_column) if c not in table.column_names]
    if missing:
        raise UdabenchError(
            f"{source.describe()} split '{split}' lacks column(s) {missing} (has {table.column_names})"
        )
    table = table.cast_column(image_column, ImageFeature(decode=False))
    labels = np.asarray(table[label_column], dtype=np.int64)
    images = []
    from tqdm.auto import tqdm

    rows = table[image_column]
    for index, item in enumerate(tqdm(rows, desc=f"decode {spec.name}/{split}", disable=not progress,
                                      leave=False, unit="img")):
        try:
            if item.get("bytes") is not None:
                image = Image.open(io.BytesIO(item["bytes"]))
            else:
                image = Image.open(item["path"])
            image.load()
        except Exception as exc:
            raise UdabenchError(
                f"{source.describe()} split '{split}': image {index} cannot be decoded ({type(exc).__name__})"
            ) from None
        images.append(_to_array(image, spec, source, split, index))
    return images, labels


def _to_array(image, spec, source, split, index):
    import numpy as np

    if image.mode in ("1", "L", "I", "I;16", "F"):
        if image.mode != "L":
            array = np.asarray(image, dtype=np.float64)
            top = array.max() if array.max() > 0 else 1.0
            return (array / top * 255).round().astype(np.uint8)[:, :, None]
        return np.asarray(image, dtype=np.uint8)[:, :, None]
    if image.mode in ("RGB", "P", "YCbCr"):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    raise UdabenchError(
        f"{source.describe()} split '{split}': image {index} has mode {image.mode} "
        f"({len(image.getbands())} channels); udabench tasks use grey (1) or RGB (3) images"
    )


def to_protocol(images, resolution: int, channels: int, where: str):
    """Stack decoded HWC uint8 arrays into one ``(N, channels, resolution, resolution)`` uint8 tensor."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    if not images:
        raise UdabenchError(f"{where} holds no images")
    smallest = min(min(a.shape[0], a.shape[1]) for a in images)
    if smallest * MAX_UPSCALE < resolution:
        raise UdabenchError(
            f"{where} has images of {smallest} px, too small for the task's {resolution}x{resolution} "
            f"input (at most {MAX_UPSCALE}x upsampling)"
        )
    groups: dict[tuple, list[int]] = {}
    for index, array in enumerate(images):
        groups.setdefault(array.shape, []).append(index)
    out = torch.empty((len(images), channels, resolution, resolution), dtype=torch.uint8)
    for shape, indices in groups.items():
        batch = torch.from_numpy(np.stack([images[i] for i in indices])).permute(0, 3, 1, 2)
        if batch.shape[1] != channels:
            batch = _convert_channels(batch, channels)
        if shape[0] != resolution or shape[1] != resolution:
            resized = F.interpolate(batch.float(), size=(resolution, resolution), mode="bilinear",
                                    antialias=True, align_corners=False)
            batch = resized.round().clamp(0, 255).to(torch.uint8)
        out[torch.as_tensor(indices)] = batch
    return out


def _convert_channels(batch, channels: int):
    import torch

    if channels == 3:
        return batch.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (batch.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def load_split(spec: DatasetSpec, source: DataSource, split: str, task: TaskSpec,
               progress: bool = False) -> DomainSplit:
    """Load, check and convert one split of ``spec`` to ``task``'s protocol (on the CPU)."""
    import torch

    where = f"{source.describe()} split '{split}'"
    images, labels = _decode(spec, source, split, progress)
    if len(images) != len(labels):
        raise UdabenchError(f"{where}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= spec.num_classes):
        bad = labels[(labels < 0) | (labels >= spec.num_classes)][0]
        raise UdabenchError(
            f"{where}: label {int(bad)} is outside the dataset's {spec.num_classes} classes (0..{spec.num_classes - 1})"
        )
    tensor = to_protocol(images, task.resolution, task.channels, where)
    return DomainSplit(tensor, torch.from_numpy(labels), spec.num_classes, source, split)
