"""A run's data: the task's splits on the device, the batches drawn from them, their normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from udabench.data import augment as augment_module
from udabench.data.loading import DataSource
from udabench.plugins import Registry
from udabench.runner.request import PreparedRun
from udabench.specs import TaskSpec


class IndexSampler:
    """Endless shuffled passes over ``n`` indices, drawn from a seeded generator, on ``device``."""

    def __init__(self, n: int, batch_size: int, generator, device):
        self.n, self.batch_size, self.generator, self.device = n, batch_size, generator, device
        self.order = self._permutation()
        self.position = 0

    def _permutation(self):
        import torch

        return torch.randperm(self.n, generator=self.generator).to(self.device)

    def state(self) -> dict:
        return {"order": self.order.cpu(), "position": self.position}

    def load_state(self, state: dict) -> None:
        self.order, self.position = state["order"].to(self.device), state["position"]

    def next(self):
        import torch

        pieces, wanted = [], self.batch_size
        while wanted:
            if self.position == self.n:
                self.order, self.position = self._permutation(), 0
            take = min(wanted, self.n - self.position)
            pieces.append(self.order[self.position:self.position + take])
            self.position += take
            wanted -= take
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)


class TrainingBatches:
    """A run's training batches: each domain's indices from its own :class:`IndexSampler` (one seeded
    generator for all), images augmented on the device where the task asks for it, then normalised.
    Target labels never leave this class: a batch holds only what a phase's ``inputs`` may see."""

    def __init__(self, splits, task: TaskSpec, batch_size: int, seed: int, normalize, device):
        import torch

        self.splits, self.normalize, self.device = splits, normalize, device
        self.dense = task.kind == "segmentation"
        generator = torch.Generator().manual_seed(seed)
        self.augment = augment_module.Augmenter(task.augment, task.resolution, seed)
        self.samplers = {role: IndexSampler(len(splits[f"{role}_train"]), batch_size, generator,
                                            splits[f"{role}_train"].images.device)
                         for role in ("source", "target") if f"{role}_train" in splits}
        # Every generator a batch draws from, by name, for a resume checkpoint.
        self.generators = {"sampler": generator, **({"augment": self.augment.generator} if self.augment else {})}

    def draw(self, role: str):
        split = self.splits[f"{role}_train"]
        indices = self.samplers[role].next()
        images = split.images[indices].to(self.device, non_blocking=True)
        labels = split.labels[indices].to(self.device, non_blocking=True)
        if self.augment and self.dense:
            images, labels = self.augment(images, labels)
        elif self.augment:
            images = self.augment(images)
        return self.normalize(images), labels.long()

    def batch(self, inputs):
        """The next :class:`~udabench.method.Batch` of a phase that sees ``inputs``."""
        from udabench.method import Batch

        batch = Batch()
        if "source" in inputs:
            batch.source_x, batch.source_y = self.draw("source")
        if "target" in inputs:
            batch.target_x, _ = self.draw("target")
        return batch

    def forget_source(self) -> None:
        """A source-free phase: from here on the source training data no longer exists for this run."""
        self.splits.pop("source_train", None)
        self.samplers.pop("source", None)


class Normalizer:
    """uint8 images -> float, scaled to [0, 1] and normalised with the task's mean and std.

    Images larger than the task's input (a ``cache_resolution`` above ``resolution``) are
    centre-cropped to it first: evaluation images always, training batches where the task names no
    random crop (the :class:`~udabench.data.augment.Augmenter` has already cropped them otherwise).
    """

    def __init__(self, task: TaskSpec, device, channels_last: bool = False):
        import torch

        self.size = task.resolution
        # Batches in channels-last order, for a network converted to it (runner/execution.py).
        self.memory_format = torch.channels_last if channels_last else None
        channels = task.channels
        mean = task.mean if len(task.mean) == channels else task.mean[:1] * channels
        std = task.std if len(task.std) == channels else task.std[:1] * channels
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, -1, 1, 1)

    def __call__(self, images):
        normalized = augment_module.center_crop(images, self.size).float() * self.scale - self.shift
        if self.memory_format is not None and normalized.dim() == 4:
            normalized = normalized.contiguous(memory_format=self.memory_format)
        return normalized


def load_task_data(prepared: PreparedRun, registry: Registry, device, progress: bool):
    """Source and target train/test splits at the task's protocol, on ``device`` where they fit.

    A split that a task names twice (Office-31 trains and tests on all of a domain's images) is
    decoded once and shared.
    """
    from udabench.data.loading import load_split

    task = prepared.task
    splits, loaded = {}, {}
    for role, name in (("source", task.source), ("target", task.target)):
        if name not in prepared.sources:  # a source-free run from a stored source model
            continue
        spec = registry.get("datasets", name)
        test_split = task.source_test_split or task.test_split if role == "source" else task.test_split
        for split_role, split in (("train", task.train_split), ("test", test_split)):
            if (name, split) not in loaded:
                loaded[name, split] = _to_device(load_split(spec, prepared.sources[name], split, task,
                                                            progress=progress), device)
            splits[f"{role}_{split_role}"] = loaded[name, split]
    return splits


def _to_device(split, device):
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if split.images.numel() > free // 4:  # leave room for training; fall back to host memory
            return split
    return split.to(device)


def _describe_data(source: DataSource, splits, role: str) -> dict[str, Any]:
    """Where a dataset of the run came from, and how many images each split held. A hub copy's
    ``revision`` is the one asked for; ``pinned`` says whether it was a commit hash (otherwise the run
    read whatever the hub held under that branch that day) and ``commit`` which commit the files came
    from, where ``datasets`` said so."""
    sizes = {split: len(splits[f"{role}_{split}"]) for split in ("train", "test") if f"{role}_{split}" in splits}
    location = source.location if source.kind in ("hub", "generated") else Path(source.location).name
    described = {"kind": source.kind, "location": location, "revision": source.revision, "sizes": sizes}
    if source.kind == "hub":
        commits = {splits[key].commit for key in (f"{role}_train", f"{role}_test") if key in splits}
        described["pinned"] = source.pinned
        described["commit"] = commits.pop() if len(commits) == 1 else None
    return described
