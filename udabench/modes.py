"""What the parts of a network do during a step: frozen weights, dropout off, and which batch-norm
statistics they normalise with (running, each batch's own, or re-estimated on the target)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def is_dropout(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.dropout._DropoutNd)


def is_batch_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """No gradient into ``modules``' parameters inside the block (gradients still flow through them)."""
    flags = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def freeze(*modules: nn.Module) -> None:
    """Fix ``modules``' weights from here on: no gradient into them, and none left over from before."""
    for module in modules:
        module.requires_grad_(False)
        module.zero_grad(set_to_none=True)


@contextlib.contextmanager
def running_stats_untouched(module: nn.Module):
    """Batch norm inside the block normalises as before but does not update its running statistics."""
    layers = [m for m in module.modules() if is_batch_norm(m) and m.track_running_stats]
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer in layers:
            layer.track_running_stats = True


@contextlib.contextmanager
def modes_kept(module: nn.Module):
    """Every submodule of ``module`` leaves the block in the mode it entered it."""
    modes = [(child, child.training) for child in module.modules()]
    try:
        yield module
    finally:
        for child, mode in modes:  # parents come before their children: each ends as it was
            child.training = mode


@contextlib.contextmanager
def batch_statistics(module: nn.Module):
    """``module`` in training mode inside the block, batch norm on each batch's own statistics, its
    running statistics untouched: a generator's samples as it made them while training, or a batch
    of one domain normalised by itself and not by the other's."""
    with modes_kept(module):
        module.train()
        with running_stats_untouched(module):
            yield module


@contextlib.contextmanager
def fixed(model: nn.Module, own_batch_statistics: bool = False):
    """``model`` as a fixed labeller inside the block: no gradient into its weights (gradients still
    reach its input), dropout off, batch norm on its running statistics, or with
    ``own_batch_statistics`` on each batch's own statistics (its running ones untouched)."""
    # In eval mode batch norm reads its running statistics and never updates them, so leaving them
    # untouched only matters with own_batch_statistics; one path serves both.
    with modes_kept(model), running_stats_untouched(model), frozen(model):
        model.eval()
        if own_batch_statistics:
            for module in model.modules():
                if is_batch_norm(module):
                    module.train()
        yield model


class TargetStatistics:
    """Re-estimates a network's batch-norm statistics on unlabelled target images (AdaBN: Li et al.,
    "Revisiting Batch Normalization For Practical Domain Adaptation", ICLR 2017 workshop).

    ``restart()`` empties every batch-norm layer's running mean and variance and switches it to a
    cumulative average; each ``observe(images)`` then forwards a batch without gradient, batch norm in
    training mode and dropout off, so the running statistics become the average over every target
    batch seen; no weight changes. ``finish()`` gives the layers back their exponential momentum, for
    training that follows. Methods that label with a source model (3C-GAN, Label2Image) use it so the
    labeller sees target features normalised by target statistics, not the source's.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.layers = [m for m in model.modules() if is_batch_norm(m) and m.track_running_stats]
        self.momenta = [layer.momentum for layer in self.layers]
        self.active = False

    def restart(self) -> None:
        for layer in self.layers:
            layer.reset_running_stats()
            layer.momentum = None
        self.active = True

    def observe(self, images: torch.Tensor) -> torch.Tensor:
        """Adds a batch to the statistics; returns the network's output on it (batch statistics)."""
        with modes_kept(self.model), torch.no_grad():
            self.model.eval()
            for layer in self.layers:
                layer.train()
            return self.model(images)

    def finish(self) -> None:
        for layer, momentum in zip(self.layers, self.momenta):
            layer.momentum = momentum
        self.active = False


@contextlib.contextmanager
def probing(model: nn.Module):
    """Dropout off and batch-norm running statistics untouched (batch statistics still used)."""
    with modes_kept(model), running_stats_untouched(model):
        for module in model.modules():
            if is_dropout(module):
                module.eval()
        yield


