"""ADDA and SHOT mechanics on tiny models and random tensors (the conformance test runs them end to end)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from methodkit import TinyBackbone, check_logs, same
from methodkit import state as snapshot
from udabench.api import Batch, MethodContext, mark_backbone
from udabench_adda.method import ADDA
from udabench_adda.plugin import udabench_methods as adda_specs
from udabench_shot.method import SHOT, centroid_pseudo_labels, information_maximisation
from udabench_shot.plugin import udabench_methods as shot_specs

NUM_CLASSES, CHANNELS, RESOLUTION = 3, 1, 4


def build(method_class, spec, dropout=0.0, **overrides):
    hparams = {**spec.hparams, "bottleneck_dim": 8, "dropout": dropout, **overrides}
    context = MethodContext(NUM_CLASSES, CHANNELS, RESOLUTION, hparams,
                            {"source": 2, "adapt": 3}, lambda: TinyBackbone(CHANNELS, RESOLUTION, dropout))
    method = method_class(context)
    method.train()
    return method


def images(n=8):
    return torch.randn(n, CHANNELS, RESOLUTION, RESOLUTION)


def source_batch(n=8):
    return Batch(source_x=images(n), source_y=torch.arange(n) % NUM_CLASSES)


# ADDA

def adda(**overrides):
    return build(ADDA, adda_specs()[0], discriminator_dim=16, **overrides)


def train_source(method, steps=2):
    method.begin_phase("source", steps)
    for step in range(steps):
        check_logs(method.update("source", step, source_batch()))


def encoder_state(method):
    return {**{f"0.{k}": v for k, v in snapshot(method.model.backbone).items()},
            **{f"1.{k}": v for k, v in snapshot(method.model.bottleneck).items()}}


def test_adda_target_encoder_starts_as_the_trained_source_encoder_and_classifier_stays_fixed():
    torch.manual_seed(0)
    method = adda()
    train_source(method)
    assert not same(snapshot(method.target_encoder), encoder_state(method))  # source training moved it
    method.begin_phase("adapt", 3)
    assert same(snapshot(method.target_encoder), encoder_state(method))
    source_model, discriminator = snapshot(method.model), snapshot(method.discriminator)
    for step in range(3):
        logs = method.update("adapt", step, Batch(source_x=images(), source_y=torch.zeros(8, dtype=torch.long),
                                                  target_x=images() + 1.0))
        check_logs(logs)
    assert {"discriminator_loss", "mapping_loss", "domain_accuracy"} <= logs.keys()
    # classifier and source encoder, batch-norm statistics included, are untouched by adaptation
    assert same(snapshot(method.model), source_model)
    assert not same(snapshot(method.target_encoder), encoder_state(method))
    assert not same(snapshot(method.discriminator), discriminator)
    method.eval()
    x = images()
    with torch.no_grad():
        assert torch.equal(method.predict(x), method.model.head(method.target_encoder(x)))
        assert not torch.allclose(method.predict(x), method.model(x))


def test_adda_discriminator_learns_to_separate_fixed_features():
    torch.manual_seed(0)
    method = adda(discriminator_lr=1e-2)
    train_source(method)
    method.begin_phase("adapt", 3)
    source_features, target_features = torch.randn(32, 8) + 1.0, torch.randn(32, 8) - 1.0
    losses = []
    for _ in range(30):
        loss, _ = method.discriminator_loss(source_features, target_features)
        method.discriminator_optimizer.zero_grad()
        loss.backward()
        method.discriminator_optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    _, accuracy = method.discriminator_loss(source_features, target_features)
    assert accuracy.item() > 0.9


def test_adda_mapping_loss_inverts_labels_and_trains_only_the_target_encoder():
    torch.manual_seed(0)
    method = adda()
    train_source(method)
    method.begin_phase("adapt", 3)
    last = method.discriminator[-1]
    features = method.target_encoder(images())
    with torch.no_grad():
        last.bias.fill_(20.0)  # the discriminator calls every feature "source"
    fooled = method.mapping_loss(features.detach()).item()
    with torch.no_grad():
        last.bias.fill_(-20.0)  # ... or "target"
    caught = method.mapping_loss(features.detach()).item()
    assert fooled < 0.01 < 10.0 < caught  # the target encoder is rewarded for looking like source
    with torch.no_grad():
        last.bias.zero_()
    method.mapping_loss(features).backward()
    linears = [m for m in method.target_encoder.modules() if isinstance(m, nn.Linear)]
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in linears)
    assert all(p.grad is None for p in method.model.parameters())


def test_adda_adapt_phase_runs_source_encoder_in_eval_mode_and_target_encoder_without_dropout():
    torch.manual_seed(0)
    method = adda(dropout=0.5)
    train_source(method)
    method.begin_phase("adapt", 3)
    for _ in range(2):  # the runner's evaluation switches to eval and back
        assert not method.model.training and method.target_encoder.training
        x = images()
        assert torch.equal(method.target_encoder(x), method.target_encoder(x))  # no dropout noise
        method.eval()
        method.train()
    batch_norms = [m for m in method.target_encoder.modules() if isinstance(m, nn.BatchNorm1d)]
    assert batch_norms and all(m.training for m in batch_norms)  # target batch statistics


# SHOT

def shot(**overrides):
    return build(SHOT, shot_specs()[0], **overrides)


def test_shot_freezes_the_head_and_adapts_the_feature_extractor_on_target_alone():
    torch.manual_seed(0)
    method = shot(memory_size=10)
    method.begin_phase("source", 2)
    for step in range(2):
        check_logs(method.update("source", step, source_batch()))
    method.begin_phase("adapt", 3)
    head, backbone = snapshot(method.model.head), snapshot(method.model.backbone)
    for step in range(3):
        logs = method.update("adapt", step, Batch(target_x=images()))
        check_logs(logs)
    assert {"entropy", "diversity", "pseudo_label_loss"} <= logs.keys()
    assert same(snapshot(method.model.head), head)
    assert not same(snapshot(method.model.backbone), backbone)
    assert method.memory_features.shape == (10, 8)


def test_shot_source_phase_trains_the_head():
    torch.manual_seed(0)
    method = shot()
    head = snapshot(method.model.head)
    method.begin_phase("source", 2)
    for step in range(2):
        method.update("source", step, source_batch())
    assert not same(snapshot(method.model.head), head)


def test_information_maximisation_prefers_confident_diverse_predictions():
    k = 4
    confident_diverse = 20.0 * torch.eye(k).repeat(2, 1)
    uniform = torch.zeros(2 * k, k)
    confident_collapsed = 20.0 * torch.eye(k)[[0] * (2 * k)]
    best, entropy, diversity = information_maximisation(confident_diverse)
    assert entropy.item() == pytest.approx(0.0, abs=1e-3)
    assert diversity.item() == pytest.approx(math.log(k), abs=1e-3)
    assert best.item() == pytest.approx(-math.log(k), abs=1e-3)
    assert information_maximisation(uniform)[0].item() == pytest.approx(0.0, abs=1e-3)
    assert information_maximisation(confident_collapsed)[0].item() == pytest.approx(0.0, abs=1e-3)
    assert best < information_maximisation(uniform)[0] - 1.0
    assert best < information_maximisation(confident_collapsed)[0] - 1.0


def test_centroid_pseudo_labels_recover_obvious_clusters_that_predictions_get_wrong():
    generator = torch.Generator().manual_seed(0)
    truth = torch.arange(30) % 3
    features = 5.0 * torch.eye(6)[truth] + 0.3 * torch.rand(30, 6, generator=generator)
    predicted = truth.clone()
    predicted[:9] = (truth[:9] + 1) % 3  # the classifier is wrong on three members of each cluster
    probabilities = 0.2 * torch.ones(30, 3) / 3 + 0.8 * torch.eye(3)[predicted]
    assert (probabilities.argmax(1) != truth).sum() == 9
    labels = centroid_pseudo_labels(features, probabilities, rounds=1)
    assert torch.equal(labels, truth)
    assert torch.equal(centroid_pseudo_labels(features, probabilities, rounds=0), truth)



def test_adda_and_3cgan_adam_groups_follow_backbone_lr_mult():
    """The adapt-phase Adam optimisers train backbone parameters at lr * backbone_lr_mult."""
    import torch

    from udabench.api import MethodContext
    from udabench.plugins import load_registry
    from udabench_3cgan.method import ThreeCGAN
    from udabench_adda.method import ADDA

    registry = load_registry(warn=False)
    for name, cls, optimizer_name, lr_name, size in (("adda", ADDA, "encoder_optimizer", "adapt_lr", RESOLUTION),
                                                     ("3cgan", ThreeCGAN, "classifier_optimizer", "classifier_lr", 8)):
        hparams = {**registry.get("methods", name).hparams, "backbone_lr_mult": 0.1, "bottleneck_dim": 8}
        context = MethodContext(NUM_CLASSES, CHANNELS, size, hparams, {"source": 1, "adapt": 1},
                                lambda: mark_backbone(TinyBackbone(CHANNELS, size)))
        method = cls(context)
        method.begin_phase("source", 1)
        method.begin_phase("adapt", 1)
        groups = getattr(method, optimizer_name).param_groups
        assert sorted(group["lr"] for group in groups) == pytest.approx(sorted([hparams[lr_name] * 0.1,
                                                                                hparams[lr_name]]))
