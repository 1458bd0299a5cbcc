"""Hyperparameters: their one-line declarations, the shared sets, ``--set name=value`` parsing and
checking (no torch here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from udabench.errors import UdabenchError, unknown_name_error


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: its default, its help, and the values it may take.

    ``help`` says what the knob does, in which unit, and where the default comes from (the paper,
    the official code, or udabench's choice). A number is never negative unless ``low`` says
    otherwise (``low=None``: no minimum) and is always finite; ``positive`` excludes 0 as well;
    ``high`` is an inclusive maximum (``high=1``: a fraction), ``below`` an exclusive one
    (``below=1``: a probability or an averaging rate, where 1 has no meaning). ``choices``
    enumerates the values of a string.

        "dropout": HParam(0.5, "dropout probability after the bottleneck (udabench's choice)", below=1),
    """

    default: Any
    help: str
    low: float | None = 0
    high: float | None = None
    below: float | None = None
    positive: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` is not a value of this hyperparameter (a sentence naming it), or ``None``."""
        if self.choices and value not in self.choices:
            return f"{name} must be one of {', '.join(self.choices)}, not '{value}'"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if not math.isfinite(value):
            return f"hyperparameter '{name}' must be a finite number (got {value})"
        if self.positive and value <= 0:
            return f"hyperparameter '{name}' must be positive (got {value})"
        if self.low is not None and value < self.low:
            return (f"hyperparameter '{name}' must not be negative (got {value})" if self.low == 0
                    else f"hyperparameter '{name}' must be at least {self.low} (got {value})")
        if self.below is not None and value >= self.below:
            return f"hyperparameter '{name}' must be below {self.below} (got {value})"
        if self.high is not None and value > self.high:
            return f"hyperparameter '{name}' must be at most {self.high} (got {value})"
        return None


def defaults_of(declared: Mapping[str, HParam]) -> dict[str, Any]:
    """Name -> default of a set of declarations."""
    return {name: hparam.default for name, hparam in declared.items()}


LR_SCHEDULES = ("dann", "constant", "poly")
# The task-model recipe several methods share: SGD with DANN's annealing, a bottleneck (batch-normed
# unless ``bottleneck_bn`` is off) before the linear head. Methods copy these and add their own.
# Tasks set ``backbone_lr_mult`` and ``weights`` through their protocol hyperparameters (Office-31:
# 0.1 and ImageNet weights).
TASK_MODEL_HPARAMS: dict[str, HParam] = {
    "lr": HParam(0.01, "initial SGD learning rate (DANN's recipe, Ganin & Lempitsky, ICML 2015)"),
    "momentum": HParam(0.9, "SGD momentum (DANN's recipe)", below=1),
    "weight_decay": HParam(1e-3, "SGD weight decay (udabench's choice)"),
    "nesterov": HParam(True, "Nesterov momentum (udabench's choice)"),
    "lr_schedule": HParam("dann", "'dann': lr / (1 + 10 p)^0.75 over progress p (DANN's annealing); 'poly': "
                                  "lr (1 - p)^0.9 (DeepLab's, the segmentation tasks' protocol); 'constant'",
                          choices=LR_SCHEDULES),
    "bottleneck_dim": HParam(256, "width of the bottleneck between backbone and head (udabench's choice)",
                             positive=True),
    "bottleneck_bn": HParam(True, "batch norm in the bottleneck (udabench's choice; false: no batch statistics "
                                  "for a model to carry from source to target; a --source-run must have been "
                                  "trained with the same value)"),
    "dropout": HParam(0.5, "dropout probability after the bottleneck (udabench's choice)", below=1),
    "backbone_lr_mult": HParam(1.0, "learning-rate multiplier of the backbone's parameters (e.g. 0.1 to "
                                    "fine-tune a pretrained backbone; the tasks' protocols set it)"),
    "weights": HParam("none", "backbone initialisation: 'none' (random), 'pretrained' (the backbone's "
                              "published weights, e.g. timm's from the Hugging Face Hub), 'pretrained:TAG' "
                              "(e.g. pretrained:tv_in1k) or the path of a state dict file"),
}
# Hyperparameters added after runs were first stored, with the value that reproduces the behaviour
# from before they existed. At that value a hyperparameter stays out of the run key, so a stored run
# keeps its key (and a sweep still finds it) when a later release adds a knob. ``bottleneck_bn`` was
# source-only's own knob before every method took it: source-only runs stored at its default (true)
# have it in their key, so they get a new key, and so do the runs a sweep trained from them as its
# shared source model (their key holds the source run's). No other stored run changes key.
KEY_NEUTRAL: dict[str, Any] = {"backbone_lr_mult": 1.0, "weights": "none", "bottleneck_bn": True}
# The image translator and PatchGAN of ``udabench.translation`` (CyCADA, SUIT): sizes smaller than
# CycleGAN's so that a run fits a CPU, and CycleGAN's Adam settings.
CYCLEGAN = "CycleGAN's official code"
TRANSLATOR_HPARAMS: dict[str, HParam] = {
    "generator_width": HParam(16, f"channels of the generator's first layer, doubled at each downsampling "
                                  f"({CYCLEGAN}: 64; smaller here for the CPU)", positive=True),
    "generator_blocks": HParam(3, f"residual blocks of the generator at its lowest resolution ({CYCLEGAN}: 9; "
                                  f"fewer here for the CPU)"),
    "generator_downsamplings": HParam(2, f"stride-2 convolutions before the residual blocks, undone by "
                                         f"transposed convolutions after them ({CYCLEGAN}: 2)"),
    "discriminator_width": HParam(32, f"channels of the PatchGAN discriminator's first layer ({CYCLEGAN}: 64; "
                                      f"smaller here for the CPU)", positive=True),
    "discriminator_layers": HParam(3, f"stride-2 layers of the PatchGAN discriminator ({CYCLEGAN}: 3; fewer "
                                      f"where the images are too small for them)"),
    "translate_lr": HParam(2e-4, f"Adam learning rate of translator and discriminator, constant ({CYCLEGAN})"),
    "adam_beta1": HParam(0.5, f"Adam beta1 of translator and discriminator ({CYCLEGAN})", below=1),
}
# The step count of ``udabench.specs.SOURCE_PHASE``, shared by the methods that start with it.
SOURCE_PHASE_HPARAMS: dict[str, HParam] = {
    "source_steps": HParam(3000, "steps of the source phase, the task model on labelled source with the SGD "
                                 "recipe (udabench's choice: source-only's default --steps; --source-run "
                                 "takes a stored run's model instead)"),
}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def coerce(name: str, text: str, default: Any) -> Any:
    """Read ``text`` as a value of the same type as ``default``."""
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = type(default).__name__
        raise UdabenchError(f"hyperparameter '{name}' takes a {kind}, not '{text}'") from None
    return text


def parse_assignments(assignments: Iterable[str] | None, flag: str = "--set") -> dict[str, str]:
    """``["lr=0.1", ...]`` -> ``{"lr": "0.1"}``, rejecting anything without a name and a value."""
    parsed: dict[str, str] = {}
    for item in assignments or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UdabenchError(f"{flag} expects NAME=VALUE, got '{item}'")
        parsed[name.strip()] = value.strip()
    return parsed


def resolve(method: str, defaults: Mapping[str, Any], overrides: Mapping[str, str],
            declared: Mapping[str, HParam]) -> dict[str, Any]:
    """Defaults with overrides applied, each value checked against its declaration in ``declared``
    (the method's ``hparam_specs``); unknown names are an error."""
    values = dict(defaults)
    for name, text in overrides.items():
        if name not in defaults:
            raise unknown_name_error(f"hyperparameter of method '{method}'", name, defaults)
        values[name] = coerce(name, text, defaults[name])
    for name, value in values.items():
        problem = declared[name].problem(name, value)
        if problem:
            raise UdabenchError(problem)
    return values
