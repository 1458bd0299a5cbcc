"""The per-sample input pipeline most reference code uses, which ``udabench bench`` times udabench's
against: PNG bytes decoded with PIL one image at a time, ``ToTensor`` and ``Normalize`` in the
workers of a shuffling ``DataLoader`` per domain.

Importing this module does not import torch.
"""

from __future__ import annotations

import io


def encode_png(images) -> list[bytes]:
    """Each image of a uint8 ``(N, C, H, W)`` tensor as PNG bytes (grey for one channel, else RGB)."""
    from PIL import Image

    array = images.cpu().numpy()
    encoded = []
    for image in array:
        image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded


def pil_transform(task):
    """torchvision's per-sample transform for ``task``: its crop and flip where it augments (the
    centre crop of a larger stored image otherwise), ``ToTensor`` and ``Normalize`` (task mean, std)."""
    from torchvision import transforms

    from udabench.data import augment

    steps = []
    if "random_resized_crop" in task.augment:
        steps.append(transforms.RandomResizedCrop(task.resolution, scale=augment.SCALE, ratio=augment.RATIO))
    elif task.stored_resolution != task.resolution:
        steps.append(transforms.CenterCrop(task.resolution))
    if "hflip" in task.augment:
        steps.append(transforms.RandomHorizontalFlip())
    channels = task.channels
    mean = task.mean if len(task.mean) == channels else task.mean[:1] * channels
    std = task.std if len(task.std) == channels else task.std[:1] * channels
    steps += [transforms.ToTensor(), transforms.Normalize(tuple(mean), tuple(std))]
    return transforms.Compose(steps)


class EncodedImages:
    """A map-style dataset of PNG bytes, each decoded with PIL and transformed when it is asked for
    (in the DataLoader's workers)."""

    def __init__(self, images: list[bytes], labels, transform, mode: str):
        self.images, self.labels, self.transform, self.mode = images, list(labels), transform, mode

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        from PIL import Image

        image = Image.open(io.BytesIO(self.images[index])).convert(self.mode)
        return self.transform(image), self.labels[index]


class LoaderBatches:
    """The per-sample way: one shuffling ``DataLoader`` (``drop_last``, persistent workers) per
    domain over :class:`EncodedImages`, started again at the end of each pass.

    ``encoded`` maps the roles the phase sees to ``(PNG bytes, labels)``.
    """

    def __init__(self, encoded, task, batch_size: int, workers: int, device, seed: int = 0):
        import torch
        from torch.utils.data import DataLoader

        self.device = torch.device(device)
        pin = self.device.type == "cuda"
        transform = pil_transform(task)
        mode = "L" if task.channels == 1 else "RGB"
        self.loaders, self.iterators = {}, {}
        for offset, (role, (images, labels)) in enumerate(encoded.items()):
            dataset = EncodedImages(images, labels, transform, mode)
            self.loaders[role] = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                            num_workers=workers, persistent_workers=workers > 0,
                                            pin_memory=pin, generator=torch.Generator().manual_seed(seed + offset))
            self.iterators[role] = iter(self.loaders[role])

    def _next(self, role: str):
        try:
            return next(self.iterators[role])
        except StopIteration:
            self.iterators[role] = iter(self.loaders[role])
            return next(self.iterators[role])

    def __call__(self):
        from udabench.method import Batch

        batch = Batch()
        if "source" in self.loaders:
            images, labels = self._next("source")
            batch.source_x = images.to(self.device, non_blocking=True)
            batch.source_y = labels.to(self.device, non_blocking=True)
        if "target" in self.loaders:
            images, _ = self._next("target")
            batch.target_x = images.to(self.device, non_blocking=True)
        return batch

    def close(self) -> None:
        for iterator in self.iterators.values():
            shutdown = getattr(iterator, "_shutdown_workers", None)
            if shutdown is not None:  # persistent workers would otherwise live until collected
                shutdown()
        self.iterators.clear()
        self.loaders.clear()


# --- timing -------------------------------------------------------------------------------------


def encode_train_splits(splits, roles) -> dict[str, tuple[list[bytes], list[int]]]:
    """The train split of each of ``roles`` as PNG bytes and labels (the typical pipeline's input)."""
    return {role: (encode_png(splits[f"{role}_train"].images), splits[f"{role}_train"].labels.tolist())
            for role in roles}
