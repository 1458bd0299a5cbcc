"""What a method provides so that the runner can capture its training step whole.

A step is *static* when every call runs the same tensor operations on tensors of the same shapes:
no Python branch on a tensor's value, no ``.item()``, and no Python number that changes from step to
step inside the step. A method with such a step splits ``update`` in two:

* ``update(phase, step, batch)`` computes what changes with the step in Python (schedules) and writes
  it in place into 0-dim tensors it owns, then returns ``self.static_update(batch)``;
* ``static_update(batch)`` is the static part: forward, backward, optimiser step, the logged values.

With ``--capture`` on (``auto`` turns it on for CUDA), the runner replaces ``static_update`` with a
``torch.compile`` of it (``mode="reduce-overhead"`` on CUDA, which replays the step as a CUDA graph)
and falls back to eager execution if compiling fails (:mod:`udabench.runner.capture`). A method
without ``static_update`` always runs eagerly.

A learning rate that a schedule changes every step is a Python float in the optimiser's parameter
groups, and a compiled step would be recompiled for each new value. :func:`tensor_lr` makes each
group's rate a 0-dim tensor once, and :func:`schedule_tensor_lr` updates it in place with the values
:func:`udabench.method.schedule_lr` computes. SGD and Adam accept tensor learning rates (in eager
mode too, so a method behaves the same with capture off).

Importing this module imports torch.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from udabench.method import schedule_lr


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
    """:func:`~udabench.method.schedule_lr` for an optimiser prepared by :func:`tensor_lr`: the same
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
