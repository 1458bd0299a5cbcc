"""Readers for GTA5, SYNTHIA (RAND-CITYSCAPES) and Cityscapes in the layouts their archives unpack to.

Each loader returns ``(images, labels)``: lists of HxWx3 uint8 RGB arrays and of HxW uint8 label
maps holding the index of the dataset's class (into ``CITYSCAPES_CLASSES`` for Cityscapes and GTA5,
into ``SYNTHIA_CLASSES`` for SYNTHIA), 255 where the pixel is ignored. The raw ids of each dataset
are checked against its id table before mapping: an unknown id means the wrong files were passed
(a colour or instance map instead of the id map, a converted copy), and training on it silently
would only show up later as a bad mIoU.

When a ``size`` ``(height, width)`` is given, each image is resized with PIL's bilinear filter
(``Image.BILINEAR``, which widens its support when shrinking, so it is antialiased) and each label
map, after mapping, with nearest neighbours, one file at a time, so that full-size frames never
pile up in memory. Sizes are compared before resizing: an image and its label map of different
sizes are an error, not something to resize away.

Layouts:

* Cityscapes (``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip`` unpacked into one
  folder): ``leftImg8bit/SPLIT/CITY/*_leftImg8bit.png`` and
  ``gtFine/SPLIT/CITY/*_gtFine_labelIds.png``. Splits ``train`` (2,975) and ``val`` (500); the test
  split has no public labels.
* GTA5 (Richter et al., "Playing for Data", ECCV 2016): ``images/NNNNN.png`` and
  ``labels/NNNNN.png``, the labels palette PNGs whose pixel values are Cityscapes label ids. Split
  ``train`` is every image (the UDA protocol trains on all 24,966; the official ``split.mat`` is not
  read). ``val`` and ``test`` exist only where the folder holds ``val.txt`` / ``test.txt`` listing
  image ids (``00001`` or ``00001.png``), one a line. ``sample`` is 500 training images spread
  evenly over them (see ``training_sample``).
* SYNTHIA RAND-CITYSCAPES: ``RGB/NNNNNNN.png`` and ``GT/LABELS/NNNNNNN.png``, the labels 16-bit
  PNGs with the class id in the first channel (the instance id in the second). Split ``train`` is
  every image (9,400), ``sample`` 500 of them spread evenly. PIL keeps only the high byte of a 16-bit RGB PNG, which erases ids below 256,
  so those files are read twice by PIL's decoder, once for the high and once for the low bytes
  (checked on a known image first), or else by the small PNG decoder below (zlib and numpy).

Id mapping decisions: Cityscapes label ids 0-33 map to train ids as in cityscapesScripts'
``labels.py`` (the 19 evaluated classes, every other id to 255; the license plate, id -1, is never
drawn into ``*_labelIds.png``). GTA5 uses the same table. SYNTHIA ids 0-22 map by class name to
the 16 classes it shares with Cityscapes; lane marking (22) maps to road, because Cityscapes, the
target, annotates lane markings as road (some code bases leave it at 255 instead: change
``_SYNTHIA_ALIASES`` to follow them); void, parking slot, road work, terrain, truck and train map to
255.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from udabench.api import UdabenchError

if TYPE_CHECKING:
    import numpy as np

# The plugin module imports the names below: numpy and PIL load only when a split is read.

IGNORE = 255

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)
SYNTHIA_CLASSES = tuple(name for name in CITYSCAPES_CLASSES if name not in ("terrain", "truck", "train"))
SYNTHIA_13_CLASSES = tuple(name for name in SYNTHIA_CLASSES if name not in ("wall", "fence", "pole"))
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

# cityscapesScripts labels.py, by id 0..33 (license plate, id -1, never appears in *_labelIds.png).
CITYSCAPES_LABEL_NAMES = (
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
    "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
    "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
)
# SYNTHIA RAND-CITYSCAPES README, by id 0..22 ("pedestrian" named "person" as in Cityscapes).
SYNTHIA_LABEL_NAMES = (
    "void", "sky", "building", "road", "sidewalk", "fence", "vegetation", "pole", "car", "traffic sign",
    "person", "bicycle", "motorcycle", "parking-slot", "road-work", "traffic light", "terrain", "rider",
    "truck", "bus", "train", "wall", "lanemarking",
)
_SYNTHIA_ALIASES = {"lanemarking": "road"}  # Cityscapes annotates lane markings as road

CITYSCAPES_ID_TO_TRAIN_ID = tuple(
    CITYSCAPES_CLASSES.index(name) if name in CITYSCAPES_CLASSES else IGNORE for name in CITYSCAPES_LABEL_NAMES)
SYNTHIA_ID_TO_INDEX = tuple(
    SYNTHIA_CLASSES.index(_SYNTHIA_ALIASES.get(name, name))
    if _SYNTHIA_ALIASES.get(name, name) in SYNTHIA_CLASSES else IGNORE
    for name in SYNTHIA_LABEL_NAMES)

CITYSCAPES_SPLITS = ("train", "val")
GTA5_SPLITS = ("train", "sample", "val", "test")
SYNTHIA_SPLITS = ("train", "sample")

_CITYSCAPES_ARCHIVES = "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip"
_GTA5_ARCHIVES = "the GTA5 images and labels archives (Playing for Data)"
_SYNTHIA_ARCHIVE = "the SYNTHIA RAND-CITYSCAPES archive"


# --- listing the files of a split ---------------------------------------------------------------------


def _check_split(dataset: str, split: str, known: tuple[str, ...]) -> None:
    if split not in known:
        raise UdabenchError(f"{dataset} has no split '{split}' (known: {', '.join(known)})")


def _check_folder(dataset: str, folder: Path, fix: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise UdabenchError(f"{dataset}: the data folder {folder} does not exist; {fix}")
    return folder


def _sub_folder(dataset: str, folder: Path, relative: str, fix: str) -> Path:
    path = folder / relative
    if not path.is_dir():
        raise UdabenchError(f"{dataset}: {folder} has no {relative}/ folder; {fix}")
    return path


def _pngs(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _pair_by_key(dataset: str, images: dict[str, Path], labels: dict[str, Path],
                 expected_label: Callable[[str], Path], expected_image: Callable[[str], Path],
                 fix: str) -> list[tuple[Path, Path]]:
    """``(image, label)`` pairs in key order; an image without its label file, or a label file
    without its image, is an error naming the file."""
    for key, image in images.items():
        if key not in labels:
            raise UdabenchError(f"{dataset}: the image {image} has no label file {expected_label(key)}; {fix}")
    for key, label in labels.items():
        if key not in images:
            raise UdabenchError(f"{dataset}: the label file {label} has no image {expected_image(key)}; {fix}")
    return [(images[key], labels[key]) for key in sorted(images)]


def cityscapes_pairs(folder: Path, split: str) -> list[tuple[Path, Path]]:
    """``(leftImg8bit image, gtFine labelIds map)`` of a Cityscapes split, by city, then by name."""
    dataset = "cityscapes"
    if split == "test":
        raise UdabenchError(f"{dataset}: the test split has no public labels (its gtFine maps are placeholders); "
                            f"use 'val', the split UDA papers report on (known: {', '.join(CITYSCAPES_SPLITS)})")
    _check_split(dataset, split, CITYSCAPES_SPLITS)
    fix = f"unpack {_CITYSCAPES_ARCHIVES} (Cityscapes) into the same folder and pass that folder"
    folder = _check_folder(dataset, folder, fix)
    image_root = _sub_folder(dataset, folder, f"leftImg8bit/{split}", fix)
    label_root = _sub_folder(dataset, folder, f"gtFine/{split}", fix)
    image_suffix, label_suffix = "_leftImg8bit.png", "_gtFine_labelIds.png"
    images = {p.relative_to(image_root).as_posix()[:-len(image_suffix)]: p
              for p in _pngs(image_root, f"*/*{image_suffix}")}
    if not images:
        raise UdabenchError(f"{dataset}: {image_root} holds no CITY/*{image_suffix} images; {fix}")
    labels = {p.relative_to(label_root).as_posix()[:-len(label_suffix)]: p
              for p in _pngs(label_root, f"*/*{label_suffix}")}
    return _pair_by_key(dataset, images, labels,
                        lambda key: label_root / f"{key}{label_suffix}",
                        lambda key: image_root / f"{key}{image_suffix}", fix)


def _read_id_list(dataset: str, path: Path) -> list[str]:
    """Image ids from a split list: ``00001``, ``1`` or ``00001.png``, one a line."""
    ids = []
    for line in path.read_text().splitlines():
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        name = Path(name).name
        stem = name[:-4] if name.lower().endswith(".png") else name
        if not stem.isdigit():
            raise UdabenchError(f"{dataset}: {path} lists '{line.strip()}', which is not a GTA5 image id "
                                f"(expected e.g. 00001 or 00001.png, one a line)")
        ids.append(f"{int(stem):05d}")
    if not ids:
        raise UdabenchError(f"{dataset}: {path} lists no image ids; list them one a line (e.g. 00001)")
    return ids


def _frame_pairs(dataset: str, folder: Path, image_folder: str, label_folder: str, fix: str):
    """``(pairs, images by id, label maps by id, image folder)`` of a dataset whose frames and label maps are PNGs of
    the same name in two sub-folders (GTA5, SYNTHIA), each image checked to have its map."""
    folder = _check_folder(dataset, folder, fix)
    image_root = _sub_folder(dataset, folder, image_folder, fix)
    label_root = _sub_folder(dataset, folder, label_folder, fix)
    images = {p.stem: p for p in _pngs(image_root, "*.png")}
    if not images:
        raise UdabenchError(f"{dataset}: {image_root} holds no .png images; {fix}")
    labels = {p.stem: p for p in _pngs(label_root, "*.png")}
    pairs = _pair_by_key(dataset, images, labels, lambda key: label_root / f"{key}.png",
                         lambda key: image_root / f"{key}.png", fix)
    return pairs, images, labels, image_root


def gta5_pairs(folder: Path, split: str) -> list[tuple[Path, Path]]:
    """``(image, label)`` of a GTA5 split: ``train`` is every image, ``sample`` 500 of them,
    ``val``/``test`` the ids of ``val.txt``/``test.txt``."""
    dataset = "gta5"
    _check_split(dataset, split, GTA5_SPLITS)
    fix = f"pass the folder holding images/ and labels/ unpacked from {_GTA5_ARCHIVES}"
    pairs, images, labels, image_root = _frame_pairs(dataset, folder, "images", "labels", fix)
    if split in ("train", "sample"):
        return training_sample(pairs) if split == "sample" else pairs
    listing = Path(folder) / f"{split}.txt"
    if not listing.is_file():
        raise UdabenchError(f"{dataset}: no '{split}' split, as {listing} is absent; the UDA protocol trains on "
                            f"all images (split 'train'); to define '{split}', list its image ids in {listing}")
    ids = _read_id_list(dataset, listing)
    for key in ids:
        if key not in images:
            raise UdabenchError(f"{dataset}: {listing} lists {key}, but there is no image {image_root / key}.png; "
                                f"fix the list or re-extract the images")
    return [(images[key], labels[key]) for key in ids]


def synthia_pairs(folder: Path, split: str) -> list[tuple[Path, Path]]:
    """``(RGB image, GT/LABELS map)`` of SYNTHIA RAND-CITYSCAPES: ``train`` is every image, ``sample``
    500 of them."""
    dataset = "synthia"
    _check_split(dataset, split, SYNTHIA_SPLITS)
    fix = f"pass the RAND_CITYSCAPES folder (holding RGB/ and GT/LABELS/) unpacked from {_SYNTHIA_ARCHIVE}"
    pairs, _, _, _ = _frame_pairs(dataset, folder, "RGB", "GT/LABELS", fix)
    return training_sample(pairs) if split == "sample" else pairs


# Images of the ``sample`` split of GTA5 and SYNTHIA: their UDA protocol trains on every image and
# has no held-out split, so the source metrics (and the source-accuracy selection rule) are measured
# on this fixed sample of the training images.
SAMPLE_SIZE = 500


def training_sample(pairs):
    """``SAMPLE_SIZE`` pairs spread evenly over ``pairs`` (all of them when there are fewer)."""
    if len(pairs) <= SAMPLE_SIZE:
        return list(pairs)
    return [pairs[index * len(pairs) // SAMPLE_SIZE] for index in range(SAMPLE_SIZE)]


# --- 16-bit PNGs ----------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (palette, 3, not handled)


def png_header(path: Path) -> tuple[int, int, int, int, int]:
    """``(width, height, bit depth, colour type, interlace)`` from a PNG's IHDR chunk."""
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return width, height, depth, colour, interlace


def _unfilter_rows(rows, width: int, bpp: int):
    """Undo the PNG row filters of rows without Average or Paeth: each row in a few numpy steps."""
    import numpy as np

    height, stride = rows.shape[0], width * bpp
    out = np.empty((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            out[y] = line
        elif kind == 1:  # Sub: a running sum along the row, per byte of the pixel (uint8 wraps)
            out[y] = np.cumsum(line.reshape(width, bpp), axis=0, dtype=np.uint8).reshape(stride)
        else:  # Up
            out[y] = line + prior
        prior = out[y]
    return out


def _unfilter_wavefront(rows, width: int, bpp: int):
    """Undo any mix of the five PNG row filters, a whole anti-diagonal of pixels at a time.

    Average and Paeth make each pixel depend on its left neighbour, so a row cannot be undone in one
    numpy step; but a pixel needs only its left, upper and upper-left neighbours, so every pixel of
    an anti-diagonal (``x + y`` constant) can be computed at once from the two diagonals before it.
    The pixels are stored skewed, pixel ``(y, x)`` at column ``x + y + 2`` of row ``y + 1``, which
    turns each diagonal into one column and leaves zeros where the filters expect them (row 0, the
    two columns left of each row). That is width + height numpy steps instead of width * height
    Python ones.
    """
    import numpy as np

    height = rows.shape[0]
    kinds = rows[:, 0]
    ys, xs = np.arange(height)[:, None], np.arange(width)[None, :]
    skew = xs + ys + 2
    columns = width + height + 2
    filtered = np.zeros((columns, height + 1, bpp), dtype=np.int16)
    filtered[skew, ys + 1] = rows[:, 1:].reshape(height, width, bpp)
    out = np.zeros((columns, height + 1, bpp), dtype=np.int16)
    left_weight = np.zeros((height + 1, 1), dtype=np.int16)
    left_weight[1:, 0] = kinds == 1
    up_weight = np.zeros((height + 1, 1), dtype=np.int16)
    up_weight[1:, 0] = kinds == 2
    average = np.zeros((height + 1, 1), dtype=bool)
    average[1:, 0] = kinds == 3
    paeth = np.zeros((height + 1, 1), dtype=bool)
    paeth[1:, 0] = kinds == 4
    for k in range(2, width + height + 1):
        first, last = max(0, k - 1 - width), min(height - 1, k - 2)
        here, above = slice(first + 1, last + 2), slice(first, last + 1)
        a, b, c = out[k - 1, here], out[k - 1, above], out[k - 2, above]  # left, up, upper left
        predictor = a * left_weight[here] + b * up_weight[here]
        if average[here].any():
            predictor = np.where(average[here], (a + b) >> 1, predictor)
        if paeth[here].any():
            pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
            nearest = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
            predictor = np.where(paeth[here], nearest, predictor)
        np.bitwise_and(filtered[k, here] + predictor, 255, out=out[k, here])
    return out[skew, ys + 1].astype(np.uint8).reshape(height, width * bpp)


def decode_png(path: Path) -> np.ndarray:
    """A non-interlaced 8- or 16-bit grey, grey+alpha, RGB or RGBA PNG as an HxWxC array (uint8 or
    uint16), every bit kept; raises ValueError on anything else.

    Written with zlib and numpy because PIL reduces 16-bit RGB PNGs to their high bytes and neither
    imageio nor OpenCV is a dependency. Rows filtered with None, Sub or Up take a few numpy steps
    each; an image with Average or Paeth rows is undone diagonal by diagonal (a few tenths of a
    second for a 1280x760 SYNTHIA label).
    """
    import numpy as np

    data = Path(path).read_bytes()
    if data[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    header, chunks, position = None, [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if len(body) != length:
            raise ValueError("truncated PNG chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
        position += 12 + length
    if header is None or not chunks:
        raise ValueError("PNG without IHDR or IDAT chunks")
    width, height, depth, colour, compression, filtering, interlace = header
    if depth not in (8, 16) or colour not in _PNG_CHANNELS or compression or filtering:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {colour})")
    if interlace:
        raise ValueError("interlaced PNG")
    channels = _PNG_CHANNELS[colour]
    bpp = channels * depth // 8
    raw = zlib.decompress(b"".join(chunks))
    if len(raw) < height * (width * bpp + 1):
        raise ValueError("truncated PNG image data")
    rows = np.frombuffer(raw, dtype=np.uint8, count=height * (width * bpp + 1)).reshape(height, -1)
    kinds = rows[:, 0]
    if kinds.size and kinds.max() > 4:
        raise ValueError(f"unknown PNG filter type {int(kinds.max())}")
    if np.isin(kinds, (3, 4)).any():
        out = _unfilter_wavefront(rows, width, bpp)
    else:
        out = _unfilter_rows(rows, width, bpp)
    if depth == 16:
        return out.view(">u2").astype(np.uint16).reshape(height, width, channels)
    return out.reshape(height, width, channels)


def _pil_16bit_colour(path: Path):
    """A 16-bit RGB(A) PNG at full depth through PIL's own (C) decoder, or None where PIL does not
    read the file as expected.

    PIL unpacks 16-bit RGB rows with the raw mode ``RGB;16B``, keeping each sample's first (high)
    byte; decoding the same rows again with ``RGB;16L``, which keeps each sample's second byte,
    gives the low bytes. Swapping the raw mode relies on PIL's tile records, so ``_pil_16bit_works``
    checks the trick on a known image before it is used, and ``decode_png`` stands in otherwise.
    """
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("RGB", "RGBA") or len(image.tile) != 1 or image.tile[0][3] != f"{image.mode};16B":
            return None
        high = np.asarray(image)
    with Image.open(path) as image:
        tile = image.tile[0]
        rawmode = f"{image.mode};16L"
        image.tile = [tile._replace(args=rawmode) if hasattr(tile, "_replace") else (*tile[:3], rawmode)]
        low = np.asarray(image)
    return (high.astype(np.uint16) << 8) | low


def _tiny_png16(pixels) -> bytes:
    """A PNG of 16-bit RGB ``pixels`` (rows of (r, g, b)), each row with the Sub filter."""
    body = b""
    for row in pixels:
        samples = [value for pixel in row for value in pixel]
        raw = struct.pack(f">{len(samples)}H", *samples)
        body += b"\x01" + bytes((raw[i] - (raw[i - 6] if i >= 6 else 0)) & 255 for i in range(len(raw)))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", len(pixels[0]), len(pixels), 16, 2, 0, 0, 0)
    return _PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


_PIL_16BIT: list[bool] = []  # the outcome of the check, once per process


def _pil_16bit_works() -> bool:
    """Whether ``_pil_16bit_colour`` reads a known 16-bit RGB PNG exactly (checked once)."""
    if not _PIL_16BIT:
        import io

        pixels = [[(0x0102, 0xFF03, 0x0017), (0x0A0B, 0x0016, 0x8001)], [(0x00FF, 0x0100, 0xFFFF), (3, 259, 22)]]
        try:
            decoded = _pil_16bit_colour(io.BytesIO(_tiny_png16(pixels)))
            works = decoded is not None and decoded.tolist() == [[list(p) for p in row] for row in pixels]
        except Exception:
            works = False
        _PIL_16BIT.append(works)
    return _PIL_16BIT[0]


def read_first_channel(path: Path) -> np.ndarray:
    """The first channel of a PNG at its full bit depth (HxW): 8-bit, palette (as indices) and 16-bit
    grey files by PIL, 16-bit colour files by PIL's decoder read twice (see ``_pil_16bit_colour``)
    or by ``decode_png``."""
    import numpy as np
    from PIL import Image

    _, _, depth, colour, _ = png_header(path)
    if depth == 16 and colour != 0:
        array = _pil_16bit_colour(path) if _pil_16bit_works() else None
        if array is None:
            array = decode_png(path)
        return array[..., 0]
    with Image.open(path) as image:
        array = np.asarray(image)
    return array[..., 0] if array.ndim == 3 else array


# --- decoding -------------------------------------------------------------------------------------------


def _lookup(table: tuple[int, ...]):
    import numpy as np

    return np.asarray(table, dtype=np.uint8)


def _map_ids(ids, table, path: Path, dataset: str, dataset_ids: str, fix: str):
    """Raw ids -> class indices through ``table``, refusing ids the table does not have."""
    import numpy as np

    ids = np.asarray(ids)
    if ids.size:
        low, high = int(ids.min()), int(ids.max())
        bad = high if high >= len(table) else (low if low < 0 else None)
        if bad is not None:
            raise UdabenchError(f"{dataset}: label id {bad} in {path} is not a {dataset_ids} label id "
                                f"(0-{len(table) - 1}); {fix}")
    return table[ids.astype(np.intp, copy=False)]


def _read_label_ids(path: Path, dataset: str, fix: str):
    """A single-channel id map (PIL "L", "P" or 16-bit grey), refusing colour images."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image)
    except Exception as exc:
        raise UdabenchError(f"{dataset}: cannot decode the label file {path} ({type(exc).__name__}); {fix}") from None
    if array.ndim != 2:
        raise UdabenchError(f"{dataset}: the label file {path} is a {mode} colour image, not a map of label ids; "
                            f"{fix}")
    return array


def _cityscapes_label(path: Path, table):
    fix = "pass the official gtFine *_gtFine_labelIds.png maps (not _color, _instanceIds or _labelTrainIds)"
    return _map_ids(_read_label_ids(path, "cityscapes", fix), table, path, "cityscapes", "Cityscapes", fix)


def _gta5_label(path: Path, table):
    fix = "the labels/ folder must hold the original GTA5 label PNGs, whose values are Cityscapes label ids"
    return _map_ids(_read_label_ids(path, "gta5", fix), table, path, "gta5", "GTA5/Cityscapes", fix)


def _synthia_label(path: Path, table):
    fix = "GT/LABELS/ must hold the original 16-bit SYNTHIA label PNGs (class id in the first channel)"
    try:
        ids = read_first_channel(path)
    except Exception as exc:  # ValueError from the decoder, zlib.error, OSError
        raise UdabenchError(f"synthia: cannot decode the label file {path} ({type(exc).__name__}: {exc}); "
                            f"{fix}") from None
    return _map_ids(ids, table, path, "synthia", "SYNTHIA", fix)


def _check_size(dataset: str, size) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    try:
        height, width = (int(side) for side in size)
    except (TypeError, ValueError):
        raise UdabenchError(f"{dataset}: size must be (height, width), got {size!r}") from None
    if height <= 0 or width <= 0:
        raise UdabenchError(f"{dataset}: size must be positive (height, width), got {size!r}")
    return height, width


def _read_pair(dataset: str, image_path: Path, label_path: Path, read_label, size):
    import numpy as np
    from PIL import Image

    label = read_label(label_path).astype(np.uint8, copy=False)
    try:
        with Image.open(image_path) as image:
            if image.size != (label.shape[1], label.shape[0]):
                raise UdabenchError(
                    f"{dataset}: the image {image_path} is {image.size[0]}x{image.size[1]} but its label map "
                    f"{label_path} is {label.shape[1]}x{label.shape[0]}; re-extract both from the official archive")
            image = image.convert("RGB")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR, reducing_gap=None)
            pixels = np.asarray(image, dtype=np.uint8)
    except UdabenchError:
        raise
    except Exception as exc:
        raise UdabenchError(f"{dataset}: cannot decode the image {image_path} ({type(exc).__name__}); "
                            f"re-extract it from the official archive") from None
    if size is not None and label.shape != size:
        label = np.asarray(Image.fromarray(label).resize((size[1], size[0]), Image.NEAREST), dtype=np.uint8)
    return pixels, np.ascontiguousarray(label)


def _decode_pairs(dataset: str, split: str, pairs, read_label, size, progress: bool):
    from tqdm.auto import tqdm

    size = _check_size(dataset, size)
    images, labels = [], []
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = pool.map(lambda pair: _read_pair(dataset, pair[0], pair[1], read_label, size), pairs)
        for image, label in tqdm(decoded, total=len(pairs), desc=f"decode {dataset}/{split}", leave=False,
                                 disable=not progress, unit="image"):
            images.append(image)
            labels.append(label)
    return images, labels


# --- the loaders --------------------------------------------------------------------------------------


def load_cityscapes(folder: Path, split: str, size: tuple[int, int] | None = None,
                    progress: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cityscapes ``train`` or ``val``: RGB images and label maps of train ids (0-18, 255 ignored),
    resized to ``size`` ``(height, width)`` when given (images bilinear, labels nearest)."""
    pairs = cityscapes_pairs(Path(folder), split)
    table = _lookup(CITYSCAPES_ID_TO_TRAIN_ID)
    return _decode_pairs("cityscapes", split, pairs, lambda path: _cityscapes_label(path, table), size, progress)


def load_gta5(folder: Path, split: str, size: tuple[int, int] | None = None,
              progress: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """GTA5 ``train`` (every image), or ``val``/``test`` from ``val.txt``/``test.txt``: RGB images and
    label maps of Cityscapes train ids (0-18, 255 ignored), resized to ``size`` when given (images
    bilinear, labels nearest)."""
    pairs = gta5_pairs(Path(folder), split)
    table = _lookup(CITYSCAPES_ID_TO_TRAIN_ID)
    return _decode_pairs("gta5", split, pairs, lambda path: _gta5_label(path, table), size, progress)


def load_synthia(folder: Path, split: str, size: tuple[int, int] | None = None,
                 progress: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """SYNTHIA RAND-CITYSCAPES ``train`` (every image): RGB images and label maps of indices into
    ``SYNTHIA_CLASSES`` (0-15, 255 ignored), resized to ``size`` when given (images bilinear, labels
    nearest)."""
    pairs = synthia_pairs(Path(folder), split)
    table = _lookup(SYNTHIA_ID_TO_INDEX)
    return _decode_pairs("synthia", split, pairs, lambda path: _synthia_label(path, table), size, progress)
