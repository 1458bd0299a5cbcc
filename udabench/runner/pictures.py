"""Snapshot pictures of a run, as PNG: a method's image grids (those with one row per class labelled
with the class names) and, for segmentation, side-by-side predictions; the layouts they are drawn in."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from udabench.specs import TaskSpec

# The row of decision-region panels of a run on a task of points (drawn by point_pictures.PointPictures).
ADAPTATION_PICTURE = "adaptation.png"
# A ``Method.snapshot`` grid whose name starts with this holds one row per class (a conditional
# generator's samples): its picture names each row's class.
CLASS_ROWS_GRID = "generated"


def fixed_test_samples(splits, count: int, seed: int) -> dict[str, tuple[Any, Any]]:
    """``count`` test images and labels of each domain, drawn at random once from ``seed`` (source
    first, then target), so that every snapshot of a run shows the same ones; a domain whose test
    split is absent (a source-free run without source data) is left out."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    samples = {}
    for role in ("source", "target"):
        if f"{role}_test" not in splits:
            continue
        split = splits[f"{role}_test"]
        order = torch.randperm(len(split), generator=generator)[:count].to(split.images.device)
        samples[role] = (split.images[order], split.labels[order])
    return samples


class SegmentationPictures:
    """Side-by-side pictures of a segmentation run, on a few fixed test images of each domain.

    ``source`` rows: the source image, its translation where the method translates
    (``Method.translate``), the prediction and the label map; ``target`` rows: the target image, the
    prediction and the label map. Label maps are drawn in the task's palette, ignored pixels black.
    :meth:`draw` writes a header over each column, the phase and step above and, below, a legend of
    the palette with the class names.
    """

    ROWS = 4

    def __init__(self, method, splits, normalize, task: TaskSpec, seed: int):
        self.method, self.normalize, self.task = method, normalize, task
        self.samples = fixed_test_samples(splits, self.ROWS, seed)
        self.palette = palette_for(task, splits["target_test"].num_classes)
        self.class_names = list(task.classes)

    def colour(self, label_maps):
        import torch

        palette = torch.cat([self.palette, torch.zeros(256 - len(self.palette), 3, dtype=torch.uint8)])
        return palette[label_maps.long().cpu()].permute(0, 3, 1, 2).float() / 255

    def grids(self) -> dict[str, tuple[Any, int]]:
        """``{name: (images in [0, 1], images per row)}``; called in eval mode without grad."""
        import torch

        grids = {}
        for role, (images, labels) in self.samples.items():
            device = self.normalize.scale.device
            inputs = self.normalize(images.to(device))
            columns = [images.float().cpu() / 255]
            translated = self.method.translate(inputs) if role == "source" else None
            if translated is not None:
                columns.append(self.denormalize(translated))
            columns += [self.colour(self.method.predict(inputs).argmax(1)), self.colour(labels)]
            grids[f"{role}-segmentation"] = (torch.stack(columns, dim=1).flatten(0, 1), len(columns))
        return grids

    def headers(self, role: str, columns: int) -> list[str]:
        """The names of the columns of ``role``'s picture, as :meth:`grids` lays them out."""
        middle = ["translated"] if columns == 4 else []
        return [f"{role} image", *middle, "prediction", "ground truth"]

    def legend(self) -> list[tuple[tuple[int, int, int], str]]:
        """``(colour, name)`` of each class in the palette, then the colour of ignored pixels."""
        names = self.class_names or [str(k) for k in range(len(self.palette))]
        return [(tuple(int(c) for c in colour), name) for colour, name in zip(self.palette.tolist(), names)] + \
            [((0, 0, 0), "ignored")]

    def draw(self, phase: str, step: int) -> dict[str, Any]:
        """``{name: PIL image}``: each domain's columns under their headers, the phase and step
        above, the palette's legend below; called in eval mode without grad."""
        pictures = {}
        for name, (images, per_row) in self.grids().items():
            role = name.split("-")[0]
            pictures[name] = labelled_columns(images, per_row, self.headers(role, per_row),
                                              f"{role} test images, phase {phase}, step {step}", self.legend())
        return pictures

    def take(self, folder: Path, phase: str, step: int, grids):
        """The run's pictures at a snapshot, as :class:`Snapshotter` asks for them: the method's grids,
        as PNG unchanged, and these pictures."""
        return grids, self.draw(phase, step)

    def finish(self, folder: Path) -> None:
        """Nothing waits for the end of the run: each snapshot's pictures are complete."""

    def denormalize(self, images):
        scale = self.normalize.scale.to(images.device)
        shift = self.normalize.shift.to(images.device)
        return ((images.float() + shift) / scale / 255).clamp(0, 1).cpu()


def palette_for(task: TaskSpec, num_classes: int):
    """The task's class colours as a ``(K, 3)`` uint8 tensor; evenly spread hues where it names none."""
    import colorsys

    import torch

    if len(task.palette) >= num_classes:
        return torch.tensor(task.palette[:num_classes], dtype=torch.uint8)
    colours = [colorsys.hsv_to_rgb(i / num_classes, 0.8, 0.5 + 0.5 * (i % 2)) for i in range(num_classes)]
    return torch.tensor([[round(255 * c) for c in colour] for colour in colours], dtype=torch.uint8)


def labelled_grid(images, per_row: int, row_names, title: str):
    """A PIL image of a grid of ``images`` (in [0, 1], ``(N, C, H, W)``, C 1 or 3) with ``per_row`` per
    row, each row's name written at its start and ``title`` above (the picture is widened where the
    title is longer than the grid). Small images are enlarged (nearest neighbour, by
    :func:`labelled_scale`) so that the names and the images read at one size."""
    from PIL import Image, ImageDraw, ImageFont
    from torchvision.utils import make_grid

    scale = labelled_scale(*images.shape[-2:])
    grid = make_grid(images.float().cpu(), nrow=per_row, padding=1, pad_value=1.0)
    array = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    picture = Image.fromarray(array)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    font = ImageFont.load_default(size=LABEL_FONT_SIZE)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = LABEL_MARGIN + max((math.ceil(measure.textlength(str(name), font=font)) for name in row_names),
                                     default=0)
    title_width = 8 + math.ceil(measure.textlength(title, font=font))
    canvas = Image.new("RGB", (max(label_width + picture.width, title_width), TITLE_HEIGHT + picture.height), "white")
    canvas.paste(picture, (label_width, TITLE_HEIGHT))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, TITLE_HEIGHT // 2), title, fill="black", font=font, anchor="lm")
    cell = (images.shape[-2] + 1) * scale
    for row, name in enumerate(row_names):
        draw.text((label_width - LABEL_MARGIN // 2, TITLE_HEIGHT + round((row + 0.5) * cell) + scale // 2), str(name),
                  fill="black", font=font, anchor="rm")
    return canvas


LABELLED_CELL = 48  # the side an image of a labelled grid is enlarged towards, in pixels


def labelled_scale(height: int, width: int) -> int:
    """The whole factor (at least 1) that brings an image's longer side nearest to ``LABELLED_CELL``:
    28 and 32 px digits are doubled, 40 px signs stay as they are (a 43-class sign grid doubled was
    3,500 px high and 1.7 MB)."""
    return max(1, round(LABELLED_CELL / max(height, width)))


LABEL_FONT_SIZE = 13
LABEL_MARGIN = 12  # pixels around a row's name
TITLE_HEIGHT = 22

# Pictures of segmentation runs: columns at least this wide (small scenes are enlarged, nearest
# neighbour, so that a header fits over its column), and per ``COLUMNS_TEXT_WIDTH`` pixels of column
# one more step of text size, so that headers and legend stay readable over 1024-pixel-wide scenes.
COLUMN_WIDTH = 96
COLUMNS_TEXT_WIDTH = 256
COLUMNS_PADDING = 2  # white pixels between the images
LEGEND_SWATCH = 12  # side of a class's colour square in the legend (times the text scale)
LEGEND_GAP = 16  # pixels between two legend entries (times the text scale)


def columns_layout(height: int, width: int) -> tuple[int, int]:
    """``(scale, text_scale)`` of a picture of columns of ``height`` x ``width`` images: the images
    are enlarged ``scale`` times; the header, title and legend text is ``text_scale`` times
    ``LABEL_FONT_SIZE``, and their bands ``text_scale`` times ``TITLE_HEIGHT`` high."""
    scale = max(1, math.ceil(COLUMN_WIDTH / width))
    return scale, max(1, width * scale // COLUMNS_TEXT_WIDTH)


def labelled_columns(images, per_row: int, headers, title: str, legend):
    """A PIL image of ``images`` (in [0, 1], ``(N, 3, H, W)``), ``per_row`` to a row, under ``title``
    and one header per column, with a legend below: ``legend`` is ``(rgb colour, name)`` pairs, each
    drawn as a square of its colour and its name, as many to a line as the picture's width holds."""
    from PIL import Image, ImageDraw, ImageFont
    from torchvision.utils import make_grid

    height, width = images.shape[-2:]
    scale, text = columns_layout(height, width)
    grid = make_grid(images.float().cpu(), nrow=per_row, padding=COLUMNS_PADDING, pad_value=1.0)
    array = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    picture = Image.fromarray(array)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    font = ImageFont.load_default(size=LABEL_FONT_SIZE * text)
    band, swatch, gap = TITLE_HEIGHT * text, LEGEND_SWATCH * text, LEGEND_GAP * text
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entry = swatch + 4 * text + max((math.ceil(measure.textlength(name, font=font)) for _, name in legend),
                                    default=0) + gap
    canvas_width = max(picture.width, 8 * text + math.ceil(measure.textlength(title, font=font)), entry)
    per_line = max(1, (canvas_width - 4 * text) // entry)
    lines = math.ceil(len(legend) / per_line)
    top = 2 * band  # the title, then the headers
    canvas = Image.new("RGB", (canvas_width, top + picture.height + lines * band), "white")
    canvas.paste(picture, (0, top))
    draw = ImageDraw.Draw(canvas)
    draw.text((4 * text, band // 2), title, fill="black", font=font, anchor="lm")
    column = (width + COLUMNS_PADDING) * scale
    for index, header in enumerate(headers):
        centre = COLUMNS_PADDING * scale + index * column + (width * scale) // 2
        draw.text((centre, band + band // 2), header, fill="black", font=font, anchor="mm")
    for index, (colour, name) in enumerate(legend):
        x = 4 * text + (index % per_line) * entry
        y = top + picture.height + (index // per_line) * band + band // 2
        draw.rectangle((x, y - swatch // 2, x + swatch - 1, y - swatch // 2 + swatch - 1), fill=tuple(colour),
                       outline=(128, 128, 128))
        draw.text((x + swatch + 4 * text, y), name, fill="black", font=font, anchor="lm")
    return canvas


class Snapshotter:
    """Saves a method's image grids (``Method.snapshot``) as PNG at a few points of each phase, and
    the run's own ``pictures`` (:class:`SegmentationPictures`, a point task's decision regions, or
    ``None``): at each snapshot ``pictures.take(folder, phase, step, grids)`` returns the grids still
    to save as PNG and ``{name: PIL image}`` to save beside them, and at the end of the run
    ``pictures.finish(folder)`` draws what needs every snapshot (returning its path, or ``None``).
    A grid with one row per class (named ``generated...``) names each row's class (``class_names``)
    and says its phase and step above it."""

    def __init__(self, method, task: TaskSpec, artifact_dir: Path | None, count: int, pictures=None,
                 class_names=()):
        self.method, self.task, self.count, self.pictures = method, task, count, pictures
        self.class_names = list(class_names)
        # Rows per class apply to labels per image: a segmentation grid's rows are label maps
        # (Label2Image-seg's four), however many classes the task has.
        self.class_rows = bool(self.class_names) and getattr(task, "kind", "classification") == "classification"
        self.folder = artifact_dir / "images" if artifact_dir is not None else None
        self.saved: list[str] = []

    def maybe_save(self, phase: str, step: int, steps: int) -> None:
        if self.folder is None or self.count <= 0:
            return
        every = max(1, steps // self.count)
        if step % every and step != steps:
            return
        import torch
        from torchvision.utils import save_image

        self.method.eval()
        with torch.no_grad():
            grids, pictures = self.method.snapshot(), {}
            if self.pictures is not None:
                grids, pictures = self.pictures.take(self.folder, phase, step, grids)
        self.method.train()
        if grids or pictures:
            self.folder.mkdir(parents=True, exist_ok=True)
        for name, (images, per_row) in (grids or {}).items():
            mean = torch.tensor(self.task.mean[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            std = torch.tensor(self.task.std[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            path = self.folder / f"{name}-{phase}-{step:06d}.png"
            images = (images.float() * std + mean).clamp(0, 1).cpu()
            rows = math.ceil(len(images) / max(1, per_row))
            if self.class_rows and name.startswith(CLASS_ROWS_GRID) and rows == len(self.class_names):
                labelled_grid(images, per_row, self.class_names, f"{name}, phase {phase}, step {step}").save(path)
            else:
                save_image(images, path, nrow=per_row, padding=1)
            self.saved.append(str(path))
        for name, picture in pictures.items():
            path = self.folder / f"{name}-{phase}-{step:06d}.png"
            picture.save(path)
            self.saved.append(str(path))

    def finish(self) -> None:
        """Draw what needs every snapshot of the run (the decision-region panels of a point task)."""
        if self.folder is None or self.count <= 0 or self.pictures is None:
            return
        path = self.pictures.finish(self.folder)
        if path is not None and str(path) not in self.saved:
            self.saved.append(str(path))
