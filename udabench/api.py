"""The public namespace for plugin authors: everything a dataset, backbone, metric or method plugin uses.

Plugins import from here alone (``from udabench.api import MethodSpec, Method, sgd``); the modules
behind these names may move between releases, these names stay. Importing this module does not
import torch: the specs, hook markers and shared hyperparameters are plain Python, and the torch code
(the method contract and its helpers) is imported on first use of one of its names, so a
``plugin.py`` that only registers specs keeps ``udabench list`` fast.
"""

from __future__ import annotations

import importlib

from udabench.errors import UdabenchError
from udabench.hookspecs import hookimpl
from udabench.hparams import SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, TRANSLATOR_HPARAMS, HParam
from udabench.specs import (
    IGNORE_LABEL,
    SOURCE_PHASE,
    UNPINNED,
    BackboneSpec,
    DatasetSpec,
    MethodSpec,
    MetricSpec,
    Phase,
    ReportedResult,
    ReportedRow,
    ReportedTable,
    SuiteSpec,
    TaskSpec,
    cells_of,
)

# Names whose modules import torch, and the module each lives in: imported on first use.
_LAZY = {
    # the method contract
    "Method": "udabench.method",
    "MethodContext": "udabench.method",
    "Batch": "udabench.method",
    # networks
    "TaskModel": "udabench.nets",
    "task_model": "udabench.nets",
    "mlp": "udabench.nets",
    "TanhToTask": "udabench.nets",
    "tanh_to_task": "udabench.nets",
    "mark_backbone": "udabench.nets",
    "is_backbone_parameter": "udabench.nets",
    # optimisers and schedules
    "lr_groups": "udabench.optim",
    "sgd": "udabench.optim",
    "set_lr": "udabench.optim",
    "schedule_lr": "udabench.optim",
    "annealed_lr_factor": "udabench.optim",
    "source_step": "udabench.optim",
    "tensor_lr": "udabench.optim",
    "schedule_tensor_lr": "udabench.optim",
    # losses
    "task_loss": "udabench.losses",
    "reverse_gradient": "udabench.losses",
    "grl_coefficient": "udabench.losses",
    "domain_adversarial_loss": "udabench.losses",
    "mean_entropy": "udabench.losses",
    "kl_from_logits": "udabench.losses",
    "virtual_adversarial_perturbation": "udabench.losses",
    "vat_loss": "udabench.losses",
    # frozen parts, modes and batch-norm statistics
    "is_dropout": "udabench.modes",
    "is_batch_norm": "udabench.modes",
    "frozen": "udabench.modes",
    "running_stats_untouched": "udabench.modes",
    "probing": "udabench.modes",
    "TargetStatistics": "udabench.modes",
    "freeze": "udabench.modes",
    "fixed": "udabench.modes",
    "batch_statistics": "udabench.modes",
    "modes_kept": "udabench.modes",
    # image translators (CycleGAN-style generator, PatchGAN)
    "Generator": "udabench.translation",
    "patch_discriminator": "udabench.translation",
    "lsgan_loss": "udabench.translation",
    # metrics and backbone weights
    "iou_per_class": "udabench.confusion",
    "weights": "udabench",
}

__all__ = [
    "IGNORE_LABEL", "SOURCE_PHASE", "SOURCE_PHASE_HPARAMS", "TASK_MODEL_HPARAMS",
    "TRANSLATOR_HPARAMS", "UNPINNED", "BackboneSpec", "DatasetSpec", "HParam", "MethodSpec", "MetricSpec", "Phase",
    "ReportedResult", "ReportedRow", "ReportedTable", "SuiteSpec", "TaskSpec", "UdabenchError", "cells_of",
    "hookimpl", *_LAZY,
]


def module_of(name: str) -> str | None:
    """The module a public name comes from (``udabench.optim`` for ``sgd``); ``None`` if it is not public."""
    if name in _LAZY:
        return _LAZY[name] if _LAZY[name] != "udabench" else f"udabench.{name}"
    value = globals().get(name) if name in __all__ else None
    return getattr(value, "__module__", None) if value is not None else None


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'udabench.api' has no attribute '{name}'")
    value = importlib.import_module(module_of(name)) if module == "udabench" else \
        getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
