"""The method contract and the helpers that several methods share (GRL, schedules, task model, VAT).

A method is an ``nn.Module`` that the runner builds with a :class:`MethodContext`, then drives phase
by phase: ``begin_phase`` once, ``update`` once per step with a :class:`Batch` holding only what the
phase may see, and ``predict`` for evaluation. It never parses arguments, opens files or writes
results.
"""

from __future__ import annotations

import contextlib
import abc
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from udabench.specs import IGNORE_LABEL


@dataclass(frozen=True)
class MethodContext:
    """Everything a method may know about the run it is part of."""

    num_classes: int
    in_channels: int
    resolution: int | tuple[int, int]  # one side, or (height, width) for a segmentation task
    hparams: Mapping[str, Any]
    phase_steps: Mapping[str, int]
    make_backbone: Callable[[], nn.Module]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    # The task's normalisation, one value per channel: images reach a method as (x / 255 - mean) / std.
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    # "classification": labels (N,), predict gives (N, K) logits; "segmentation": label maps (N, H, W)
    # with IGNORE_LABEL pixels, predict gives (N, K, H, W) logits, and make_backbone() builds the
    # whole segmentation network (its logits at the input size).
    kind: str = "classification"

    @property
    def dense(self) -> bool:
        return self.kind == "segmentation"


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


def tanh_to_task(context: "MethodContext") -> TanhToTask:
    """The output map a generator of images for ``context``'s task ends with (after its tanh)."""
    return TanhToTask(context.mean, context.std, context.in_channels)


@dataclass
class Batch:
    """One training step's data. Fields the phase may not see are ``None``; target labels never exist."""

    source_x: torch.Tensor | None = None
    source_y: torch.Tensor | None = None
    target_x: torch.Tensor | None = None


class Method(nn.Module, abc.ABC):
    """Base class of every method; subclasses implement the three abstract calls below."""

    def __init__(self, context: MethodContext):
        super().__init__()
        self.context = context
        self.hparams = dict(context.hparams)

    @abc.abstractmethod
    def begin_phase(self, phase: str, steps: int) -> None:
        """Prepare for ``steps`` updates of ``phase`` (build optimisers, freeze parts)."""

    @abc.abstractmethod
    def update(self, phase: str, step: int, batch: Batch) -> Mapping[str, torch.Tensor]:
        """One training step. Returns detached scalar tensors (losses, diagnostics) to log.

        Return tensors, not Python floats: a ``.item()`` per step forces a device sync.
        """

    @abc.abstractmethod
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of normalised images (called in eval mode, without grad)."""

    def snapshot(self) -> Mapping[str, tuple[torch.Tensor, int]]:
        """Images worth looking at, as ``{name: (images, images_per_row)}`` in normalised space.

        GAN-style methods return generated or translated samples (one row per class for a
        conditional generator); the runner saves them as PNG grids a few times per phase and at the
        end. Called in eval mode without grad. The default has nothing to show.
        """
        return {}

    def translate(self, x: torch.Tensor) -> torch.Tensor | None:
        """Source images translated to the target's style (normalised space), for methods that
        translate; ``None`` otherwise. Segmentation pictures show it beside the source image."""
        return None

    def load_generator_weights(self, state: Mapping[str, torch.Tensor]) -> None:
        """Take the generator of another stored run (``--set generator_from=RUN``): ``state`` is its
        checkpoint. Methods that transplant a generator override this."""
        raise KeyError(f"{type(self).__name__} takes no generator from another run")

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


def task_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of class logits, ``(N, K)`` against ``(N,)`` or ``(N, K, H, W)`` against label maps
    ``(N, H, W)``; pixels labelled ``IGNORE_LABEL`` count for nothing."""
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_LABEL)


def task_model(context: MethodContext, hparams: Mapping[str, Any]) -> nn.Module:
    """The network a method trains and predicts with: for classification a :class:`TaskModel`
    (backbone, bottleneck from ``bottleneck_dim``/``dropout``/``bottleneck_bn``, head); for
    segmentation the segmentation network ``context.make_backbone()`` builds, which has its own head."""
    if context.dense:
        return context.make_backbone()
    return TaskModel(context.make_backbone(), context.num_classes, hparams["bottleneck_dim"],
                     hparams.get("dropout", 0.0), batch_norm=hparams.get("bottleneck_bn", True))


def source_step(model: nn.Module, optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any],
                progress: float, batch: Batch) -> dict[str, torch.Tensor]:
    """One step of the shared recipe on a labelled source batch: the source phase of most methods."""
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
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        for layer in self.layers:
            layer.train()
        try:
            with torch.no_grad():
                return self.model(images)
        finally:
            for module, mode in modes:
                module.training = mode

    def finish(self) -> None:
        for layer, momentum in zip(self.layers, self.momenta):
            layer.momentum = momentum
        self.active = False


@contextlib.contextmanager
def probing(model: nn.Module):
    """Dropout off and batch-norm running statistics untouched (batch statistics still used)."""
    dropouts = [m for m in model.modules() if is_dropout(m) and m.training]
    for m in dropouts:
        m.eval()
    try:
        with running_stats_untouched(model):
            yield
    finally:
        for m in dropouts:
            m.train()


def mean_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy (nats) of the softmax of each row of ``logits``."""
    log_probabilities = F.log_softmax(logits, dim=1)
    return -(log_probabilities.exp() * log_probabilities).sum(dim=1).mean()


def kl_from_logits(clean_logits: torch.Tensor, perturbed_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(clean) || softmax(perturbed))."""
    log_p = F.log_softmax(clean_logits, dim=1)
    log_q = F.log_softmax(perturbed_logits, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


def unit_per_sample(direction: torch.Tensor) -> torch.Tensor:
    """Each sample of ``direction`` scaled to Euclidean norm 1 over all its elements (zero stays zero)."""
    flat = direction.flatten(1)
    flat = flat / (flat.abs().amax(dim=1, keepdim=True) + 1e-12)  # keeps the squares away from underflow
    flat = flat / (flat.norm(dim=1, keepdim=True) + 1e-12)
    return flat.view_as(direction)


def virtual_adversarial_perturbation(logits_of, x: torch.Tensor, clean_logits: torch.Tensor, xi: float,
                                     epsilon: float) -> torch.Tensor:
    """VAT's r: one power-iteration step from a random probe of norm ``xi``, rescaled to norm ``epsilon``.

    ``logits_of(x)`` gives the classifier's logits; ``clean_logits`` are its (constant) logits on
    ``x``. The result is detached and has norm ``epsilon`` per sample; a sample whose gradient
    vanishes keeps its random direction.
    """
    random_direction = unit_per_sample(torch.randn_like(x))
    probe = (xi * random_direction).requires_grad_(True)
    divergence = kl_from_logits(clean_logits.detach(), logits_of(x.detach() + probe))
    gradient, = torch.autograd.grad(divergence, probe)
    direction = unit_per_sample(gradient.detach())
    vanished = gradient.flatten(1).abs().amax(dim=1) == 0
    if vanished.any():
        direction = torch.where(vanished.view(-1, *[1] * (x.dim() - 1)), random_direction, direction)
    return epsilon * direction


def vat_loss(model: nn.Module, x: torch.Tensor, *, xi: float, epsilon: float,
             clean_logits: torch.Tensor | None = None) -> torch.Tensor:
    """KL(model(x) || model(x + r)), r of norm ``epsilon`` per sample in the most sensitive direction.

    r comes from :func:`virtual_adversarial_perturbation`. The clean prediction is a constant:
    ``clean_logits`` when given (e.g. from a training pass that already ran), else ``model(x)``
    without gradient. Inside, dropout is off and batch norm leaves its running statistics as they
    were (:func:`probing`); parameters get gradient only from the returned loss.
    """
    with probing(model):
        if clean_logits is None:
            with torch.no_grad():
                clean_logits = model(x)
        clean = clean_logits.detach()
        perturbation = virtual_adversarial_perturbation(model, x, clean, xi, epsilon)
        return kl_from_logits(clean, model(x + perturbation))
