"""Checkpoints: a run's saved weights, read back and handed to a method."""

from __future__ import annotations

import os

from udabench.errors import UdabenchError

# The method's state at the end of its source phase, beside ``model.pt`` (``udabench plot --features``).
SOURCE_MODEL_FILE = "source-model.pt"


def load_checkpoint(path: str | os.PathLike):
    """A run's saved weights (a state dict of tensors), read with ``weights_only=True``."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _take_stored_weights(load, checkpoint: str, misfit: str, method_name: str) -> None:
    """Hand a stored run's checkpoint to ``load`` (a method's ``load_*_weights``); weights that do not
    fit become one line starting with ``misfit``."""
    try:
        load(load_checkpoint(checkpoint))
    except (RuntimeError, KeyError, OSError) as exc:
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise UdabenchError(f"{misfit} '{method_name}': {detail}") from None
