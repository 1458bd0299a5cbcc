"""Shared method helpers and metrics: GRL, schedules, hyperparameter parsing, accuracy."""

from __future__ import annotations

import pytest
import torch

from udabench.errors import UdabenchError
from udabench.hparams import TASK_MODEL_HPARAMS, defaults_of, parse_assignments, resolve
from udabench.api import annealed_lr_factor, grl_coefficient, reverse_gradient
from udabench_metrics.functions import accuracy, mean_class_accuracy


def test_gradient_reversal_flips_and_scales_the_gradient_only():
    x = torch.randn(5, 3, requires_grad=True)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.3))


def test_schedules_follow_the_dann_paper():
    assert grl_coefficient(0.0) == 0.0
    assert grl_coefficient(1.0) == pytest.approx(1.0, abs=1e-4)
    assert grl_coefficient(0.1) == pytest.approx(2 / (1 + torch.e ** -1) - 1)
    assert annealed_lr_factor(0.0) == 1.0
    assert annealed_lr_factor(1.0) == pytest.approx(11 ** -0.75)


def test_hyperparameters_are_coerced_to_the_default_type():
    values = resolve("m", defaults_of(TASK_MODEL_HPARAMS),
                     parse_assignments(["lr=0.1", "nesterov=false", "bottleneck_dim=64"]), TASK_MODEL_HPARAMS)
    assert values["lr"] == 0.1 and values["nesterov"] is False and values["bottleneck_dim"] == 64
    assert values["momentum"] == TASK_MODEL_HPARAMS["momentum"].default


@pytest.mark.parametrize("assignment, message", [
    ("lrr=0.1", "unknown hyperparameter of method 'm' 'lrr'; did you mean 'lr'"),
    ("lr=fast", "takes a float, not 'fast'"),
    ("bottleneck_dim=2.5", "takes a int, not '2.5'"),
    ("nesterov=maybe", "takes a bool"),
    ("lr=-1", "must not be negative"),
    ("lr=nan", "must be a finite number"),
    ("weight_decay=inf", "must be a finite number"),
    ("lr_schedule=cosine", "lr_schedule must be one of"),
    ("lr", "--set expects NAME=VALUE"),
])
def test_bad_hyperparameters_are_clear_errors(assignment, message):
    with pytest.raises(UdabenchError, match=message.replace("(", r"\(").replace("'", "'")):
        resolve("m", defaults_of(TASK_MODEL_HPARAMS), parse_assignments([assignment]), TASK_MODEL_HPARAMS)


def test_metrics():
    predictions = torch.tensor([0, 0, 1, 1, 2, 2])
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    assert accuracy(predictions, labels, 3) == pytest.approx(4 / 6)
    # class 0: 2/3, class 1: 1/2, class 2: 1/1
    assert mean_class_accuracy(predictions, labels, 3) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def test_generator_output_map_is_the_identity_at_half_and_hits_the_task_space_otherwise():
    import torch

    from udabench.api import TanhToTask

    x = torch.rand(3, 3, 4, 4) * 2 - 1
    half = TanhToTask((0.5,), (0.5,), 3)
    assert half.identity and torch.equal(half(x), x)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    imagenet = TanhToTask(mean, std, 3)
    pixels = (x + 1) / 2  # what the tanh value stands for, in [0, 1]
    expected = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(imagenet(x), expected, atol=1e-6)
    assert not dict(imagenet.state_dict())  # set by the task, not saved in checkpoints


def _classification_methods_with_the_task_model():
    from udabench.plugins import load_registry

    registry = load_registry(warn=False)
    return [registry.get("methods", name) for name in registry.names("methods")
            if "bottleneck_bn" in registry.get("methods", name).hparams
            and "classification" in registry.get("methods", name).kinds]


@pytest.mark.parametrize("spec", _classification_methods_with_the_task_model(), ids=lambda spec: spec.name)
@pytest.mark.parametrize("bottleneck_bn", [True, False])
def test_every_method_with_the_shared_task_model_takes_bottleneck_bn(spec, bottleneck_bn):
    from methodkit import TinyBackbone
    from udabench.api import MethodContext, TaskModel, is_batch_norm
    from udabench.specs import load_object

    hparams = {**spec.hparams, "bottleneck_bn": bottleneck_bn}
    context = MethodContext(10, 1, 16, hparams, {phase.name: 2 for phase in spec.phases}, lambda: TinyBackbone(1, 16))
    method = load_object(spec.factory)(context)
    models = [m for m in method.modules() if isinstance(m, TaskModel)]
    assert models
    for model in models:
        assert any(is_batch_norm(m) for m in model.bottleneck) is bottleneck_bn
