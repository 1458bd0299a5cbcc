"""Pictures of a run on a task of 2-D points (``TaskSpec.points``): the decision regions, the test
points and a method's samples as points, one panel per snapshot, drawn in one row at the end."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from udabench.runner.pictures import ADAPTATION_PICTURE, CLASS_ROWS_GRID, fixed_test_samples
from udabench.specs import TaskSpec


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

    def take(self, folder: Path, phase: str, step: int, grids):
        """A snapshot, as :class:`~udabench.runner.pictures.Snapshotter` asks for it: the method's
        samples become points of the panel, and 2-channel grids make no PNG."""
        self.record(folder, phase, step, grids)
        return {}, {}

    def finish(self, folder: Path) -> Path | None:
        return self.render(folder)

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
