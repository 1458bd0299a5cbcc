"""Pictures of a run: a method's image grids (those with one row per class labelled with the class
names), for segmentation side-by-side predictions, and for a task of 2-D points the decision
regions at each snapshot; as PNG."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from udabench.specs import TaskSpec

# The method's state at the end of its source phase, beside ``model.pt`` (``udabench plot --features``).
SOURCE_MODEL_FILE = "source-model.pt"
# The row of decision-region panels of a run on a task of 2-D points.
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


def is_point_task(task: TaskSpec) -> bool:
    """A classification task of 2-channel images is a task of points in the plane: an image's point
    is the mean of each channel over its pixels (the generated ``toy-2d`` task draws each point as
    a flat image, so that image networks run on it too). No task of pictures has 2 channels."""
    return task.kind == "classification" and task.channels == 2


def points_of(images):
    """The points that ``(N, 2, H, W)`` images stand for: each channel's mean over the pixels, ``(N, 2)``."""
    return images.float().flatten(2).mean(2)


class PointPictures:
    """The decision regions of a run on a task of 2-D points, with its source and target test points
    and, for methods whose ``snapshot`` returns samples, the samples as points, at each snapshot.

    Each snapshot writes its panel's data to ``images/points-PHASE-STEP.npz``; :meth:`render` draws
    every panel of the run in one row, in the order they were taken, as ``images/adaptation.png``
    (so a resumed run keeps the panels drawn before it stopped).
    """

    GRID = 121  # cells per side of the decision-region grid
    SHOWN = 300  # test points drawn per domain
    LIMIT = 1.0  # the panels show [-LIMIT, LIMIT]^2 of the normalised plane

    def __init__(self, method, splits, normalize, task: TaskSpec, seed: int, title: str, class_names):
        import torch

        self.method, self.normalize, self.task, self.title = method, normalize, task, title
        self.class_names = list(class_names)
        self.shown = {role: (points_of(normalize(images)).cpu().numpy(), labels.cpu().numpy())
                      for role, (images, labels) in fixed_test_samples(splits, self.SHOWN, seed).items()}
        target = splits["target_test"]
        self.target = (target.images, target.labels)
        axis = torch.linspace(-self.LIMIT, self.LIMIT, self.GRID)
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        self.plane = torch.stack([xs.flatten(), ys.flatten()], dim=1)  # row-major over (y, x)

    def _predict_points(self, points):
        """Class predictions for points, each given to the method as a flat image."""
        import torch

        device = self.normalize.scale.device
        height, width = self.target[0].shape[-2:]
        predictions = []
        for chunk in points.split(4096):
            images = chunk.to(device)[:, :, None, None].expand(-1, -1, height, width)
            predictions.append(self.method.predict(images).argmax(1).cpu())
        return torch.cat(predictions)

    def _target_accuracy(self) -> float:
        images, labels = self.target
        device = self.normalize.scale.device
        correct = 0
        for start in range(0, len(labels), 4096):
            batch = self.normalize(images[start:start + 4096].to(device))
            correct += int((self.method.predict(batch).argmax(1).cpu() == labels[start:start + 4096].cpu()).sum())
        return correct / max(1, len(labels))

    def record(self, folder: Path, phase: str, step: int, grids) -> Path:
        """Write one panel's data (called in eval mode without grad)."""
        import numpy as np

        regions = self._predict_points(self.plane).view(self.GRID, self.GRID).numpy().astype(np.int16)
        samples, sample_labels, sample_grids = [], [], []
        for index, (name, (images, per_row)) in enumerate(sorted((grids or {}).items())):
            if images.dim() != 4 or images.shape[1] != 2:
                continue
            points = points_of(images).cpu().numpy()
            rows = math.ceil(len(points) / max(1, per_row))
            if name.startswith(CLASS_ROWS_GRID) and rows == len(self.class_names):
                labels = np.arange(len(points)) // max(1, per_row)
            else:
                labels = np.full(len(points), -1)
            samples.append(points)
            sample_labels.append(labels)
            sample_grids.append(np.full(len(points), index))
        names = sorted((grids or {}))
        empty = np.zeros((0, 2), dtype=np.float32)
        arrays = {
            "phase": np.array(phase), "step": np.array(step), "time": np.array(time.time()),
            "regions": regions, "limit": np.array(self.LIMIT), "accuracy": np.array(self._target_accuracy()),
            "samples": np.concatenate(samples) if samples else empty,
            "sample_labels": np.concatenate(sample_labels) if samples else np.zeros(0, dtype=np.int64),
            "sample_grid": np.concatenate(sample_grids) if samples else np.zeros(0, dtype=np.int64),
            "grid_names": np.array(names if names else [""]),
        }
        for role, (points, labels) in self.shown.items():
            arrays[f"{role}_points"], arrays[f"{role}_labels"] = points, labels
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"points-{phase}-{step:06d}.npz"
        np.savez_compressed(path, **arrays)
        return path

    def render(self, folder: Path) -> Path | None:
        """The row of panels of every snapshot in ``folder`` as one PNG, or ``None`` without panels
        or without matplotlib (then a line on stderr says so)."""
        import numpy as np

        panels = []
        for path in folder.glob("points-*.npz") if folder.is_dir() else ():
            with np.load(path) as data:
                panels.append({name: data[name] for name in data.files})
        if not panels:
            return None
        panels.sort(key=lambda panel: float(panel["time"]))
        from udabench.errors import UdabenchError
        from udabench.plots import plot_point_panels

        try:
            return plot_point_panels(panels, self.class_names, folder / ADAPTATION_PICTURE, self.title)
        except UdabenchError as exc:  # no matplotlib: the panels' data stays in the .npz files
            print(f"udabench: {ADAPTATION_PICTURE} not drawn: {exc}", file=sys.stderr)
            return None


def run_pictures(method, splits, normalize, prepared, seed: int, class_names):
    """The pictures a run draws besides the method's own grids: side-by-side predictions for
    segmentation, decision regions for a task of 2-D points, else none."""
    task = prepared.task
    if task.kind == "segmentation":
        return SegmentationPictures(method, splits, normalize, task, seed)
    if is_point_task(task):
        return PointPictures(method, splits, normalize, task, seed,
                             f"{prepared.method.name} on {task.name}, seed {seed}", class_names)
    return None


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
    the run's own pictures: for segmentation the side-by-side pictures of
    :class:`SegmentationPictures`, for a task of points the decision regions of :class:`PointPictures`
    (drawn by :meth:`finish`). A grid with one row per class (named ``generated...``) names each
    row's class (``class_names``) and says its phase and step above it."""

    def __init__(self, method, task: TaskSpec, artifact_dir: Path | None, count: int,
                 pictures: SegmentationPictures | PointPictures | None = None, class_names=()):
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
        points = isinstance(self.pictures, PointPictures)
        with torch.no_grad():
            grids = self.method.snapshot()
            if points:  # the samples become points in the panel; 2-channel grids make no PNG
                self.pictures.record(self.folder, phase, step, grids)
                grids = {}
            pictures = self.pictures.draw(phase, step) if self.pictures is not None and not points else {}
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
        if self.folder is None or self.count <= 0 or not isinstance(self.pictures, PointPictures):
            return
        path = self.pictures.render(self.folder)
        if path is not None and str(path) not in self.saved:
            self.saved.append(str(path))


# --- features before and after adaptation (udabench plot --features) ----------------------------------

FEATURE_SAMPLES = 500  # test images per domain whose features are drawn


def stored_method(record: dict[str, Any], registry, checkpoint: str | Path):
    """The method of a stored run, rebuilt on the CPU from its recorded configuration, with the
    weights of ``checkpoint`` (its ``model.pt``, or its ``source-model.pt``) loaded into it."""
    import dataclasses

    import torch

    from udabench.errors import UdabenchError
    from udabench.runner.build import build_method
    from udabench.runner.checkpoints import load_checkpoint
    from udabench.runner.request import PreparedRun

    config = record["config"]
    method_spec = registry.get("methods", record["method"])
    task = registry.get("tasks", record["task"])
    if config.get("resolution"):
        task = dataclasses.replace(task, resolution=tuple(config["resolution"]))
    backbone_name = config.get("backbone") or task.backbone
    hparams = dict(config["hparams"])
    if isinstance(hparams.get("weights"), str):
        hparams["weights"] = "none"  # the checkpoint holds every weight: nothing to fetch or read first
    prepared = PreparedRun(method_spec, task, registry.get("backbones", backbone_name), backbone_name,
                           hparams, {}, config, record["key"])
    classes = task.classes or registry.get("datasets", task.source).classes
    method = build_method(prepared, torch.device("cpu"), len(classes))
    try:
        state = load_checkpoint(checkpoint)
    except (OSError, RuntimeError) as exc:
        raise UdabenchError(f"run {record['run_id']}: cannot read {checkpoint}: {exc}") from None
    # Modules a method builds during training (an averaged copy, say) are not in a fresh instance:
    # the network drawn must load in full, the rest may be missing.
    missing, _ = method.load_state_dict(state, strict=False)
    method.eval()
    return method, missing


def feature_network(method, source_phase: bool = False):
    """``(name, features function)`` of the network a method predicts with: its ``task_model``
    where it has one (CyCADA's), else its adapted ``target_encoder`` (ADDA's, once adapted), else
    its ``model``; with ``source_phase``, the ``model`` (what a source phase trains). The function
    maps normalised images to the features before the classifier head (``TaskModel.features``)."""
    from udabench.errors import UdabenchError

    if not source_phase and getattr(method, "task_model", None) is not None:
        name = "task_model"
    elif (not source_phase and getattr(method, "target_encoder", None) is not None
          and bool(getattr(method, "adapted", False))):
        return "target_encoder", method.target_encoder
    elif getattr(method, "model", None) is not None:
        name = "model"
    else:
        raise UdabenchError(f"{type(method).__name__} has no 'model' or 'task_model' network whose features to draw")
    network = getattr(method, name)
    if not hasattr(network, "features"):
        raise UdabenchError(f"{type(method).__name__}.{name} has no features() to draw")
    return name, network.features


def _check_loaded(record, missing, name: str, checkpoint) -> None:
    from udabench.errors import UdabenchError

    lost = [key for key in missing if key.startswith(f"{name}.")]
    if lost:
        raise UdabenchError(f"run {record['run_id']}: {Path(checkpoint).name} lacks {len(lost)} weights of its "
                            f"'{name}' network (e.g. {lost[0]}); it was saved by other code")


def source_model_of(record: dict[str, Any], store) -> tuple[dict[str, Any], str, bool, str] | None:
    """Where the model before adaptation of a stored run is: ``(record, checkpoint, source_phase,
    description)``, or ``None``. In order: the run's own ``source-model.pt`` (saved at the end of its
    source phase), the ``model.pt`` of its ``--source-run``, else the newest ``source-only`` run of
    the same task, seed and backbone in the store."""
    folder = Path(record["artifacts"] or "")
    if (folder / SOURCE_MODEL_FILE).is_file():
        return record, str(folder / SOURCE_MODEL_FILE), True, f"end of run {record['run_id']}'s source phase"
    config = record["config"]
    if config.get("source_run"):
        source = store.get(config["source_run"])
        if source is not None and (Path(source["artifacts"] or "") / "model.pt").is_file():
            return (source, str(Path(source["artifacts"]) / "model.pt"), False,
                    f"its --source-run {source['run_id']} ({source['method']})")
    if record["method"] == "source-only":
        return None
    candidates = [r for r in store.query(method="source-only", task=record["task"], status="ok",
                                         seeds=[record["seed"]])
                  if r["config"].get("backbone") == config.get("backbone") and r["artifacts"]
                  and (Path(r["artifacts"]) / "model.pt").is_file()]
    if candidates:
        source = candidates[-1]
        return source, str(Path(source["artifacts"]) / "model.pt"), False, f"source-only run {source['run_id']}"
    return None


def feature_panels(record: dict[str, Any], store, registry, data: dict[str, str] | None = None,
                   data_root: str | None = None, samples: int = FEATURE_SAMPLES, seed: int = 0):
    """The features of a fixed sample of ``samples`` source and ``samples`` target test images under
    the model before adaptation (when one is found, see :func:`source_model_of`) and under the run's
    adapted model: ``(panels, class_names, note)``. Each panel holds the title, the features
    (numpy ``(2 samples, D)``), the labels, the domains (0 source, 1 target) and the accuracy on the
    sampled target images. ``note`` says why there is no panel before adaptation, if there is none."""
    import os

    import torch

    from udabench.data.loading import load_split, resolve_source
    from udabench.errors import UdabenchError
    from udabench.runner.task_data import Normalizer

    task = registry.get("tasks", record["task"])
    if task.kind != "classification":
        raise UdabenchError(f"--features draws the features of classification runs; '{task.name}' is a "
                            f"{task.kind} task")
    if record["status"] != "ok":
        raise UdabenchError(f"run {record['run_id']} has status '{record['status']}': no model to draw")
    checkpoint = Path(record["artifacts"] or "") / "model.pt"
    if not checkpoint.is_file():
        raise UdabenchError(f"run {record['run_id']} has no checkpoint at {checkpoint}")
    data, data_root = dict(data or {}), data_root or os.environ.get("UDABENCH_DATA")
    generator = torch.Generator().manual_seed(seed)
    images, labels, domains = [], [], []
    for domain, (name, split) in enumerate(((task.source, task.source_test_split or task.test_split),
                                            (task.target, task.test_split))):
        spec = registry.get("datasets", name)
        loaded = load_split(spec, resolve_source(spec, data.get(name), data_root), split, task)
        order = torch.randperm(len(loaded), generator=generator)[:samples]
        images.append(loaded.images[order])
        labels.append(loaded.labels[order].long())
        domains.append(torch.full((len(order),), domain))
    images, labels, domains = torch.cat(images), torch.cat(labels), torch.cat(domains)
    normalize = Normalizer(task, torch.device("cpu"))
    classes = list(task.classes or registry.get("datasets", task.source).classes)

    def panel(stored, checkpoint, source_phase, title):
        method, missing = stored_method(stored, registry, checkpoint)
        name, features_of = feature_network(method, source_phase)
        _check_loaded(stored, missing, name, checkpoint)
        features, logits = [], []
        with torch.no_grad():
            for start in range(0, len(images), 256):
                batch = normalize(images[start:start + 256])
                features.append(features_of(batch).flatten(1).float())
                network = method.predict if name == "target_encoder" else getattr(method, name)
                logits.append(network(batch).float())
        features, predicted = torch.cat(features), torch.cat(logits).argmax(1)
        target = domains == 1
        accuracy = float((predicted[target] == labels[target]).float().mean())
        return {"title": title, "network": f"{stored['method']}.{name}", "features": features.numpy(),
                "labels": labels.numpy(), "domains": domains.numpy(), "accuracy": accuracy}

    panels, note = [], None
    single_phase_source = all(phase.inputs == frozenset({"source"})
                              for phase in registry.get("methods", record["method"]).phases)
    before = None if single_phase_source else source_model_of(record, store)
    if before is not None:
        stored, path, source_phase, description = before
        panels.append(panel(stored, path, source_phase, f"before adaptation: {description}"))
    elif single_phase_source:
        note = f"run {record['run_id']} trains on source only: its model is the source model"
    else:
        note = (f"no source model found for run {record['run_id']}: run 'udabench run --method source-only "
                f"--task {record['task']} --seed {record['seed']}' (same backbone) to draw one beside it")
    after = "source model" if single_phase_source else "after adaptation"
    panels.append(panel(record, checkpoint, False, f"{after}: run {record['run_id']} ({record['method']})"))
    return panels, classes, note
