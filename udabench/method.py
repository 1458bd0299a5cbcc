"""The method contract: what the runner hands a method (:class:`MethodContext`, :class:`Batch`) and the
base class every method derives from (:class:`Method`).

The helpers methods share live beside it: networks in :mod:`udabench.nets`, optimisers and schedules
in :mod:`udabench.optim`, losses in :mod:`udabench.losses`, frozen parts and batch-norm statistics in
:mod:`udabench.modes`; plugins reach all of them through :mod:`udabench.api`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from udabench.errors import UdabenchError
from udabench.optim import sgd, source_step


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


@dataclass
class Batch:
    """One training step's data. Fields the phase may not see are ``None``; target labels never exist."""

    source_x: torch.Tensor | None = None
    source_y: torch.Tensor | None = None
    target_x: torch.Tensor | None = None


class Method(nn.Module, abc.ABC):
    """Base class of every method: it knows the phase it is in, that phase's length and its progress.

    For each phase ``P`` its spec declares, a method writes ``update_P(self, batch)``, one training
    step returning detached scalar tensors to log (losses, diagnostics; tensors, not Python floats,
    since a ``.item()`` per step forces a device sync), and, where the phase needs preparing (its
    optimisers, what it freezes), ``begin_P(self)``. While a phase runs, ``self.phase`` names it,
    ``self.phase_steps`` is its number of steps, ``self.step`` the index of the current step and
    ``self.progress`` their ratio in [0, 1). The usual first phase, ``source``
    (``udabench.api.SOURCE_PHASE``), is written here: ``self.model`` trained on labelled source with
    the shared SGD recipe, the model ``--source-run`` replaces (:meth:`load_source_weights`). Parts that must stay in eval mode (running statistics,
    no dropout) whatever mode the runner sets are named with :meth:`keep_in_eval`. A method also
    implements ``predict``.

    The runner drives a method through ``begin_phase(phase, steps)`` and ``update(phase, step,
    batch)``, which dispatch to the methods above. A step is *static* when every call runs the same
    tensor operations on tensors of the same shapes (no branch on a tensor's value, no ``.item()``, no
    Python number that changes per step inside it); such a method writes the changing values into
    0-dim tensors it owns in ``update_P`` and returns ``self.static_update(batch)``, which the runner
    may compile whole (``--capture``; :func:`udabench.optim.tensor_lr` keeps learning rates as
    tensors for it).
    """

    def __init__(self, context: MethodContext):
        super().__init__()
        self.context = context
        self.hparams = dict(context.hparams)
        self.phase: str | None = None
        self.phase_steps = 0
        self.step = 0
        self._eval_always: list[nn.Module] = []
        self._eval_in_phase: list[nn.Module] = []

    @property
    def progress(self) -> float:
        """How far the current phase is, ``step / phase_steps``, from 0 at its first step."""
        return self.step / self.phase_steps

    def begin_phase(self, phase: str, steps: int) -> None:
        """Enter ``phase`` for ``steps`` updates: the runner's call, which runs ``begin_<phase>()``."""
        if not callable(getattr(self, f"update_{phase}", None)):
            raise UdabenchError(f"{type(self).__name__} has no phase '{phase}': it defines no update_{phase}(batch)")
        self.phase, self.phase_steps, self.step = phase, steps, 0
        self._eval_in_phase = []
        begin = getattr(self, f"begin_{phase}", None)
        if begin is not None:
            begin()
        self.train(self.training)

    def update(self, phase: str, step: int, batch: Batch) -> Mapping[str, torch.Tensor]:
        """One training step of ``phase`` (the runner's call), which runs ``update_<phase>(batch)``."""
        self.step = step
        return getattr(self, f"update_{phase}")(batch)

    def begin_source(self) -> None:
        self.optimizer = sgd(self.model.parameters(), self.hparams)

    def update_source(self, batch: Batch) -> Mapping[str, torch.Tensor]:
        return source_step(self.model, self.optimizer, self.hparams, self.progress, batch)

    def keep_in_eval(self, *modules: nn.Module, always: bool = False) -> None:
        """Keep ``modules`` in eval mode (running statistics, no dropout) until the phase ends, or for
        the rest of the run with ``always``, whatever ``train()`` is asked of the method."""
        (self._eval_always if always else self._eval_in_phase).extend(modules)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            for module in self._eval_always + self._eval_in_phase:
                module.eval()
        return self

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
