"""Every registered method, built-in or installed, must train and predict on a tiny task.

A new method plugin is covered here without new test code: short phases, tiny generated data.
"""

from __future__ import annotations

import math

import pytest
import torch

from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, load_checkpoint, prepare

REGISTRY = load_registry(warn=False)


@pytest.mark.parametrize("method", REGISTRY.names("methods"))
def test_method_trains_and_evaluates(method, tiny_digits, tmp_path):
    spec = REGISTRY.get("methods", method)
    short_phases = {phase.steps_param: "2" for phase in spec.phases if phase.steps_param}
    request = RunRequest(method=method, task="mnist-usps", steps=3, batch_size=8, device="cpu",
                         overrides=short_phases, progress=False, log_every=1,
                         data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])})
    result = execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path)
    assert result.status == "ok"
    for name in ("accuracy", "mean_class_accuracy", "source_accuracy"):
        assert 0.0 <= result.metrics[name] <= 1.0
    logged = [value for record in result.history for key, value in record.items() if isinstance(value, float)]
    assert logged and all(math.isfinite(v) for v in logged)
    assert sum(r["step"] == 1 for r in result.history) == len(spec.phases)  # every phase ran
    weights = load_checkpoint(result.checkpoint)
    assert weights and all(isinstance(t, torch.Tensor) for t in weights.values())
