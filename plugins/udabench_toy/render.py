"""Renders digit images with Pillow's built-in font; the same seed gives the same images."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from udabench_toy.plugin import SIZES

SEEDS = {"train": 0, "test": 1}
TARGET_SEED_OFFSET = 100  # the target domain draws other digit instances than the source


def _digit_masks(split: str, seed_offset: int = 0):
    """Grey digit masks (N, 28, 28) with their labels: random size, offset, rotation and stroke."""
    rng = np.random.default_rng(SEEDS[split] + seed_offset)
    count = SIZES[split]
    labels = rng.integers(0, 10, size=count)
    fonts = {size: ImageFont.load_default(size=size) for size in range(16, 25)}
    masks = np.empty((count, 28, 28), dtype=np.uint8)
    for index, label in enumerate(labels):
        canvas = Image.new("L", (40, 40), 0)
        draw = ImageDraw.Draw(canvas)
        font = fonts[int(rng.integers(16, 25))]
        draw.text((20 + rng.normal(0, 1.5), 20 + rng.normal(0, 1.5)), str(label), fill=255, font=font,
                  anchor="mm", stroke_width=int(rng.integers(0, 2)), stroke_fill=255)
        canvas = canvas.rotate(float(rng.normal(0, 12)), resample=Image.BILINEAR)
        masks[index] = np.asarray(canvas.crop((6, 6, 34, 34)))
    return masks, labels.astype(np.int64), rng


def clean_digits(split: str):
    masks, labels, _ = _digit_masks(split)
    return list(masks[..., None]), labels


def textured_digits(split: str):
    masks, labels, rng = _digit_masks(split, TARGET_SEED_OFFSET)
    count = len(labels)
    # MNIST-M's recipe on smooth coloured noise: where the digit is, the background colour is
    # inverted, so the digit keeps its contrast whatever the colours.
    coarse = rng.integers(0, 256, size=(count, 4, 4, 3)).astype(np.uint8)
    background = np.asarray([np.asarray(Image.fromarray(c).resize((28, 28), Image.BICUBIC)) for c in coarse],
                            dtype=np.float32)
    background = np.clip(0.5 * background + rng.normal(0, 10, size=background.shape), 0, 255)
    ink = masks[..., None].astype(np.float32)
    images = np.abs(background - ink).astype(np.uint8)
    return list(images), labels
