"""Small pieces the method tests share: a tiny backbone, state snapshots and log checks."""

from __future__ import annotations

import math

import torch
from torch import nn


class TinyBackbone(nn.Sequential):
    """Flatten, one linear layer to 12 features, ReLU and dropout: a backbone for ``channels`` x ``resolution``^2."""

    def __init__(self, channels: int, resolution: int, dropout: float = 0.0):
        super().__init__(nn.Flatten(), nn.Linear(channels * resolution * resolution, 12), nn.ReLU(),
                         nn.Dropout(dropout))
        self.out_features = 12


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``module``'s state dict (parameters and buffers)."""
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def check_logs(logs):
    """A method's logs: non-empty, detached finite scalar tensors."""
    assert logs
    for value in logs.values():
        assert isinstance(value, torch.Tensor) and value.ndim == 0 and not value.requires_grad
        assert math.isfinite(float(value))
