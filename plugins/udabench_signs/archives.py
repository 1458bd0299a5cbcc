"""Readers for the official archive layouts of SynSigns and GTSRB.

SynSigns (``synthetic_data.zip``) unpacks to ``synthetic_data/train/*.png`` and
``synthetic_data/train_labelling.txt``, one line per image: ``train/<n>.png <class> <third field>``
(the third field is not used here). The archive has no test split, so udabench makes one: an image
belongs to ``test`` when the SHA-256 of its file name falls in one bucket of ten, to ``train``
otherwise (about 90% / 10%). The rule looks at the name alone, so which images land in which split
never depends on the order of the labelling file or of the folder listing, nor on the machine.

GTSRB's official archives unpack to ``GTSRB/Final_Training/Images/000NN/*.ppm`` with one
``GT-000NN.csv`` per class folder, and ``GTSRB/Final_Test/Images/*.ppm`` whose labels come in the
separately distributed ``GT-final_test.csv``. The CSV files are semicolon-separated with the columns
``Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId``. udabench crops every image to its ROI
box (read as a half-open box, ``[Roi.Y1, Roi.Y2) x [Roi.X1, Roi.X2)``, the convention of PIL's
``crop``): the images carry a margin of about 10% around the sign, and the DANN protocol works on
the sign itself.

Both readers return images as uint8 height x width x 3 arrays and labels as an int64 array, in a
fixed order (SynSigns sorted by file name, GTSRB in the order of its class folders and annotation
files), and raise ``UdabenchError`` naming the file (and line) at fault.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from udabench.api import UdabenchError

NUM_CLASSES = 43

SYNSIGNS_FOLDER = "synthetic_data"
SYNSIGNS_LABELS = "train_labelling.txt"
SYNSIGNS_ARCHIVE = "synthetic_data.zip"
# An image goes to "test" when its name hashes into bucket 0 of SYNSIGNS_BUCKETS, to "train" otherwise.
SYNSIGNS_BUCKETS = 10

GTSRB_TRAIN_ARCHIVE = "GTSRB_Final_Training_Images.zip"
GTSRB_TEST_ARCHIVE = "GTSRB_Final_Test_Images.zip"
GTSRB_TEST_LABELS_ARCHIVE = "GTSRB_Final_Test_GT.zip"
GTSRB_TEST_CSV = "GT-final_test.csv"
GTSRB_COLUMNS = ("Filename", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId")


def _check_split(dataset: str, split: str) -> None:
    if split not in ("train", "test"):
        raise UdabenchError(f"{dataset} has no '{split}' split (has: train, test)")


def _read_rgb(path: Path, dataset: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise UdabenchError(f"{dataset}: cannot decode the image {path} ({type(exc).__name__})") from None


# --- SynSigns -------------------------------------------------------------------------------------


def synsigns_split_of(name: str) -> str:
    """``"test"`` or ``"train"`` for a SynSigns image, decided by a hash of its file name alone.

    Only the last component of ``name`` counts (``train/17.png`` and ``17.png`` agree), and the
    hash is SHA-256, so the answer is the same on every machine and for every Python process.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    bucket = int.from_bytes(hashlib.sha256(base.encode("utf-8")).digest()[:8], "big") % SYNSIGNS_BUCKETS
    return "test" if bucket == 0 else "train"


def _synsigns_root(folder: Path) -> Path:
    """The ``synthetic_data`` folder itself, or the folder it was unpacked into."""
    nested = folder / SYNSIGNS_FOLDER
    if not (folder / SYNSIGNS_LABELS).is_file() and nested.is_dir():
        return nested
    return folder


def read_synsigns_labelling(folder: Path) -> list[tuple[str, int]]:
    """Every ``(relative file name, class)`` the labelling file lists, sorted by file name.

    Checks the whole file, whatever split is asked for later: a malformed line, a class outside
    0..42, a name listed twice and a listed file that is missing are errors naming the line.
    """
    root = _synsigns_root(folder)
    labelling = root / SYNSIGNS_LABELS
    if not labelling.is_file():
        raise UdabenchError(
            f"synsigns: no {SYNSIGNS_LABELS} in {root}; pass the folder unpacked from {SYNSIGNS_ARCHIVE} "
            f"({SYNSIGNS_FOLDER}/, holding train/ and {SYNSIGNS_LABELS})"
        )
    try:
        text = labelling.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UdabenchError(f"synsigns: cannot read {labelling}: {exc}") from None
    entries: dict[str, tuple[int, int]] = {}  # name -> (class, line number)
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"synsigns: {labelling} line {number}"
        if len(fields) < 2:
            raise UdabenchError(f"{where} is malformed: expected '<file> <class 0..42> ...', got '{line.strip()}'")
        name, label_text = fields[0], fields[1]
        try:
            label = int(label_text)
        except ValueError:
            raise UdabenchError(f"{where} is malformed: the class '{label_text}' is not an integer") from None
        if not 0 <= label < NUM_CLASSES:
            raise UdabenchError(f"{where}: class {label} is outside 0..{NUM_CLASSES - 1}")
        if name in entries:
            raise UdabenchError(f"{where} lists {name} again (first on line {entries[name][1]})")
        if not (root / name).is_file():
            raise UdabenchError(f"{where} lists {name}, which is missing from {root}")
        entries[name] = (label, number)
    if not entries:
        raise UdabenchError(f"synsigns: {labelling} lists no images")
    return [(name, entries[name][0]) for name in sorted(entries)]


def load_synsigns(folder: Path, split: str):
    """The ``train`` or ``test`` part of the SynSigns archive in ``folder`` (see the module docstring)."""
    _check_split("synsigns", split)
    root = _synsigns_root(folder)
    chosen = [(name, label) for name, label in read_synsigns_labelling(folder) if synsigns_split_of(name) == split]
    images = [_read_rgb(root / name, "synsigns") for name, _ in chosen]
    labels = np.asarray([label for _, label in chosen], dtype=np.int64)
    return images, labels


# --- GTSRB ----------------------------------------------------------------------------------------


def _gtsrb_root(folder: Path) -> Path:
    """The ``GTSRB`` folder of the official archives: ``folder/GTSRB`` or ``folder`` itself."""
    for candidate in (folder / "GTSRB", folder):
        if (candidate / "Final_Training").is_dir() or (candidate / "Final_Test").is_dir():
            return candidate
    raise UdabenchError(
        f"gtsrb: {folder} holds neither GTSRB/Final_Training nor GTSRB/Final_Test; pass the folder "
        f"where the official archives ({GTSRB_TRAIN_ARCHIVE}, {GTSRB_TEST_ARCHIVE}) were unpacked, "
        "or its GTSRB folder"
    )


def read_gtsrb_csv(csv_path: Path, image_folder: Path) -> list[tuple[Path, tuple[int, int, int, int], int, int]]:
    """``(image path, (x1, y1, x2, y2), class, line number)`` for every row of a GTSRB CSV file."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter=";"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UdabenchError(f"gtsrb: cannot read {csv_path}: {type(exc).__name__}: {exc}") from None
    if not rows:
        raise UdabenchError(f"gtsrb: {csv_path} is empty (expected the header {';'.join(GTSRB_COLUMNS)} and rows)")
    header = [field.strip().lower() for field in rows[0]]
    missing = [column for column in GTSRB_COLUMNS if column.lower() not in header]
    if missing:
        raise UdabenchError(f"gtsrb: {csv_path} lacks the column(s) {', '.join(missing)} (header: {';'.join(rows[0])})")
    index = {column: header.index(column.lower()) for column in GTSRB_COLUMNS}
    entries = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue
        where = f"gtsrb: {csv_path} line {number}"
        if len(row) < len(header):
            raise UdabenchError(f"{where} is malformed: {len(row)} fields, the header has {len(header)}")
        try:
            x1, y1, x2, y2, label = (int(row[index[c]]) for c in GTSRB_COLUMNS[1:])
        except ValueError:
            raise UdabenchError(f"{where} is malformed: Roi.X1..Roi.Y2 and ClassId must be integers") from None
        if not 0 <= label < NUM_CLASSES:
            raise UdabenchError(f"{where}: ClassId {label} is outside 0..{NUM_CLASSES - 1}")
        filename = row[index["Filename"]].strip()
        path = image_folder / filename
        if not filename or not path.is_file():
            raise UdabenchError(f"{where} lists {filename or '(no file name)'}, which is missing from {image_folder}")
        entries.append((path, (x1, y1, x2, y2), label, number))
    return entries


def _crop_to_roi(csv_path: Path, entry) -> np.ndarray:
    path, (x1, y1, x2, y2), _, number = entry
    image = _read_rgb(path, "gtsrb")
    height, width = image.shape[:2]
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise UdabenchError(
            f"gtsrb: {csv_path} line {number}: the ROI ({x1},{y1})-({x2},{y2}) does not fit the "
            f"{width}x{height} image {path.name}"
        )
    return np.ascontiguousarray(image[y1:y2, x1:x2])


def _gtsrb_training_rows(root: Path):
    images_folder = root / "Final_Training" / "Images"
    if not images_folder.is_dir():
        raise UdabenchError(f"gtsrb: no Final_Training/Images in {root}; unpack {GTSRB_TRAIN_ARCHIVE} there")
    class_folders = sorted(p for p in images_folder.iterdir() if p.is_dir())
    if not class_folders:
        raise UdabenchError(f"gtsrb: {images_folder} holds no class folders (00000 ... 00042)")
    for class_folder in class_folders:
        csv_path = class_folder / f"GT-{class_folder.name}.csv"
        if not csv_path.is_file():
            raise UdabenchError(f"gtsrb: the class folder {class_folder} lacks its annotation file {csv_path.name}")
        for entry in read_gtsrb_csv(csv_path, class_folder):
            yield csv_path, entry


def _gtsrb_test_rows(root: Path, folder: Path):
    images_folder = root / "Final_Test" / "Images"
    if not images_folder.is_dir():
        raise UdabenchError(f"gtsrb: no Final_Test/Images in {root}; unpack {GTSRB_TEST_ARCHIVE} there")
    # The labels ship apart from the images; look where unpacking them usually puts them, but never
    # outside the folder the user passed (its content is what names the run's data).
    places = list(dict.fromkeys([images_folder, images_folder.parent, root, folder]))
    found = [place / GTSRB_TEST_CSV for place in places if (place / GTSRB_TEST_CSV).is_file()]
    if not found:
        looked = ", ".join(str(place) for place in places)
        raise UdabenchError(
            f"gtsrb: no {GTSRB_TEST_CSV} with the test labels (looked in {looked}); unpack "
            f"{GTSRB_TEST_LABELS_ARCHIVE} into one of them (GT-final_test.test.csv has no ClassId column)"
        )
    csv_path = found[0]
    for entry in read_gtsrb_csv(csv_path, images_folder):
        yield csv_path, entry


def load_gtsrb(folder: Path, split: str):
    """GTSRB ``train`` (Final_Training) or ``test`` (Final_Test), each image cropped to its ROI box."""
    _check_split("gtsrb", split)
    root = _gtsrb_root(folder)
    rows = list(_gtsrb_training_rows(root) if split == "train" else _gtsrb_test_rows(root, folder))
    if not rows:
        raise UdabenchError(f"gtsrb: the {split} annotation files in {root} list no images")
    images = [_crop_to_roi(csv_path, entry) for csv_path, entry in rows]
    labels = np.asarray([entry[2] for _, entry in rows], dtype=np.int64)
    return images, labels
