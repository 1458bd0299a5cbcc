"""Two interleaving moons in the plane: the source, and the same moons rotated and shifted: the target.

The classic toy of domain adaptation (the DANN paper's "inter-twinning moons" turn the target by
35 degrees). A point reaches udabench as a flat image: ``POINT_SIZE`` x ``POINT_SIZE`` pixels in 2
channels, every pixel of channel ``c`` holding the point's coordinate ``c`` (see ``to_pixels``).
The data path, the runner and every method then treat points as they treat images; a network reads
a point back as the mean of each channel over the pixels (``udabench_toy.mlp``). Why flat images
and not 1x1 ones: the image networks of the GAN and translation methods (4x4 strided convolutions,
reflection padding) need a few pixels to run at all. Numpy only: no torch here.
"""

from __future__ import annotations

import math

import numpy as np

MOON_CLASSES = ("upper moon", "lower moon")
POINT_SIZE = 8  # side of the flat image that carries a point
POINT_SIZES = {"train": 2000, "test": 1000}
SEEDS = {"train": 20, "test": 21}
TARGET_SEED_OFFSET = 100
NOISE = 0.1  # standard deviation of the Gaussian noise around each moon
ROTATION_DEGREES = 35.0  # the target's rotation about the origin, counter-clockwise
SHIFT = (0.15, 0.15)  # then the target's shift
# Coordinates in [-EXTENT, EXTENT] map to pixel values 0..255; with the task's mean 0.5 and std 0.5
# a network sees the point divided by EXTENT, in [-1, 1] (the range of a generator's tanh).
EXTENT = 2.0


def moons(count: int, rng: np.random.Generator, noise: float = NOISE) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points of two interleaving half circles (half of each class), centred on the origin,
    with Gaussian noise: ``(points (N, 2), labels (N,))``, in shuffled order."""
    labels = np.arange(count) % 2
    angles = rng.uniform(0.0, math.pi, size=count)
    upper = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    lower = np.stack([1.0 - np.cos(angles), 0.5 - np.sin(angles)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower) - np.array([0.5, 0.25])
    points += rng.normal(0.0, noise, size=points.shape)
    order = rng.permutation(count)
    return points[order], labels[order].astype(np.int64)


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    matrix = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return points @ matrix.T


def to_pixels(points: np.ndarray) -> list[np.ndarray]:
    """Each point as a ``POINT_SIZE`` x ``POINT_SIZE`` x 2 uint8 image, flat at its two coordinates."""
    values = np.clip(np.round((points / EXTENT + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return [np.broadcast_to(value, (POINT_SIZE, POINT_SIZE, 2)).copy() for value in values]


def source_moons(split: str):
    points, labels = moons(POINT_SIZES[split], np.random.default_rng(SEEDS[split]))
    return to_pixels(points), labels


def target_moons(split: str):
    points, labels = moons(POINT_SIZES[split], np.random.default_rng(SEEDS[split] + TARGET_SEED_OFFSET))
    return to_pixels(rotate(points, ROTATION_DEGREES) + np.array(SHIFT)), labels
