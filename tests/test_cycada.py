"""CyCADA mechanics on tiny models and random tensors (the conformance test runs both names end to end)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methodkit import TinyBackbone, check_logs, same, state
from udabench.method import Batch, MethodContext, TaskModel
from udabench.plugins import load_registry
from udabench_cycada.method import CyCADA, Generator, lsgan_loss, patch_discriminator
from udabench_cycada.plugin import FEATURE_HPARAMS, udabench_methods

NUM_CLASSES, CHANNELS, RESOLUTION = 3, 1, 16
SPECS = {spec.name: spec for spec in udabench_methods()}


def build(name="cycada", channels=CHANNELS, resolution=RESOLUTION, dropout=0.0, **overrides):
    hparams = {**SPECS[name].hparams, "bottleneck_dim": 8, "dropout": dropout, "generator_width": 4,
               "generator_blocks": 1, "discriminator_width": 4, **overrides}
    if "discriminator_dim" in hparams:
        hparams["discriminator_dim"] = 16
    context = MethodContext(NUM_CLASSES, channels, resolution, hparams,
                            {"source": 2, "translate": 2, "task": 3},
                            lambda: TinyBackbone(channels, resolution, dropout))
    method = CyCADA(context)
    method.train()
    return method


def images(n=8, channels=CHANNELS, resolution=RESOLUTION, shift=0.0):
    return (torch.rand(n, channels, resolution, resolution) * 2 - 1 + shift).clamp(-1, 1)


def batch(n=8, channels=CHANNELS, resolution=RESOLUTION):
    return Batch(source_x=images(n, channels, resolution), source_y=torch.arange(n) % NUM_CLASSES,
                 target_x=images(n, channels, resolution, shift=0.5))


def run_phase(method, phase, steps=2, make_batch=batch):
    method.begin_phase(phase, steps)
    logs = None
    for step in range(steps):
        logs = method.update(phase, step, make_batch())
        check_logs(logs)
    return logs


# Registration

def test_both_names_are_registered_from_one_factory_and_only_cycada_has_feature_settings():
    registry = load_registry(warn=False)
    pixel, full = registry.get("methods", "cycada-pixel"), registry.get("methods", "cycada")
    assert pixel.factory == full.factory == "udabench_cycada.method:CyCADA"
    for spec in (pixel, full):
        assert spec.setting == "uda"
        assert [(p.name, p.inputs, p.steps_param) for p in spec.phases] == [
            ("source", frozenset({"source"}), "source_steps"),
            ("translate", frozenset({"source", "target"}), "translate_steps"),
            ("task", frozenset({"source", "target"}), None),
        ]
        assert set(spec.hparams) == set(spec.hparam_help)
    assert set(FEATURE_HPARAMS) <= set(full.hparams)
    assert not set(FEATURE_HPARAMS) & set(pixel.hparams)
    assert full.hparams["cycle_weight"] == 1.0 and full.hparams["translate_lr"] == 2e-4
    assert full.hparams["adam_beta1"] == 0.5


def test_cycada_pixel_has_no_feature_discriminator_and_cycada_does():
    torch.manual_seed(0)
    pixel, full = build("cycada-pixel"), build("cycada")
    assert pixel.feature_discriminator is None
    assert not any(key.startswith("feature_discriminator.") for key in pixel.state_dict())
    assert isinstance(full.feature_discriminator, nn.Module)
    assert any(key.startswith("feature_discriminator.") for key in full.state_dict())
    for method in (pixel, full):
        run_phase(method, "source")
        run_phase(method, "translate")
    discriminator = state(full.feature_discriminator)
    full_logs = run_phase(full, "task", 3)
    pixel_logs = run_phase(pixel, "task", 3)
    assert {"domain_loss", "domain_accuracy"} <= full_logs.keys()
    assert "domain_loss" not in pixel_logs
    assert not same(state(full.feature_discriminator), discriminator)


# Losses

def test_cycle_loss_is_zero_for_identity_generators():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source")
    method.begin_phase("translate", 2)
    x_s, x_t = images(), images(shift=0.5)
    losses, _, _ = method.generator_losses(x_s, x_t)
    assert losses["cycle"].item() > 0.01  # freshly initialised generators do not invert each other
    method.generator_st, method.generator_ts = nn.Identity(), nn.Identity()
    losses, translated_source, translated_target = method.generator_losses(x_s, x_t)
    assert losses["cycle"].item() == 0.0
    assert torch.equal(translated_source, x_s) and torch.equal(translated_target, x_t)


def test_semantic_loss_vanishes_for_identity_translation_and_a_consistent_classifier():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source")
    method.begin_phase("translate", 2)
    with torch.no_grad():  # a confident f_s that tells images apart: its softmax is one-hot on each
        method.model.head.weight.normal_().mul_(1e4)
        method.model.head.bias.zero_()
    x_s, x_t = images(), images(shift=0.5)
    method.generator_st, method.generator_ts = nn.Identity(), nn.Identity()
    losses, _, _ = method.generator_losses(x_s, x_t)
    assert losses["semantic"].item() == pytest.approx(0.0, abs=1e-4)
    # a "translation" that changes what f_s sees is penalised
    with torch.no_grad():
        labels = method.model(x_s).argmax(1)
    assert labels.unique().numel() > 1
    order = torch.argsort(labels)
    swapped = x_s[order.roll(1)][torch.argsort(order)]
    with torch.no_grad():
        assert (method.model(swapped).argmax(1) != labels).any()
    assert method.semantic_loss(x_s, swapped, x_t, x_t).item() > 1.0
    # the official code's variant: the source direction against the true labels
    assert method.semantic_loss(x_s, x_s, x_t, x_t, source_y=labels).item() == pytest.approx(0.0, abs=1e-4)
    assert method.semantic_loss(x_s, x_s, x_t, x_t, source_y=(labels + 1) % NUM_CLASSES).item() > 1.0


def test_semantic_loss_trains_the_generators_through_the_frozen_classifier():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source")
    method.begin_phase("translate", 2)
    losses, _, _ = method.generator_losses(images(), images(shift=0.5))
    losses["semantic"].backward()
    for generator in (method.generator_st, method.generator_ts):
        assert all(p.grad is not None for p in generator.parameters())
        assert sum(p.grad.abs().sum() for p in generator.parameters()) > 0
    assert all(p.grad is None for p in method.model.parameters())


def test_lsgan_loss():
    scores = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    assert lsgan_loss(scores, True).item() == pytest.approx((1 + 0 + 1 + 4) / 4)
    assert lsgan_loss(scores, False).item() == pytest.approx((0 + 1 + 4 + 1) / 4)


# Phases

def test_source_classifier_is_trained_first_then_frozen_in_translate_and_task():
    torch.manual_seed(0)
    method = build(dropout=0.5)
    before = state(method.model)
    run_phase(method, "source")
    assert not same(state(method.model), before)
    trained = state(method.model)
    for phase in ("translate", "task"):
        method.begin_phase(phase, 2)
        for step in range(2):
            assert not method.model.training  # running statistics, no dropout, even after train()
            method.update(phase, step, batch())
            method.eval()
            method.train()
        assert all(not p.requires_grad for p in method.model.parameters())
        assert same(state(method.model), trained)  # weights and batch-norm statistics untouched
        x = images()
        assert torch.equal(method.model(x), method.model(x))


def test_translate_phase_trains_generators_and_image_discriminators_only():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source")
    generators = state(method.generator_st), state(method.generator_ts)
    discriminators = state(method.discriminator_t), state(method.discriminator_s)
    task_model = state(method.task_model)
    logs = run_phase(method, "translate")
    assert {"generator_loss", "gan_loss", "cycle_loss", "semantic_loss", "discriminator_loss"} <= logs.keys()
    assert not same(state(method.generator_st), generators[0])
    assert not same(state(method.generator_ts), generators[1])
    assert not same(state(method.discriminator_t), discriminators[0])
    assert not same(state(method.discriminator_s), discriminators[1])
    assert same(state(method.task_model), task_model)


def test_generators_are_frozen_during_task_and_the_task_model_learns_from_translations():
    torch.manual_seed(0)
    method = build("cycada-pixel")
    run_phase(method, "source")
    run_phase(method, "translate")
    frozen = {name: state(getattr(method, name))
              for name in ("generator_st", "generator_ts", "discriminator_t", "discriminator_s")}
    task_model = state(method.task_model)
    method.begin_phase("task", 3)
    for name in frozen:
        assert all(not p.requires_grad for p in getattr(method, name).parameters())
    data = batch()
    method.update("task", 0, data)
    for name, before in frozen.items():
        assert same(state(getattr(method, name)), before)
    assert not same(state(method.task_model), task_model)
    # the task model is fed G_st(x_s), never x_s itself (cycada-pixel: and no target images)
    translation = images(shift=-0.5)
    method.generator_st = _Constant(translation)
    seen = []
    method.task_model.backbone.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    method.update("task", 1, data)
    assert len(seen) == 1 and torch.equal(seen[0], translation)


def test_cycada_task_phase_aligns_translated_source_with_target():
    torch.manual_seed(0)
    method = build("cycada")
    run_phase(method, "source")
    run_phase(method, "translate")
    method.begin_phase("task", 3)
    data, translation = batch(), images(shift=-0.5)
    method.generator_st = _Constant(translation)
    seen = []
    method.task_model.backbone.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    method.update("task", 0, data)
    assert len(seen) == 1 and torch.equal(seen[0], torch.cat([translation, data.target_x]))


class _Constant(nn.Module):
    """A stand-in generator that returns a fixed batch whatever it is given."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return self.value


def test_task_model_starts_fresh_or_from_the_source_classifier():
    torch.manual_seed(0)
    fresh, copied = build(), build(task_from_source=True)
    for method in (fresh, copied):
        run_phase(method, "source")
        run_phase(method, "translate")
        method.begin_phase("task", 3)
    assert not same(state(fresh.task_model), state(fresh.model))
    assert same(state(copied.task_model), state(copied.model))
    x = images()
    copied.eval()
    with torch.no_grad():
        assert torch.equal(copied.predict(x), copied.task_model(x))


def test_source_run_weights_load_into_the_source_classifier():
    torch.manual_seed(0)
    method = build()
    source_only = TaskModel(TinyBackbone(CHANNELS, RESOLUTION), NUM_CLASSES, 8)
    checkpoint = {f"model.{k}": v for k, v in source_only.state_dict().items()}
    method.load_source_weights(checkpoint)
    assert same(state(method.model), state(source_only))
    assert not same(state(method.task_model), state(source_only))


# Networks and images

@pytest.mark.parametrize("resolution", [16, 28, 32, 40])
@pytest.mark.parametrize("channels", [1, 3])
def test_networks_keep_channels_and_size_at_the_protocol_resolutions(resolution, channels):
    torch.manual_seed(0)
    generator = Generator(channels, 4, 1, 2)
    x = images(2, channels, resolution)
    y = generator(x)
    assert y.shape == x.shape and y.abs().max() <= 1.0
    discriminator = patch_discriminator(channels, 4, 3, resolution)
    scores = discriminator(x)
    assert scores.shape[:2] == (2, 1) and scores.shape[-1] >= 1
    method = build(channels=channels, resolution=resolution)
    make = lambda: batch(4, channels, resolution)  # noqa: E731
    for phase in ("source", "translate", "task"):
        run_phase(method, phase, 1, make)


def test_snapshot_shows_source_translations_target_and_back_translations():
    torch.manual_seed(0)
    method = build(channels=3)
    make = lambda: batch(10, 3)  # noqa: E731
    run_phase(method, "source", 1, make)
    method.eval()
    assert method.snapshot() == {}  # nothing translated yet
    method.train()
    first = make()
    method.begin_phase("translate", 2)
    method.update("translate", 0, first)
    method.update("translate", 1, make())  # the snapshot keeps showing the first batch
    method.eval()
    with torch.no_grad():
        grids = method.snapshot()
        source, target = first.source_x[:8], first.target_x[:8]
        expected = torch.cat([source, method.generator_st(source), target, method.generator_ts(target)])
    assert set(grids) == {"translations"}
    grid, per_row = grids["translations"]
    assert per_row == 8 and grid.shape == (32, 3, RESOLUTION, RESOLUTION)
    assert torch.allclose(grid, expected)
    assert grid[8:16].abs().max() <= 1.0 and grid[24:].abs().max() <= 1.0  # tanh: normalised space
    assert not any(key.startswith("shown_") for key in method.state_dict())
    method.train()
    run_phase(method, "task", 1, make)
    method.eval()
    with torch.no_grad():
        grid, per_row = method.snapshot()["translations"]
    assert torch.allclose(grid[:8], source) and per_row == 8
