"""Feature extractors; each returns an ``nn.Module`` with an ``out_features`` attribute."""

from __future__ import annotations

import torch
from torch import nn

from udabench.errors import UdabenchError


class ConvFeatures(nn.Module):
    """A convolutional stack followed by flattening; ``out_features`` is measured, not guessed."""

    def __init__(self, layers: nn.Sequential, in_channels: int, resolution: int):
        super().__init__()
        self.layers = layers
        with torch.no_grad():
            probe = torch.zeros(1, in_channels, resolution, resolution)
            try:
                self.out_features = int(self.layers(probe).flatten(1).shape[1])
            except RuntimeError as exc:
                raise UdabenchError(f"backbone cannot take {resolution}x{resolution} input: {exc}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(1)


def dann_digits(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 32, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )
    return ConvFeatures(layers, in_channels, resolution)


def dann_svhn(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(inplace=True),
    )
    return ConvFeatures(layers, in_channels, resolution)


def dann_signs(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 96, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(96, 144, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(144, 256, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )
    return ConvFeatures(layers, in_channels, resolution)


def lenet(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 20, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Conv2d(20, 50, 5), nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
    )
    return ConvFeatures(layers, in_channels, resolution)


def timm_model(in_channels: int, resolution: int, model: str) -> nn.Module:
    import timm

    if model not in timm.list_models():
        raise UdabenchError(f"timm has no model '{model}' (see timm.list_models())")
    network = timm.create_model(model, pretrained=False, num_classes=0, in_chans=in_channels)
    network.out_features = network.num_features
    return network
