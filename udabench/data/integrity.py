"""Checks that a local copy of a dataset is the dataset its spec describes.

A folder passed for one dataset may hold another (``--data mnist=<usps>``), or the right images with
labels that mean something else. Nothing downstream would notice: images are resized and converted
to the task's size and channels whatever they were. So before a split is decoded (and before the
decoded-data cache is looked at) a few cheap signals are read from the files and compared with the
spec; a misfit stops the run with one line naming the dataset, the folder, what the spec expects and
what the folder holds:

- classes: the number of class names a copy carries (a parquet file's ``ClassLabel`` names, an image
  folder's class folders) and, where those are the spec's names, their order (an image folder's
  labels follow its folder names sorted as strings: ``10`` before ``2``);
- labels: every label of a parquet split within ``0..len(classes) - 1``;
- channels: grey images for an RGB dataset, or colour images for a grey one (a sample of images);
- size: for a spec whose ``image_size`` is every image's size (``fixed_size``), images of another size.

The same checks run again on every decoded image of a split (:func:`check_decoded`), which also
covers the official archive readers. Importing this module never imports torch.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from udabench.data.folders import IMAGE_SUFFIXES, folder_digest, image_folder_classes, split_files
from udabench.errors import UdabenchError
from udabench.specs import DatasetSpec

# Images decoded per split to read its channels and size before the whole split is decoded.
SAMPLE_IMAGES = 32
# The most class names a message lists before it cuts the list short.
SHOWN_NAMES = 6


def misfit(spec: DatasetSpec, folder, expected: str, found: str) -> UdabenchError:
    """The one-line refusal of a copy that does not fit its spec."""
    return UdabenchError(f"data for '{spec.name}' in {folder} does not fit the '{spec.name}' spec: expected "
                         f"{expected}, found {found}; is it another dataset's folder? (pass --data "
                         f"{spec.name}=PATH with the right one)")


def _names(names, limit: int = SHOWN_NAMES) -> str:
    names = [str(name) for name in names]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _normalised(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(name).lower())


def check_class_names(spec: DatasetSpec, folder, names, what: str) -> None:
    """``names``, the classes a copy carries in its label order, against the spec's ``classes``."""
    names = list(names)
    if len(names) != spec.num_classes:
        raise misfit(spec, folder, f"{spec.num_classes} classes ({_names(spec.classes)})",
                     f"{len(names)} {what} ({_names(names)})")
    ours = [_normalised(name) for name in spec.classes]
    theirs = [_normalised(name) for name in names]
    if sorted(ours) == sorted(theirs) and ours != theirs:
        index = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
        raise misfit(spec, folder, f"the classes in the spec's order ({_names(spec.classes)})",
                     f"the same {what} in another order ({_names(names)}): label {index} would be "
                     f"'{names[index]}', not '{spec.classes[index]}'")


def check_labels(spec: DatasetSpec, folder, labels, split: str) -> None:
    import numpy as np

    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
        bad = labels[(labels < 0) | (labels >= spec.num_classes)]
        raise misfit(spec, folder, f"labels 0..{spec.num_classes - 1} ({spec.num_classes} classes)",
                     f"label {int(bad[0])} in split '{split}' ({len(bad)} such label(s))")


def is_grey(array) -> bool:
    """Whether a uint8 HWC array is a grey image (one channel, or three equal ones)."""
    if array.ndim == 2 or array.shape[-1] == 1:
        return True
    if array.shape[-1] != 3:
        return False
    return bool((array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all())


def check_size(spec: DatasetSpec, folder, arrays, split: str) -> None:
    """For a ``fixed_size`` spec: every decoded image has the spec's ``image_size``."""
    if not spec.fixed_size:
        return
    height, width = spec.image_size
    other = [a for a in arrays if a is not None and tuple(a.shape[:2]) != (height, width)]
    if other:
        found = other[0].shape
        checked = sum(a is not None for a in arrays)
        raise misfit(spec, folder, f"{width}x{height} px images (every {spec.name} image is)",
                     f"{found[1]}x{found[0]} px ({len(other)} of {checked} images checked in split '{split}')")


def check_channels(spec: DatasetSpec, folder, arrays, split: str) -> None:
    """A grey dataset's images are grey (one channel, or three equal ones; most of them), an RGB
    dataset's are not all stored as one-channel grey images (some RGB datasets hold a few grey photographs,
    and some readers store grey pictures as RGB)."""
    arrays = [array for array in arrays if array is not None]
    if not arrays:
        return
    if spec.channels == 1:
        colour = sum(not is_grey(array) for array in arrays)
        if colour * 2 > len(arrays):
            raise misfit(spec, folder, "grey (1-channel) images",
                         f"colour images ({colour} of {len(arrays)} checked in split '{split}')")
    if spec.channels == 3 and all(array.ndim == 2 or array.shape[-1] == 1 for array in arrays):
        raise misfit(spec, folder, "RGB (3-channel) colour images",
                     f"grey (1-channel) ones (all {len(arrays)} checked in split '{split}')")


def check_images(spec: DatasetSpec, folder, arrays, split: str) -> None:
    check_size(spec, folder, arrays, split)
    check_channels(spec, folder, arrays, split)


def check_decoded(spec: DatasetSpec, source, split: str, images, labels, sized: bool = True) -> None:
    """The checks on a whole decoded split: its labels, the size of every image (``sized``: the reader
    kept them at their own size), the channels of a spread sample of 256."""
    if source.kind == "generated":
        return
    check_labels(spec, source.location, labels, split)
    if sized:
        check_size(spec, source.location, images, split)
    check_channels(spec, source.location, images[::max(1, len(images) // 256)], split)


def parquet_class_names(path: Path, label_column: str):
    """The ``ClassLabel`` names a hub-layout parquet file's metadata gives its label column, or ``None``."""
    import json

    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    try:
        features = json.loads(metadata[b"huggingface"])["info"]["features"]
        feature = features[label_column]
    except (KeyError, ValueError, TypeError):
        return None
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and feature.get("names"):
        return list(feature["names"])
    return None


def _column(schema_names, wanted: str, default: str) -> str:
    return wanted if wanted in schema_names else default


def _decode_sample(blobs, count: int):
    import io

    import numpy as np
    from PIL import Image

    blobs = [b for b in blobs if b]
    step = max(1, len(blobs) // count)
    arrays = []
    for blob in blobs[::step][:count]:
        try:
            image = Image.open(io.BytesIO(blob))
            image.load()
        except Exception:
            continue  # the full decode names an undecodable image
        if image.mode in ("1", "L", "I", "I;16", "F"):
            arrays.append(np.zeros((image.height, image.width, 1), dtype=np.uint8))
        elif image.mode in ("RGB", "P", "YCbCr"):
            arrays.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    return arrays


def check_parquet(spec: DatasetSpec, folder: Path, split: str, samples: int = SAMPLE_IMAGES) -> None:
    import pyarrow.parquet as pq

    files = split_files(folder, split, {".parquet"})
    if not files:
        return  # reading it names the missing split
    try:
        schema = pq.read_schema(files[0])
    except Exception:
        return  # reading it names the unreadable file
    label_column = _column(schema.names, spec.label_column, "label")
    image_column = _column(schema.names, spec.image_column, "image")
    names = parquet_class_names(files[0], label_column)
    if names is not None:
        check_class_names(spec, folder, names, "class names in its parquet metadata")
    if label_column in schema.names:
        for path in files:
            labels = pq.ParquetFile(path).read(columns=[label_column]).column(0).to_numpy(zero_copy_only=False)
            check_labels(spec, folder, labels, split)
    if image_column not in schema.names:
        return
    reader = pq.ParquetFile(files[0])
    if not reader.metadata.num_row_groups:
        return
    import pyarrow as pa

    column = reader.read_row_group(0, columns=[image_column]).column(0).combine_chunks()
    try:
        blobs = column.field("bytes") if pa.types.is_struct(column.type) else column
    except KeyError:
        return
    picked = pa.array(range(0, len(blobs), max(1, len(blobs) // samples))[:samples], type=pa.int64())
    check_images(spec, folder, _decode_sample(blobs.take(picked).to_pylist(), samples), split)


def check_image_folder(spec: DatasetSpec, folder: Path, split: str, samples: int = SAMPLE_IMAGES) -> None:
    names = image_folder_classes(folder)
    if names:
        check_class_names(spec, folder, names, "class folders")
        numbered = sorted(names, key=int) if all(name.isdigit() for name in names) else names
        if numbered != names:  # folders 0..42 read as text: label 2 would be folder "10"
            index = next(i for i, (a, b) in enumerate(zip(names, numbered)) if a != b)
            raise misfit(spec, folder, f"class folders whose order is the label order ({_names(numbered)})",
                         f"numbered class folders, which are read in text order ({_names(names)}): label {index} "
                         f"would be folder '{names[index]}'; name them with leading zeros (00, 01, ...)")
    files = split_files(folder, split, IMAGE_SUFFIXES)
    step = max(1, len(files) // samples)
    check_images(spec, folder, _decode_sample([p.read_bytes() for p in files[::step][:samples]], samples), split)


def check_source(spec: DatasetSpec, source, split: str) -> None:
    """The cheap checks of one split of a local copy, before it is decoded; nothing for the hub, for
    generated data or an official archive layout (their decoded images are checked instead). A sweep
    prepares many runs on the same folders: a copy that passed is not read again while its files stay
    as they were (see :func:`_check_copy`)."""
    if source.kind not in ("parquet", "imagefolder"):
        return
    folder = Path(source.location)
    _check_copy(_Copy(spec, (spec.name, spec.classes, spec.image_size, spec.channels, spec.fixed_size,
                             spec.image_column, spec.label_column), source.kind, folder, split,
                      folder_digest(folder, times=True)))


@dataclass(frozen=True)
class _Copy:
    """One split of a local copy as the checks see it; equal copies get the same verdict: the spec's
    fields that the checks read, the layout, the folder and the digest of its files' names, sizes
    and modification times (a file rewritten since gives another digest)."""

    spec: DatasetSpec = field(compare=False)
    checked: tuple
    kind: str
    folder: Path
    split: str
    digest: str


@functools.lru_cache(maxsize=None)
def _check_copy(copy: _Copy) -> None:
    """Cached on :class:`_Copy`, which holds everything the verdict depends on; a misfit raises, and
    is not cached, so a refused copy is read again when asked again."""
    if copy.kind == "parquet":
        check_parquet(copy.spec, copy.folder, copy.split)
    else:
        check_image_folder(copy.spec, copy.folder, copy.split)
