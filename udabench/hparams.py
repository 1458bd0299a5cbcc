"""Hyperparameters: shared defaults, ``--set name=value`` parsing and checking (no torch here)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from udabench.errors import UdabenchError, unknown_name_error

# The task-model recipe several methods share: SGD with DANN's annealing, a bottleneck (batch-normed
# unless ``bottleneck_bn`` is off) before the linear head. Methods copy these and add their own.
# ``backbone_lr_mult`` scales the learning rate of the backbone's parameters in the shared ``sgd``
# helper; ``weights`` says how the backbone starts (``udabench.weights``). Tasks set both through
# their protocol hyperparameters (Office-31: 0.1 and ImageNet weights).
TASK_MODEL_HPARAMS: dict[str, Any] = {
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 1e-3,
    "nesterov": True,
    "lr_schedule": "dann",
    "bottleneck_dim": 256,
    "bottleneck_bn": True,
    "dropout": 0.5,
    "backbone_lr_mult": 1.0,
    "weights": "none",
}
TASK_MODEL_HELP: dict[str, str] = {
    "lr": "initial SGD learning rate",
    "momentum": "SGD momentum",
    "weight_decay": "SGD weight decay",
    "nesterov": "Nesterov momentum",
    "lr_schedule": "'dann': lr / (1 + 10 p)^0.75 over progress p; 'poly': lr (1 - p)^0.9 (DeepLab's, "
                   "the segmentation tasks' protocol); 'constant'",
    "bottleneck_dim": "width of the bottleneck between backbone and head",
    "bottleneck_bn": "batch norm in the bottleneck (false: no batch statistics for a model to carry from "
                     "source to target; a --source-run must have been trained with the same value)",
    "dropout": "dropout after the bottleneck",
    "backbone_lr_mult": "learning-rate multiplier of the backbone's parameters (e.g. 0.1 to fine-tune "
                        "a pretrained backbone)",
    "weights": "backbone initialisation: 'none' (random), 'pretrained' (the backbone's published weights, "
               "e.g. timm's from the Hugging Face Hub), 'pretrained:TAG' (e.g. pretrained:tv_in1k) or the "
               "path of a state dict file",
}
LR_SCHEDULES = ("dann", "constant", "poly")
# Hyperparameters added after runs were first stored, with the value that reproduces the behaviour
# from before they existed. At that value a hyperparameter stays out of the run key, so a stored run
# keeps its key (and a sweep still finds it) when a later release adds a knob. ``bottleneck_bn`` was
# source-only's own knob before every method took it: source-only runs stored at its default (true)
# have it in their key, so they get a new key, and so do the runs a sweep trained from them as its
# shared source model (their key holds the source run's). No other stored run changes key.
KEY_NEUTRAL: dict[str, Any] = {"backbone_lr_mult": 1.0, "weights": "none", "bottleneck_bn": True}
# The image translator and PatchGAN of ``udabench.translation`` (CyCADA, SUIT): sizes smaller than
# CycleGAN's (64 wide, 9 blocks) so that a run fits a CPU, and CycleGAN's Adam settings.
TRANSLATOR_HPARAMS: dict[str, Any] = {
    "generator_width": 16,
    "generator_blocks": 3,
    "generator_downsamplings": 2,
    "discriminator_width": 32,
    "discriminator_layers": 3,
    "translate_lr": 2e-4,
    "adam_beta1": 0.5,
}
# The step count of ``udabench.specs.SOURCE_PHASE``; methods describe it in their own help text.
SOURCE_PHASE_HPARAMS: dict[str, Any] = {"source_steps": 3000}

# Shared names whose values are probabilities or averaging rates: 1 or more has no meaning (dropout 1
# zeroes every feature; momentum 1 never forgets) and a fraction of a phase cannot exceed it.
BELOW_ONE = frozenset({"dropout", "momentum", "adam_beta1"})
AT_MOST_ONE = frozenset({"classifier_warmup"})

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


def resolve(method: str, defaults: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Defaults with overrides applied and checked; unknown names are an error."""
    values = dict(defaults)
    for name, text in overrides.items():
        if name not in defaults:
            raise unknown_name_error(f"hyperparameter of method '{method}'", name, defaults)
        values[name] = coerce(name, text, defaults[name])
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise UdabenchError(f"hyperparameter '{name}' must be a finite number (got {value})")
            if value < 0:
                raise UdabenchError(f"hyperparameter '{name}' must not be negative (got {value})")
            if name in BELOW_ONE and value >= 1:
                raise UdabenchError(f"hyperparameter '{name}' must be below 1 (got {value})")
            if name in AT_MOST_ONE and value > 1:
                raise UdabenchError(f"hyperparameter '{name}' is a fraction, at most 1 (got {value})")
    if "lr_schedule" in values and values["lr_schedule"] not in LR_SCHEDULES:
        raise UdabenchError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, not '{values['lr_schedule']}'")
    return values
