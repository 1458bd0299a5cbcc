"""Readers for the official MATLAB archives of SVHN and SynDigits (``X``: 32x32x3xN, ``y``: N x 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from udabench.api import UdabenchError

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}
SYNDIGITS_FILES = {"train": "synth_train_32x32.mat", "test": "synth_test_32x32.mat"}


def _load_mat(folder: Path, files: dict, split: str, dataset: str):
    from scipy.io import loadmat

    if split not in files:
        raise UdabenchError(f"{dataset} has no '{split}' split (has: {', '.join(files)})")
    path = folder / files[split]
    if not path.is_file():
        raise UdabenchError(f"{dataset}: expected the official archive file {path}")
    try:
        content = loadmat(path)
    except Exception as exc:
        raise UdabenchError(f"{dataset}: cannot read {path}: {type(exc).__name__}: {exc}") from None
    images = np.ascontiguousarray(np.transpose(content["X"], (3, 0, 1, 2))).astype(np.uint8)
    labels = content["y"].reshape(-1).astype(np.int64)
    labels[labels == 10] = 0  # both archives write the digit 0 as class 10
    return list(images), labels


def load_svhn_mat(folder: Path, split: str):
    return _load_mat(folder, SVHN_FILES, split, "svhn")


def load_syndigits_mat(folder: Path, split: str):
    return _load_mat(folder, SYNDIGITS_FILES, split, "syndigits")
