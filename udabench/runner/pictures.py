"""Pictures of a run: a method's image grids and, for segmentation, side-by-side predictions, as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from udabench.specs import TaskSpec


class SegmentationPictures:
    """Side-by-side pictures of a segmentation run, on a few fixed test images of each domain.

    ``source`` rows: the source image, its translation where the method translates
    (``Method.translate``), the prediction and the label map; ``target`` rows: the target image, the
    prediction and the label map. Label maps are drawn in the task's palette, ignored pixels black.
    """

    ROWS = 4

    def __init__(self, method, splits, normalize, task: TaskSpec, seed: int):
        import torch

        self.method, self.normalize, self.task = method, normalize, task
        generator = torch.Generator().manual_seed(seed)
        self.samples = {}
        for role in ("source", "target"):
            if f"{role}_test" not in splits:  # a source-free run without source data
                continue
            split = splits[f"{role}_test"]
            order = torch.randperm(len(split), generator=generator)[:self.ROWS].to(split.images.device)
            self.samples[role] = (split.images[order], split.labels[order])
        self.palette = palette_for(task, splits["target_test"].num_classes)

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


class Snapshotter:
    """Saves a method's image grids (``Method.snapshot``) as PNG at a few points of each phase, and
    for segmentation the side-by-side pictures of :class:`SegmentationPictures`."""

    def __init__(self, method, task: TaskSpec, artifact_dir: Path | None, count: int,
                 pictures: SegmentationPictures | None = None):
        self.method, self.task, self.count, self.pictures = method, task, count, pictures
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
            grids = self.method.snapshot()
            pictures = self.pictures.grids() if self.pictures is not None else {}
        self.method.train()
        if grids or pictures:
            self.folder.mkdir(parents=True, exist_ok=True)
        for name, (images, per_row) in (grids or {}).items():
            mean = torch.tensor(self.task.mean[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            std = torch.tensor(self.task.std[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            path = self.folder / f"{name}-{phase}-{step:06d}.png"
            save_image((images.float() * std + mean).clamp(0, 1).cpu(), path, nrow=per_row, padding=1)
            self.saved.append(str(path))
        for name, (images, per_row) in pictures.items():
            path = self.folder / f"{name}-{phase}-{step:06d}.png"
            save_image(images, path, nrow=per_row, padding=2)
            self.saved.append(str(path))
