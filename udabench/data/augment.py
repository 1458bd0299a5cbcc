"""Training-batch augmentation on the device, for tasks that name it (``TaskSpec.augment``).

Images stay decoded once, as a uint8 tensor at the task's ``stored_resolution``. After a training
batch is drawn by index, :class:`Augmenter` crops and flips the whole batch at once with tensor
operations (one ``grid_sample`` call), on the device the batch is on; evaluation images are only
centre-cropped (:func:`center_crop`). Random numbers come from a CPU generator seeded from the run's
seed, apart from the one that draws batch indices, so a run is reproducible and adding augmentation
to a task does not change which images its batches hold.

- ``random_resized_crop``: torchvision's ``RandomResizedCrop`` box rule (area 8-100% of the image,
  aspect ratio 3/4-4/3 on a log scale, ten tries per image, else the centre crop with the ratio
  clamped), the box resized to ``resolution`` with bilinear sampling at pixel centres
  (``align_corners=False``, as ``F.interpolate`` without antialiasing).
- ``hflip``: each image mirrored left-right with probability 1/2.

Without ``random_resized_crop``, images are centre-cropped to ``resolution`` first. The output is a
float tensor in [0, 255] (uint8 scale); normalisation follows.
"""

from __future__ import annotations

import hashlib
import math

from udabench.errors import UdabenchError, unknown_name_error

AUGMENTATIONS = {
    "random_resized_crop": "a random box of 8-100% of the image area, aspect 3/4-4/3, resized to the input size",
    "hflip": "mirror left-right with probability 1/2",
}
# The augmentations that move label maps with their images (segmentation tasks).
DENSE_AUGMENTATIONS = ("hflip",)
SCALE = (0.08, 1.0)
RATIO = (3.0 / 4.0, 4.0 / 3.0)
TRIES = 10


def check(task) -> None:
    """Unknown augmentation names, or a cache smaller than the input, are errors (no torch needed)."""
    for name in task.augment:
        if name not in AUGMENTATIONS:
            raise unknown_name_error(f"augmentation of task '{task.name}'", name, AUGMENTATIONS)
        if task.kind == "segmentation" and name not in DENSE_AUGMENTATIONS:
            raise UdabenchError(f"task '{task.name}': augmentation '{name}' does not apply to label maps "
                                f"(segmentation tasks take {', '.join(DENSE_AUGMENTATIONS)})")
    if task.kind == "segmentation":
        return
    if task.stored_resolution < task.resolution:
        raise UdabenchError(f"task '{task.name}': cache_resolution {task.stored_resolution} is smaller than its "
                            f"input resolution {task.resolution}")


def augment_seed(seed: int) -> int:
    """The augmentation generator's seed for a run seed: apart from the index sampler's stream."""
    return int.from_bytes(hashlib.sha256(f"udabench-augment:{seed}".encode()).digest()[:8], "big") >> 1


def center_crop(images, size: int | tuple[int, int]):
    """The centre crop of a batch ``(N, C, H, W)`` to ``size`` (one side, or ``(height, width)``):
    a view, with no copy when the batch already has that size."""
    from udabench.specs import size_of

    crop_height, crop_width = size_of(size)
    height, width = images.shape[-2:]
    if height == crop_height and width == crop_width:
        return images
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return images[..., top:top + crop_height, left:left + crop_width]


def random_resized_boxes(n: int, height: int, width: int, generator):
    """``(top, left, box height, box width)`` int64 tensors of length ``n``: torchvision's rule, batched."""
    import torch

    area = height * width
    target_area = area * torch.empty(n, TRIES).uniform_(*SCALE, generator=generator)
    log_ratio = torch.empty(n, TRIES).uniform_(math.log(RATIO[0]), math.log(RATIO[1]), generator=generator)
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(target_area * aspect)).long()
    h = torch.round(torch.sqrt(target_area / aspect)).long()
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = valid.int().argmax(dim=1)  # the first valid try of each image
    found = valid.any(dim=1)
    rows = torch.arange(n)
    w, h = w[rows, first], h[rows, first]
    # No valid try: the whole image, its aspect ratio clamped to RATIO, centred (as torchvision).
    in_ratio = width / height
    if in_ratio < RATIO[0]:
        fallback_w, fallback_h = width, int(round(width / RATIO[0]))
    elif in_ratio > RATIO[1]:
        fallback_w, fallback_h = int(round(height * RATIO[1])), height
    else:
        fallback_w, fallback_h = width, height
    w = torch.where(found, w, torch.full_like(w, fallback_w))
    h = torch.where(found, h, torch.full_like(h, fallback_h))
    u = torch.rand(n, 2, generator=generator)
    top = torch.where(found, (u[:, 0] * (height - h + 1)).long().clamp(max=height - h), (height - h) // 2)
    left = torch.where(found, (u[:, 1] * (width - w + 1)).long().clamp(max=width - w), (width - w) // 2)
    return top, left, h, w


class Augmenter:
    """Applies a task's ``augment`` list to uint8 training batches; returns float batches at ``size``."""

    def __init__(self, names, size: int | tuple[int, int], seed: int):
        import torch

        self.names = tuple(names)
        for name in self.names:
            if name not in AUGMENTATIONS:
                raise unknown_name_error("augmentation", name, AUGMENTATIONS)
        self.size = size
        self.generator = torch.Generator().manual_seed(augment_seed(seed))

    def __bool__(self) -> bool:
        return bool(self.names)

    def __call__(self, images, label_maps=None):
        """The augmented batch; with ``label_maps`` ``(N, H, W)`` (segmentation), ``(images, label_maps)``
        with each map flipped as its image is."""
        import torch
        import torch.nn.functional as F

        n, _, height, width = images.shape
        flip = (torch.rand(n, generator=self.generator) < 0.5) if "hflip" in self.names else None
        if label_maps is not None:
            images = images.float()
            if flip is not None:
                flip = flip.to(images.device)
                images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
                label_maps = torch.where(flip.view(-1, 1, 1), label_maps.flip(-1), label_maps)
            return images, label_maps
        if "random_resized_crop" not in self.names:
            images = center_crop(images, self.size).float()
            if flip is not None:
                flip = flip.to(images.device).view(-1, 1, 1, 1)
                images = torch.where(flip, images.flip(-1), images)
            return images
        top, left, h, w = random_resized_boxes(n, height, width, self.generator)
        # An affine map from the output's [-1, 1] square onto each box (align_corners=False: -1 and 1
        # are the outer pixel edges); a flip mirrors the box's x axis.
        scale_x, scale_y = w.double() / width, h.double() / height
        centre_x = (2 * left + w).double() / width - 1
        centre_y = (2 * top + h).double() / height - 1
        if flip is not None:
            scale_x = torch.where(flip, -scale_x, scale_x)
        theta = torch.zeros(n, 2, 3, dtype=torch.float64)
        theta[:, 0, 0], theta[:, 0, 2] = scale_x, centre_x
        theta[:, 1, 1], theta[:, 1, 2] = scale_y, centre_y
        images = images.float()
        theta = theta.to(device=images.device, dtype=images.dtype)
        grid = F.affine_grid(theta, [n, images.shape[1], self.size, self.size], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
