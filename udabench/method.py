"""The method contract and the few helpers that several methods share (GRL, schedules, task model).

A method is an ``nn.Module`` that the runner builds with a :class:`MethodContext`, then drives phase
by phase: ``begin_phase`` once, ``update`` once per step with a :class:`Batch` holding only what the
phase may see, and ``predict`` for evaluation. It never parses arguments, opens files or writes
results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn


@dataclass(frozen=True)
class MethodContext:
    """Everything a method may know about the run it is part of."""

    num_classes: int
    in_channels: int
    resolution: int
    hparams: Mapping[str, Any]
    phase_steps: Mapping[str, int]
    make_backbone: Callable[[], nn.Module]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class Batch:
    """One training step's data. Fields the phase may not see are ``None``; target labels never exist."""

    source_x: torch.Tensor | None = None
    source_y: torch.Tensor | None = None
    target_x: torch.Tensor | None = None


class Method(nn.Module):
    """Base class of every method; subclasses implement the three calls below."""

    def __init__(self, context: MethodContext):
        super().__init__()
        self.context = context
        self.hparams = dict(context.hparams)

    def begin_phase(self, phase: str, steps: int) -> None:
        """Prepare for ``steps`` updates of ``phase`` (build optimisers, freeze parts)."""
        raise NotImplementedError

    def update(self, phase: str, step: int, batch: Batch) -> Mapping[str, torch.Tensor]:
        """One training step. Returns detached scalar tensors (losses, diagnostics) to log.

        Return tensors, not Python floats: a ``.item()`` per step forces a device sync.
        """
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of normalised images (called in eval mode, without grad)."""
        raise NotImplementedError

    def snapshot(self) -> Mapping[str, tuple[torch.Tensor, int]]:
        """Images worth looking at, as ``{name: (images, images_per_row)}`` in normalised space.

        GAN-style methods return generated or translated samples (one row per class for a
        conditional generator); the runner saves them as PNG grids a few times per phase and at the
        end. Called in eval mode without grad. The default has nothing to show.
        """
        return {}

    def load_source_weights(self, state: Mapping[str, torch.Tensor]) -> None:
        """Take a trained source model instead of running the first (source) phase.

        ``state`` is a stored run's checkpoint. The default loads its ``model.*`` entries (the
        :class:`TaskModel` of source-only, DANN and the other built-ins) into ``self.model``.
        """
        weights = {key[len("model."):]: value for key, value in state.items() if key.startswith("model.")}
        if not weights:
            raise KeyError("the checkpoint holds no 'model.*' weights")
        self.model.load_state_dict(weights)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coefficient):
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.coefficient * grad_output, None


def reverse_gradient(x: torch.Tensor, coefficient: float) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-coefficient`` backward (DANN's GRL)."""
    return _ReverseGradient.apply(x, coefficient)


def grl_coefficient(progress: float, gamma: float = 10.0) -> float:
    """DANN's adaptation factor 2 / (1 + exp(-gamma p)) - 1, rising from 0 to 1 over training."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def annealed_lr_factor(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN's learning-rate annealing 1 / (1 + alpha p)^beta, p in [0, 1]."""
    return (1.0 + alpha * progress) ** (-beta)


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
    """backbone -> bottleneck (linear, batch norm, ReLU) -> linear classifier head."""

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


def sgd(parameters, hparams: Mapping[str, Any]) -> torch.optim.SGD:
    """SGD with the ``lr``, ``momentum``, ``weight_decay`` and ``nesterov`` hyperparameters."""
    return torch.optim.SGD(parameters, lr=hparams["lr"], momentum=hparams["momentum"],
                           weight_decay=hparams["weight_decay"],
                           nesterov=bool(hparams["nesterov"]) and hparams["momentum"] > 0)


def schedule_lr(optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any], progress: float) -> None:
    """Apply the ``lr_schedule`` hyperparameter at training progress ``progress`` in [0, 1]."""
    if hparams["lr_schedule"] == "dann":
        set_lr(optimizer, annealed_lr_factor(progress))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Scale every group's initial learning rate by ``factor`` (keeps per-group multipliers)."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor
