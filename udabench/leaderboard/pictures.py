"""The pictures a published page shows: each picture-drawing method's final grids, one run per task.

A run saves its pictures as ``images/NAME-PHASE-STEP.png`` (a method's ``snapshot`` grids: a GAN's
samples by class, a translator's translations; a segmentation run's side-by-side predictions) and,
on a task of 2-D points, ``images/adaptation.png``. A page shows the last picture of each NAME (the
latest phase in the method's order, then the highest step) of the lowest-seed run of every method
and task on it, copied beside the page into ``SUITE-pictures/``, so that a reader sees what the
numbers came from. A picture identical byte for byte to one already shown (e.g. Label2Image-DA with
and without L_reg, which differ only after their shared GAN phase) is shown once more from the same
file, and its caption says so. A picture over ``MAX_PICTURE_BYTES`` (a 43-class sign grid is about
1.3 MB) is written with a palette of at most 256 colours instead of copied, so that no file of a
page is over 1 MiB, and its caption says so. The export's header lists them, so that the page can
be written again from the export and that folder alone.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

from udabench.errors import UdabenchError
from udabench.runner.pictures import ADAPTATION_PICTURE

PICTURE_NAME = re.compile(r"^(?P<name>.+)-(?P<phase>[A-Za-z0-9_]+)-(?P<step>\d+)\.png$")
WHOLE_RUN_PICTURES = (ADAPTATION_PICTURE,)  # drawn once from every snapshot of the run
MAX_PICTURE_BYTES = 1 << 20  # a larger picture is reduced to 256 colours on the page


def pictures_folder(suite_name: str) -> str:
    return f"{suite_name}-pictures"


def final_pictures(folder: Path, phases: Sequence[str]) -> list[dict[str, Any]]:
    """``[{"name", "phase", "step", "path"}]``: the last picture of each name in ``folder`` (a run's
    ``images``), in name order; a whole-run picture has no phase or step."""
    if not folder.is_dir():
        return []
    order = {phase: index for index, phase in enumerate(phases)}
    last: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.png")):
        if path.name in WHOLE_RUN_PICTURES:
            last[path.stem] = ((len(order) + 1, 0), {"name": path.stem, "phase": None, "step": None, "path": path})
            continue
        match = PICTURE_NAME.match(path.name)
        if match is None:
            continue
        phase, step = match["phase"], int(match["step"])
        rank = (order.get(phase, len(order)), step)
        if match["name"] not in last or rank > last[match["name"]][0]:
            last[match["name"]] = (rank, {"name": match["name"], "phase": phase, "step": step, "path": path})
    return [last[name][1] for name in sorted(last)]


def _caption(entry: dict[str, Any], picture: dict[str, Any]) -> str:
    where = (f"phase {picture['phase']}, step {picture['step']}" if picture["phase"] is not None
             else "every snapshot of the run")
    return (f"{entry['method']} on {entry['task']}, seed {entry['seed']} (run {entry['run_id']}): "
            f"{picture['name']}, {where}")


def collect_pictures(entries: Sequence[dict[str, Any]], shown: set[str], store, registry, out_dir: Path,
                     suite_name: str) -> list[dict[str, str]]:
    """Copy the final pictures of the lowest-seed run of each method and task among ``entries`` whose
    method is a row of the page (``shown``) into ``out_dir/SUITE-pictures`` and return
    ``[{"file": path relative to out_dir, "caption"}]``; the folder holds those files alone."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        key = (entry["method"], entry["task"])
        if entry["method"] in shown and (key not in chosen or entry["seed"] < chosen[key]["seed"]):
            chosen[key] = entry
    folder = out_dir / pictures_folder(suite_name)
    listed: list[dict[str, str]] = []
    copies: list[tuple[Path, Path, bool]] = []  # (the run's picture, the page's file, reduce it)
    seen: dict[str, tuple[str, str]] = {}  # content hash -> (file, whose picture it is)
    for (method, task), entry in sorted(chosen.items()):
        record = store.get(entry["run_id"])
        if not record or not record.get("artifacts"):
            continue
        spec = registry.get("methods", method)
        phases = [phase.name for phase in spec.phases]
        for picture in final_pictures(Path(record["artifacts"]) / "images", phases):
            name = f"{method}-{task}-{picture['name']}.png"
            caption = _caption(entry, picture)
            try:
                data = picture["path"].read_bytes()
            except OSError as exc:
                raise UdabenchError(f"cannot read the picture {picture['path']}: {exc.strerror or exc}") from None
            content = hashlib.sha256(data).hexdigest()
            if content in seen:
                file, whose = seen[content]
                listed.append({"file": file, "caption": f"{caption}; the same picture, byte for byte, as that of "
                                                        f"{whose}: both runs drew it from the same model"})
                continue
            reduce = len(data) > MAX_PICTURE_BYTES
            if reduce:
                caption += f"; shown with at most 256 colours (the run's picture is {len(data) / 1e6:.1f} MB)"
            copies.append((picture["path"], folder / name, reduce))
            seen[content] = (f"{folder.name}/{name}", f"{method} on {task}, seed {entry['seed']}")
            listed.append({"file": f"{folder.name}/{name}", "caption": caption})
    try:
        if folder.exists():
            shutil.rmtree(folder)
        if copies:
            folder.mkdir(parents=True)
        for source, target, reduce in copies:
            if reduce:
                _write_with_palette(source, target)
            else:
                shutil.copyfile(source, target)
    except OSError as exc:
        raise UdabenchError(f"cannot copy the runs' pictures into {folder}: {exc.strerror or exc}") from None
    return listed


def _write_with_palette(source: Path, target: Path) -> None:
    """``source`` as a PNG of at most 256 colours (median cut, Floyd-Steinberg dithering)."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(256).save(target, optimize=True)


def present_pictures(listed: Sequence[dict[str, Any]], out_dir: Path) -> tuple[list[dict[str, str]], list[str]]:
    """(the pictures an export's header lists whose files are in ``out_dir``, the files missing)."""
    present, missing = [], []
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            continue
        (present if (out_dir / item["file"]).is_file() else missing).append(item)
    return [{"file": item["file"], "caption": str(item.get("caption", ""))} for item in present], \
        [item["file"] for item in missing]


def pictures_section(pictures: Sequence[dict[str, str]], level: int = 2) -> str:
    """The page's section of pictures (empty when there are none)."""
    if not pictures:
        return ""
    lines = [f"{'#' * level} What the runs drew at their end\n",
             "The last picture of each kind of the lowest-seed run of each method and task on this page "
             "(a generator's samples, one class per row, or a translator's source images and their "
             "translations).\n"]
    for item in pictures:
        lines.append(f"![{item['caption']}]({item['file']})\n\n*{item['caption']}*\n")
    return "\n".join(lines)
