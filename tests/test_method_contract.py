"""The method contract's base class and the helpers that replace each method's own copies: phases and
progress, parts kept in eval mode, freezing, fixed labellers, batch statistics and the
domain-adversarial loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from methodkit import TinyBackbone
from udabench.api import (Batch, Method, MethodContext, UdabenchError, batch_statistics, domain_adversarial_loss,
                          fixed, freeze, grl_coefficient, task_model)


class TwoPhases(Method):
    """Records what the base class tells it."""

    def __init__(self, context):
        super().__init__(context)
        self.model = task_model(context, self.hparams)
        self.head_copy = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
        self.seen = []

    def begin_warm(self):
        self.keep_in_eval(self.head_copy)

    def update_warm(self, batch):
        self.seen.append((self.phase, self.step, self.phase_steps, self.progress))
        return {}

    def update_cool(self, batch):
        self.seen.append((self.phase, self.step, self.phase_steps, self.progress))
        return {}

    def predict(self, x):
        return self.model(x)


def context() -> MethodContext:
    hparams = {"bottleneck_dim": 8, "dropout": 0.0, "lr": 0.1, "momentum": 0.0, "weight_decay": 0.0,
               "nesterov": False, "lr_schedule": "constant"}
    return MethodContext(3, 1, 4, hparams, {"warm": 2, "cool": 4}, lambda: TinyBackbone(1, 4))


def test_the_base_class_knows_the_phase_its_length_and_the_progress():
    method = TwoPhases(context())
    method.begin_phase("warm", 2)
    for step in range(2):
        method.update("warm", step, Batch())
    method.begin_phase("cool", 4)
    method.update("cool", 3, Batch())
    assert method.seen == [("warm", 0, 2, 0.0), ("warm", 1, 2, 0.5), ("cool", 3, 4, 0.75)]


def test_a_phase_without_its_update_is_a_one_line_error():
    method = TwoPhases(context())
    with pytest.raises(UdabenchError, match="TwoPhases has no phase 'adapt': it defines no update_adapt"):
        method.begin_phase("adapt", 3)


def test_parts_kept_in_eval_stay_so_for_their_phase_only_and_always_ones_for_the_run():
    method = TwoPhases(context())
    always = nn.Dropout(0.5)
    method.add_module("always", always)
    method.keep_in_eval(always, always=True)
    method.begin_phase("warm", 2)
    method.train()
    assert not method.head_copy.training and not method.head_copy[1].training and not always.training
    assert method.model.training  # the rest follows the runner's mode
    method.eval()
    method.train()
    assert not method.head_copy.training  # a round of evaluation does not undo it
    method.begin_phase("cool", 4)
    assert method.head_copy.training and not always.training


def test_the_shared_source_phase_trains_the_model_on_labelled_source():
    method = TwoPhases(context())
    torch.manual_seed(0)
    x, y = torch.randn(12, 1, 4, 4), torch.arange(12) % 3
    method.begin_phase("source", 20)
    before = F.cross_entropy(method.model(x), y).item()
    for step in range(20):
        logs = method.update("source", step, Batch(source_x=x, source_y=y))
    assert set(logs) == {"class_loss"}
    assert F.cross_entropy(method.model(x), y).item() < 0.5 * before


def test_freeze_leaves_no_gradient_and_takes_none_later():
    layer = nn.Linear(3, 2)
    layer(torch.randn(4, 3)).sum().backward()
    freeze(layer)
    assert all(p.grad is None and not p.requires_grad for p in layer.parameters())


def test_a_fixed_labeller_passes_gradient_to_its_input_only_and_keeps_its_modes_and_statistics():
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Dropout(0.5), nn.Linear(5, 2)).train()
    model[1].running_mean.fill_(3.0)
    x = torch.randn(16, 3, requires_grad=True)
    for own in (False, True):
        with fixed(model, own_batch_statistics=own) as labeller:
            assert not labeller[2].training and labeller[1].training == own
            labeller(x).sum().backward()
        assert all(p.grad is None for p in model.parameters()) and x.grad is not None
        assert model.training and model[1].training and model[2].training
        assert torch.equal(model[1].running_mean, torch.full((5,), 3.0))
        x.grad = None
    # on running statistics (mean 3) a batch of mean about 0 comes out near -3; on its own, at 0
    batch = torch.randn(8, 5)
    with torch.no_grad(), fixed(model) as labeller:
        running = labeller[1](batch)
    with torch.no_grad(), fixed(model, own_batch_statistics=True) as labeller:
        own = labeller[1](batch)
    assert torch.allclose(own.mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(running.mean(0), batch.mean(0) - 3.0, atol=1e-4)


def test_batch_statistics_normalise_each_batch_by_itself_and_leave_the_running_ones():
    generator = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4)).eval()
    with torch.no_grad(), batch_statistics(generator) as g:
        out = g(torch.randn(32, 2) * 5 + 7)
    assert torch.allclose(out.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.equal(generator[1].running_mean, torch.zeros(4)) and not generator.training


def test_the_domain_adversarial_loss_labels_source_one_and_reverses_the_gradient_by_the_coefficient():
    torch.manual_seed(0)
    discriminator = nn.Linear(6, 1)
    features = torch.randn(10, 6, requires_grad=True)
    coefficient = grl_coefficient(0.3)
    loss, accuracy = domain_adversarial_loss(discriminator, features, 4, coefficient)
    logits = discriminator(features).squeeze(1)
    labels = torch.tensor([1.0] * 4 + [0.0] * 6)
    assert torch.allclose(loss, F.binary_cross_entropy_with_logits(logits, labels))
    assert accuracy.item() == ((logits > 0).float() == labels).float().mean().item()
    loss.backward()
    reversed_gradient = features.grad.clone()
    features.grad = None
    F.binary_cross_entropy_with_logits(discriminator(features).squeeze(1), labels).backward()
    assert torch.allclose(reversed_gradient, -coefficient * features.grad, atol=1e-7)
    assert discriminator.weight.grad is not None  # the discriminator itself learns the plain loss


def test_the_domain_adversarial_loss_takes_maps_of_logits_per_row():
    patch = nn.Conv2d(3, 1, 1)
    maps = torch.randn(6, 3, 4, 4)
    loss, _ = domain_adversarial_loss(patch, maps, 2, 1.0)
    labels = torch.zeros(6, 1, 4, 4)
    labels[:2] = 1.0
    assert torch.allclose(loss, F.binary_cross_entropy_with_logits(patch(maps), labels))
