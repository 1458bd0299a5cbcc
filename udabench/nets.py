"""Networks that methods share: the task model (backbone, bottleneck, head), small MLPs, and the map
from a generator's tanh output to the task's normalised space."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn


class TanhToTask(nn.Module):
    """Maps a generator's tanh output in [-1, 1] (pixel values 0..1 as 2v - 1) to the task's
    normalised space, ``(v - mean) / std`` per channel. Under mean = std = 0.5 (every digit and sign
    task) the two spaces coincide and the map is the identity, computed as such."""

    def __init__(self, mean, std, channels: int):
        super().__init__()
        mean = tuple(mean) if len(mean) == channels else tuple(mean[:1]) * channels
        std = tuple(std) if len(std) == channels else tuple(std[:1]) * channels
        self.identity = all(m == 0.5 for m in mean) and all(s == 0.5 for s in std)
        scale = torch.tensor([0.5 / s for s in std]).view(1, -1, 1, 1)
        shift = torch.tensor([(0.5 - m) / s for m, s in zip(mean, std)]).view(1, -1, 1, 1)
        self.register_buffer("scale", scale, persistent=False)  # not in checkpoints: set by the task
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.identity else x * self.scale + self.shift


def tanh_to_task(context) -> TanhToTask:
    """The output map a generator of images for ``context``'s task (a :class:`udabench.method.MethodContext`)
    ends with, after its tanh."""
    return TanhToTask(context.mean, context.std, context.in_channels)


def mlp(sizes: list[int], batch_norm: bool = True, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with (optional) batch norm, ReLU and dropout between them; the last is bare."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(fan_out))
            layers.append(nn.ReLU(inplace=True))
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class TaskModel(nn.Module):
    """backbone -> bottleneck (linear, batch norm unless ``batch_norm`` is false, ReLU) -> linear classifier head."""

    def __init__(self, backbone: nn.Module, num_classes: int, bottleneck_dim: int, dropout: float = 0.0,
                 batch_norm: bool = True):
        super().__init__()
        self.backbone = backbone
        layers: list[nn.Module] = [nn.Linear(backbone.out_features, bottleneck_dim)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(bottleneck_dim))
        layers.append(nn.ReLU(inplace=True))
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.bottleneck = nn.Sequential(*layers)
        self.head = nn.Linear(bottleneck_dim, num_classes)
        self.out_features = bottleneck_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


_BACKBONE_MARK = "_udabench_backbone"


def mark_backbone(module: nn.Module) -> nn.Module:
    """Mark every parameter of ``module`` as a backbone parameter (see :func:`lr_groups`).

    The runner marks each module that ``context.make_backbone()`` returns; ``copy.deepcopy`` of a
    module does not carry the mark, so mark such a copy again if its learning rate should follow
    ``backbone_lr_mult``.
    """
    for parameter in module.parameters():
        setattr(parameter, _BACKBONE_MARK, True)
    return module


def is_backbone_parameter(parameter: torch.Tensor) -> bool:
    return bool(getattr(parameter, _BACKBONE_MARK, False))


def task_model(context, hparams: Mapping[str, Any]) -> nn.Module:
    """The network a method trains and predicts with: for classification a :class:`TaskModel`
    (backbone, bottleneck from ``bottleneck_dim``/``dropout``/``bottleneck_bn``, head); for
    segmentation the segmentation network ``context.make_backbone()`` builds, which has its own head."""
    if context.dense:
        return context.make_backbone()
    return TaskModel(context.make_backbone(), context.num_classes, hparams["bottleneck_dim"],
                     hparams.get("dropout", 0.0), batch_norm=hparams.get("bottleneck_bn", True))


