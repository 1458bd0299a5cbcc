"""Every registered method, built-in or installed, must train and predict on tiny tasks.

A new method plugin is covered here without new test code: short phases, tiny generated data, on
the tasks of the kinds it declares. Classification: ``mnist-usps`` (grey digits, a small
convolutional backbone) and a small copy of ``office31-a-w`` (RGB photographs in the official
Office-31 folder layout, 31 classes, ImageNet normalisation, random resized crops and flips, the
backbone at 0.1x the learning rate) with a tiny timm backbone. Segmentation: ``toy-scenes``
(generated 48x32 scenes labelled per pixel, with ignored rims, and a tiny segmentation network).
"""

from __future__ import annotations

import math

import pytest
import torch

from datagen import tiny_office_task
from udabench.api import Method
from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, load_checkpoint, prepare
from udabench.specs import load_object

REGISTRY = load_registry(warn=False)
OFFICE_TASK = tiny_office_task(REGISTRY)
REGISTRY.add("tasks", OFFICE_TASK, "tests")


TASKS = {"classification": ["mnist-usps", OFFICE_TASK.name], "segmentation": ["toy-scenes"]}
CASES = [(method, task) for method in REGISTRY.names("methods")
         for kind in REGISTRY.get("methods", method).kinds for task in TASKS[kind]]


def task_data(task: str, request) -> dict[str, str]:
    if task == "toy-scenes":
        return {}
    if task == "mnist-usps":
        digits = request.getfixturevalue("tiny_digits")
        return {"mnist": str(digits["mnist"]), "usps": str(digits["usps"])}
    office = str(request.getfixturevalue("tiny_office"))  # the unpacked archive: one folder, two domains
    return {OFFICE_TASK.source: office, OFFICE_TASK.target: office}


@pytest.mark.parametrize(("method", "task"), CASES)
def test_method_trains_and_evaluates(method, task, request, tmp_path, monkeypatch):
    spec = REGISTRY.get("methods", method)
    short_phases = {phase.steps_param: "2" for phase in spec.phases if phase.steps_param}
    run_request = RunRequest(method=method, task=task, steps=3, batch_size=8, device="cpu",
                             overrides=short_phases, progress=False, log_every=1, data=task_data(task, request))
    initial = {}
    begin_phase = Method.begin_phase

    def first_begin_keeps_the_initial_weights(self, phase, steps):
        if not initial:  # parameters only: batch-norm statistics move without any optimiser
            initial.update({k: v.detach().clone() for k, v in self.named_parameters()})
        return begin_phase(self, phase, steps)

    monkeypatch.setattr(Method, "begin_phase", first_begin_keeps_the_initial_weights)
    result = execute(prepare(REGISTRY, run_request), REGISTRY, run_request, tmp_path)
    assert result.status == "ok"
    segmentation = REGISTRY.get("tasks", task).kind == "segmentation"
    names = ("miou", "pixel_accuracy", "source_miou") if segmentation else (
        "accuracy", "mean_class_accuracy", "source_accuracy")
    for name in names:
        assert 0.0 <= result.metrics[name] <= 1.0
    logged = [value for record in result.history for key, value in record.items() if isinstance(value, float)]
    assert logged and all(math.isfinite(v) for v in logged)
    assert sum(r["step"] == 1 for r in result.history) == len(spec.phases)  # every phase ran
    weights = load_checkpoint(result.checkpoint)
    assert weights and all(isinstance(t, torch.Tensor) for t in weights.values())
    if load_object(spec.factory).begin_phase is first_begin_keeps_the_initial_weights:  # the contract's phases
        moved = [name for name, value in initial.items() if not torch.equal(weights[name], value)]
        assert moved, "training changed no weight: does every update step its optimiser?"
