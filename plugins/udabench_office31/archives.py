"""Reader for the official Office-31 layout: ``DOMAIN/images/CLASS/*.jpg``.

The archive ``domain_adaptation_images.tar.gz`` (Saenko et al., ECCV 2010) unpacks to
``amazon/``, ``dslr/`` and ``webcam/``, each holding ``images/<class>/*.jpg`` with the same 31 class
folders. A dataset's folder may be the domain folder itself (``.../amazon``), the folder the archive
was unpacked into (``.../domain_adaptation_images``, holding all three domains), or a mirror that
leaves out the ``images`` level (``amazon/<class>/*.jpg``).

Labels are the index of the class folder in the sorted list of the 31 class names. Office-31 has no
official train/test split: the UDA protocol trains on every source image (labelled) and every
target image (unlabelled) and tests on every target image, so each domain has one split, ``all``.

Images are decoded in a few threads, converted to RGB and, when the runner asks for a ``size``,
resized to ``size`` x ``size`` with PIL's bilinear filter (the recipe's first step, which ignores
the aspect ratio), so that a domain of large photographs never sits in memory at full size.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from udabench.api import UdabenchError

# The plugin module imports the names below: numpy and PIL load only when a domain is read.

ARCHIVE = "domain_adaptation_images.tar.gz"
ALL = "all"
CLASSES = (
    "back_pack", "bike", "bike_helmet", "bookcase", "bottle", "calculator", "desk_chair", "desk_lamp",
    "desktop_computer", "file_cabinet", "headphones", "keyboard", "laptop_computer", "letter_tray",
    "mobile_phone", "monitor", "mouse", "mug", "paper_notebook", "pen", "phone", "printer", "projector",
    "punchers", "ring_binder", "ruler", "scissors", "speaker", "stapler", "tape_dispenser", "trash_can",
)
DOMAINS = ("amazon", "dslr", "webcam")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def _has_class_folders(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_dir() for name in CLASSES)


def images_folder(folder: Path, domain: str) -> Path:
    """The folder that holds ``domain``'s 31 class folders, found from what the user passed."""
    dataset = f"office31-{domain}"
    if not folder.is_dir():
        raise UdabenchError(f"{dataset}: the data folder {folder} does not exist")
    if folder.name in DOMAINS and folder.name != domain:
        raise UdabenchError(f"{dataset}: {folder} is the '{folder.name}' domain, not '{domain}'")
    for candidate in (folder / domain / "images", folder / "images", folder / domain, folder):
        if _has_class_folders(candidate):
            return candidate
    raise UdabenchError(
        f"{dataset}: {folder} holds neither {domain}/images/<class>/ nor images/<class>/; pass the '{domain}' "
        f"folder unpacked from {ARCHIVE} (Office-31), or the folder it was unpacked into"
    )


def list_images(folder: Path, domain: str) -> list[tuple[Path, int]]:
    """Every ``(image path, class index)`` of ``domain``, by class, then by file name."""
    dataset = f"office31-{domain}"
    root = images_folder(folder, domain)
    present = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    unknown = sorted(present - set(CLASSES))
    if unknown:
        raise UdabenchError(f"{dataset}: {root} holds the folder(s) {', '.join(unknown)}, which are not "
                            f"Office-31 classes (expected the 31: {', '.join(CLASSES)})")
    missing = [name for name in CLASSES if name not in present]
    if missing:
        raise UdabenchError(f"{dataset}: {root} lacks the class folder(s) {', '.join(missing)} "
                            f"({len(CLASSES) - len(missing)} of the 31 Office-31 classes found)")
    entries = []
    for label, name in enumerate(CLASSES):
        files = sorted(p for p in (root / name).iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UdabenchError(f"{dataset}: the class folder {root / name} holds no .jpg images")
        entries.extend((path, label) for path in files)
    return entries


def _read(path: Path, size: int | None, dataset: str):
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except Exception as exc:
        raise UdabenchError(f"{dataset}: cannot decode the image {path} ({type(exc).__name__})") from None


def load_domain(folder: Path, split: str, domain: str, size: int | None = None):
    """Images (uint8 HWC, ``size`` x ``size`` when given) and labels of one Office-31 domain."""
    import numpy as np

    dataset = f"office31-{domain}"
    if split != ALL:
        raise UdabenchError(f"{dataset} has one split, '{ALL}' (Office-31 has no official train/test split), "
                            f"not '{split}'")
    entries = list_images(Path(folder), domain)
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(lambda entry: _read(entry[0], size, dataset), entries))
    labels = np.asarray([label for _, label in entries], dtype=np.int64)
    return images, labels


def load_amazon(folder: Path, split: str, size: int | None = None):
    return load_domain(folder, split, "amazon", size)


def load_dslr(folder: Path, split: str, size: int | None = None):
    return load_domain(folder, split, "dslr", size)


def load_webcam(folder: Path, split: str, size: int | None = None):
    return load_domain(folder, split, "webcam", size)
