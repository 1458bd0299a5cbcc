"""Optimisers and learning-rate schedules that methods share: the SGD recipe with DANN's annealing,
backbone learning-rate groups, one source step, and rates kept as tensors for a captured step."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from udabench.losses import task_loss
from udabench.nets import is_backbone_parameter


def annealed_lr_factor(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN's learning-rate annealing 1 / (1 + alpha p)^beta, p in [0, 1]."""
    return (1.0 + alpha * progress) ** (-beta)


def lr_groups(parameters, lr: float, hparams: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Optimiser parameter groups at learning rate ``lr``, backbone parameters at ``lr * backbone_lr_mult``.

    ``parameters`` is a module or an iterable of parameters (or of modules); a parameter counts as
    the backbone's when it belongs to a module built by ``context.make_backbone()``. Without a
    ``backbone_lr_mult`` hyperparameter, or when it is 1, there is one group.
    """
    if isinstance(parameters, nn.Module):
        parameters = parameters.parameters()
    flat: list[torch.Tensor] = []
    for item in parameters:
        flat.extend(item.parameters() if isinstance(item, nn.Module) else [item])
    unique = list({id(p): p for p in flat}.values())
    multiplier = float(hparams.get("backbone_lr_mult", 1.0))
    if multiplier == 1.0:
        return [{"params": unique, "lr": lr}]
    backbone = [p for p in unique if is_backbone_parameter(p)]
    rest = [p for p in unique if not is_backbone_parameter(p)]
    groups = [{"params": rest, "lr": lr}] if rest else []
    if backbone:
        groups.append({"params": backbone, "lr": lr * multiplier})
    return groups


def sgd(parameters, hparams: Mapping[str, Any]) -> torch.optim.SGD:
    """SGD with the ``lr``, ``momentum``, ``weight_decay`` and ``nesterov`` hyperparameters.

    ``parameters`` is a module or an iterable of parameters; backbone parameters (those of modules
    built by ``context.make_backbone()``) train at ``lr * backbone_lr_mult`` where the method has
    that hyperparameter (:func:`lr_groups`). :func:`set_lr` and :func:`schedule_lr` keep the ratio.
    """
    return torch.optim.SGD(lr_groups(parameters, hparams["lr"], hparams), lr=hparams["lr"],
                           momentum=hparams["momentum"], weight_decay=hparams["weight_decay"],
                           nesterov=bool(hparams["nesterov"]) and hparams["momentum"] > 0)


def schedule_lr(optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any], progress: float) -> None:
    """Apply the ``lr_schedule`` hyperparameter at training progress ``progress`` in [0, 1]."""
    if hparams["lr_schedule"] == "dann":
        set_lr(optimizer, annealed_lr_factor(progress))
    elif hparams["lr_schedule"] == "poly":
        set_lr(optimizer, (1.0 - progress) ** 0.9)


def source_step(model: nn.Module, optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any],
                progress: float, batch) -> dict[str, torch.Tensor]:
    """One step of the shared recipe on a labelled source ``batch`` (a :class:`udabench.method.Batch`):
    the source phase of most methods."""
    schedule_lr(optimizer, hparams, progress)
    loss = task_loss(model(batch.source_x), batch.source_y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"class_loss": loss.detach()}


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Scale every group's initial learning rate by ``factor`` (keeps per-group multipliers)."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor



def tensor_lr(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Make each parameter group's learning rate a 0-dim float32 tensor on its parameters' device,
    keeping the float it started from as ``initial_lr``; returns the optimiser."""
    for group in optimizer.param_groups:
        rate = group["lr"]
        if isinstance(rate, torch.Tensor):
            continue
        group.setdefault("initial_lr", float(rate))
        device = group["params"][0].device if group["params"] else torch.device("cpu")
        group["lr"] = torch.tensor(float(rate), dtype=torch.float32, device=device)
    return optimizer


def schedule_tensor_lr(optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any], progress: float) -> None:
    """:func:`schedule_lr` for an optimiser prepared by :func:`tensor_lr`: the same
    rates, written in place into the groups' rate tensors (which stay the same objects)."""
    rates = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"])  # schedule_lr works on floats
    try:
        schedule_lr(optimizer, hparams, progress)
        for group, rate in zip(optimizer.param_groups, rates):
            if isinstance(rate, torch.Tensor):
                rate.fill_(float(group["lr"]))
    finally:
        for group, rate in zip(optimizer.param_groups, rates):
            group["lr"] = rate
