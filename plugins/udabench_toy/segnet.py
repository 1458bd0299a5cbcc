"""A tiny fully convolutional segmentation network for generated scenes and tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinySegNet(nn.Module):
    """Two strided conv blocks (the ``encoder``), a 1x1 classifier, bilinear upsampling to the input."""

    dense = True

    def __init__(self, in_channels: int, num_classes: int, width: int = 16):
        super().__init__()
        self.num_classes = num_classes
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 2 * width, 3, padding=2, dilation=2), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(2 * width, num_classes, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's feature map (half the input size)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.encoder(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def tiny_segnet(in_channels: int, resolution, num_classes: int) -> TinySegNet:
    return TinySegNet(in_channels, num_classes)
