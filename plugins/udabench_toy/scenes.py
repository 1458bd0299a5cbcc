"""Generated street-scene stand-ins for segmentation: boxes and discs on a ground, labelled per pixel.

The source domain paints each class in a flat colour; the target paints the same layout kind with
other colours over noise, as synthetic -> real changes appearance and keeps the label space. Pixels
on a shape's rim are labelled 255 (ignore), as annotation borders are in real datasets.
"""

from __future__ import annotations

import numpy as np

SCENE_CLASSES = ("ground", "sky", "box", "disc")
SCENE_SIZE = (32, 48)  # (height, width)
SCENE_SIZES = {"train": 400, "test": 100}
SEEDS = {"train": 10, "test": 11}
TARGET_SEED_OFFSET = 100
RIM = 255
SOURCE_COLOURS = np.array([[90, 90, 90], [120, 170, 230], [200, 60, 40], [240, 210, 40]], dtype=np.float32)
TARGET_COLOURS = np.array([[110, 80, 50], [200, 200, 210], [40, 120, 200], [60, 180, 80]], dtype=np.float32)


def _layouts(split: str, seed_offset: int):
    rng = np.random.default_rng(SEEDS[split] + seed_offset)
    height, width = SCENE_SIZE
    rows, cols = np.mgrid[0:height, 0:width]
    maps = []
    for _ in range(SCENE_SIZES[split]):
        horizon = int(rng.integers(height // 3, 2 * height // 3))
        label = np.where(rows < horizon, 1, 0).astype(np.uint8)
        rim = np.zeros_like(label, dtype=bool)
        for _ in range(int(rng.integers(1, 4))):
            kind = int(rng.integers(2, 4))
            cy, cx = rng.integers(4, height - 4), rng.integers(4, width - 4)
            size = int(rng.integers(3, 8))
            if kind == 2:
                inside = (np.abs(rows - cy) <= size) & (np.abs(cols - cx) <= size)
                edge = inside & ((np.abs(rows - cy) == size) | (np.abs(cols - cx) == size))
            else:
                distance = np.hypot(rows - cy, cols - cx)
                inside, edge = distance <= size, (distance <= size) & (distance > size - 1)
            label[inside] = kind
            rim = (rim & ~inside) | edge
        label[rim] = RIM
        maps.append(label)
    return maps, rng


def _paint(maps, colours, rng, noise: float):
    images = []
    for label in maps:
        classes = np.where(label == RIM, 0, label)
        image = colours[classes] + rng.normal(0, noise, size=(*label.shape, 3))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def source_scenes(split: str):
    maps, rng = _layouts(split, 0)
    return _paint(maps, SOURCE_COLOURS, rng, 8.0), maps


def target_scenes(split: str):
    maps, rng = _layouts(split, TARGET_SEED_OFFSET)
    return _paint(maps, TARGET_COLOURS, rng, 25.0), maps
