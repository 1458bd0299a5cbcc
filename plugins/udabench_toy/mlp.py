"""A small MLP over points: the backbone of the 2-D toy task."""

from __future__ import annotations

import torch
from torch import nn


class PointMLP(nn.Module):
    """Reads each image as a point, the mean of each channel over its pixels (a flat image of the
    2-D toy task gives back its coordinates), then two fully connected ReLU layers."""

    def __init__(self, in_channels: int, width: int = 64):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_channels, width), nn.ReLU(inplace=True),
                                    nn.Linear(width, width), nn.ReLU(inplace=True))
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(2).mean(2))


def point_mlp(in_channels: int, resolution) -> PointMLP:
    return PointMLP(in_channels)
