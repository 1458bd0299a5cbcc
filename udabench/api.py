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
    "TaskModel": "udabench.method",
    "task_model": "udabench.method",
    "mlp": "udabench.method",
    "TanhToTask": "udabench.method",
    "tanh_to_task": "udabench.method",
    "mark_backbone": "udabench.method",
    "is_backbone_parameter": "udabench.method",
    # optimisers and schedules
    "lr_groups": "udabench.method",
    "sgd": "udabench.method",
    "set_lr": "udabench.method",
    "schedule_lr": "udabench.method",
    "annealed_lr_factor": "udabench.method",
    "source_step": "udabench.method",
    "tensor_lr": "udabench.capture",
    "schedule_tensor_lr": "udabench.capture",
    # losses
    "task_loss": "udabench.method",
    "reverse_gradient": "udabench.method",
    "grl_coefficient": "udabench.method",
    "mean_entropy": "udabench.method",
    "kl_from_logits": "udabench.method",
    "virtual_adversarial_perturbation": "udabench.method",
    "vat_loss": "udabench.method",
    # frozen parts, modes and batch-norm statistics
    "is_dropout": "udabench.method",
    "is_batch_norm": "udabench.method",
    "frozen": "udabench.method",
    "running_stats_untouched": "udabench.method",
    "probing": "udabench.method",
    "TargetStatistics": "udabench.method",
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


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'udabench.api' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name) if module != "udabench" else \
        importlib.import_module(f"udabench.{name}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
