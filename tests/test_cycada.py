"""CyCADA mechanics on tiny models and random tensors (the conformance test runs both names end to end)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from methodkit import TinyBackbone, check_logs, same, state
from udabench.errors import UdabenchError
from udabench.api import Batch, MethodContext, TaskModel
from udabench.plugins import load_registry
from udabench_cycada.method import CyCADA, Generator, lsgan_loss, patch_discriminator
from udabench_cycada.plugin import FEATURE_HPARAMS, udabench_methods
from udabench_toy.segnet import TinySegNet

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


def build_dense(**overrides):
    """cycada on a tiny segmentation network (K classes, 3 channels, 12x18)."""
    hparams = {**SPECS["cycada"].hparams, "generator_width": 4, "generator_blocks": 1, "discriminator_width": 4,
               **overrides}
    context = MethodContext(NUM_CLASSES, 3, (12, 18), hparams, {"source": 2, "translate": 2, "task": 3},
                            lambda: TinySegNet(3, NUM_CLASSES, width=4), kind="segmentation")
    method = CyCADA(context)
    method.train()
    return method


def dense_batch(n=4):
    return Batch(source_x=torch.randn(n, 3, 12, 18), source_y=torch.randint(0, NUM_CLASSES, (n, 12, 18)),
                 target_x=torch.randn(n, 3, 12, 18) + 1.0)


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
    assert set(FEATURE_HPARAMS) <= set(full.hparams)
    assert not set(FEATURE_HPARAMS) & set(pixel.hparams)
    assert full.hparams["cycle_weight"] == 1.0 and full.hparams["translate_lr"] == 2e-4
    assert full.hparams["adam_beta1"] == 0.5
    # the official code's semantic classifier: Adam 1e-3, the semantic loss off above a loss of 1
    assert full.hparams["semantic_classifier_lr"] == 1e-3 and full.hparams["semantic_threshold"] == 1.0
    assert full.hparams["semantic_classifier"] == full.hparams["semantic_batch_norm"] == "auto"


def test_auto_trains_the_semantic_classifier_on_classification_and_keeps_it_fixed_on_segmentation():
    classification = build()
    assert classification.classifier_trained and classification.domain_statistics
    segmentation = build_dense()
    assert not segmentation.classifier_trained and not segmentation.domain_statistics
    asked = build_dense(semantic_classifier="trained", semantic_batch_norm="domain")
    assert asked.classifier_trained and asked.domain_statistics
    old = build(semantic_classifier="frozen", semantic_batch_norm="running")
    assert not old.classifier_trained and not old.domain_statistics
    for name, value in (("semantic_classifier", "fixed"), ("semantic_batch_norm", "target")):
        with pytest.raises(UdabenchError, match=name):
            build(**{name: value})


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


def test_semantic_loss_trains_the_generators_never_the_classifier():
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

def test_source_classifier_keeps_training_on_source_in_translate_then_is_frozen_in_task():
    torch.manual_seed(0)
    method = build(dropout=0.5)
    before = state(method.model)
    run_phase(method, "source")
    assert not same(state(method.model), before)
    trained = state(method.model)
    method.begin_phase("translate", 2)
    optimizer = method.classifier_optimizer  # its own optimiser: the official code's Adam 1e-3, beta1 0.5
    assert isinstance(optimizer, torch.optim.Adam)
    assert [group["lr"] for group in optimizer.param_groups] == [1e-3]
    assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == {id(p) for p in method.model.parameters()}
    for step in range(2):
        assert method.model.training  # train mode: source batch statistics and dropout, even after train()
        logs = method.update("translate", step, batch())
        assert "classifier_loss" in logs
        method.eval()
        method.train()
    after_translate = state(method.model)
    changed = [name for name in trained if not torch.equal(trained[name], after_translate[name])]
    assert {"head.weight", "head.bias"} <= set(changed)
    assert any(name.endswith("running_mean") for name in changed)  # its source training updates them

    method.begin_phase("task", 2)
    for step in range(2):
        assert not method.model.training
        method.update("task", step, batch())
        method.eval()
        method.train()
    assert all(not p.requires_grad for p in method.model.parameters())
    assert same(state(method.model), after_translate)


def test_translate_step_trains_the_classifier_with_one_adam_step_on_labelled_source():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source")
    method.begin_phase("translate", 2)
    reference = copy.deepcopy(method.model)
    reference.train()
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3, betas=(0.5, 0.999))
    data = batch()
    method.update("translate", 0, data)
    loss = F.cross_entropy(reference(data.source_x), data.source_y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # only its own cross-entropy moved it: the semantic loss's gradient never reaches its weights
    expected, got = state(reference), state(method.model)
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[k], got[k], atol=1e-6) for k in expected)


def test_frozen_semantic_classifier_stays_as_the_source_phase_left_it():
    torch.manual_seed(0)
    method = build(dropout=0.5, semantic_classifier="frozen", semantic_batch_norm="running")
    run_phase(method, "source")
    trained = state(method.model)
    for phase in ("translate", "task"):
        method.begin_phase(phase, 2)
        for step in range(2):
            assert not method.model.training  # running statistics, no dropout, even after train()
            logs = method.update(phase, step, batch())
            method.eval()
            method.train()
        assert all(not p.requires_grad for p in method.model.parameters())
        assert same(state(method.model), trained)  # weights and batch-norm statistics untouched
        if phase == "translate":
            assert logs["semantic_on"].item() == 1.0 and logs["semantic_loss"].item() > 0
            assert "classifier_loss" not in logs
        x = images()
        assert torch.equal(method.model(x), method.model(x))


def _after_source(**overrides):
    torch.manual_seed(0)
    method = build(**overrides)
    run_phase(method, "source")
    method.begin_phase("translate", 2)
    return method


def _with(method, **hparams):
    twin = copy.deepcopy(method)
    twin.hparams = {**twin.hparams, **hparams}
    return twin


def test_semantic_loss_is_off_while_the_classifier_loss_is_above_the_threshold():
    method = _after_source()
    data = batch()
    with torch.no_grad():  # the loss the step will measure: train mode on this source batch (no dropout here)
        loss = F.cross_entropy(copy.deepcopy(method.model)(data.source_x), data.source_y).item()
    assert loss > 0.5
    above, below = _with(method, semantic_threshold=loss * 0.99), _with(method, semantic_threshold=loss * 1.01)
    unweighted = _with(method, semantic_weight=0.0, semantic_threshold=loss * 1.01)
    off, on, plain = (twin.update("translate", 0, data) for twin in (above, below, unweighted))
    for logs in (off, on):
        assert logs["classifier_loss"].item() == pytest.approx(loss, rel=1e-5)
    assert off["semantic_on"].item() == 0.0 and off["semantic_loss"].item() == 0.0
    assert on["semantic_on"].item() == 1.0 and on["semantic_loss"].item() > 0.01
    # off, the generators take exactly the step they take without any semantic term; on, another one
    assert same(state(above.generator_st), state(unweighted.generator_st))
    assert same(state(above.generator_ts), state(unweighted.generator_ts))
    assert not same(state(below.generator_st), state(unweighted.generator_st))
    assert plain["semantic_on"].item() == 1.0


def test_semantic_loss_is_off_for_a_classifier_no_better_than_chance():
    method = _after_source()
    with torch.no_grad():  # confidently wrong: the source labels of batch() are arange(n) % K
        method.model.head.weight.zero_()
        method.model.head.bias.copy_(torch.tensor([0.0, 10.0, 10.0]))
    logs = method.update("translate", 0, batch())
    assert logs["classifier_loss"].item() > 1.0  # the default threshold, 1.0
    assert logs["semantic_on"].item() == 0.0 and logs["semantic_loss"].item() == 0.0


def _batch_norm_passes(method):
    """Records (input, output) of f_s's first batch-norm layer at every forward pass of f_s."""
    layer = method.model.bottleneck[1]
    assert isinstance(layer, nn.BatchNorm1d)
    passes = []
    inputs = []
    method.model.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach()))
    layer.register_forward_hook(  # copies: the ReLU after it works in place
        lambda module, args, out: passes.append((args[0].detach().clone(), out.detach().clone())))
    return layer, inputs, passes


def _normalised(h, mean, var, layer, affine=None):
    weight, bias = affine or (layer.weight.detach(), layer.bias.detach())
    return (h - mean) / torch.sqrt(var + layer.eps) * weight + bias


def test_target_images_and_translated_source_are_normalised_with_their_own_batch_statistics():
    method = _after_source(semantic_threshold=100.0)  # the semantic loss on
    layer, inputs, passes = _batch_norm_passes(method)
    source_mean, source_var = layer.running_mean.clone(), layer.running_var.clone()
    affine = layer.weight.detach().clone(), layer.bias.detach().clone()  # f_s steps at the end of the step
    data = Batch(source_x=images(), source_y=torch.arange(8) % NUM_CLASSES, target_x=images(shift=0.8) * 0.3)
    translated_source = method.generator_st(data.source_x).detach()
    method.update("translate", 0, data)
    # f_s's own training pass on x_s, then x_s and x_t labelled, then G_st(x_s) and G_ts(x_t) judged
    assert len(passes) == 5
    assert torch.equal(inputs[0], data.source_x) and torch.equal(inputs[1], data.source_x)
    assert torch.equal(inputs[2], data.target_x)
    assert torch.allclose(inputs[3], translated_source, atol=1e-6)
    for h, out in passes:
        own = _normalised(h, h.mean(0), h.var(0, unbiased=False), layer, affine)
        assert torch.allclose(out, own, atol=1e-4)
    target_h, target_out = passes[2]
    assert not torch.allclose(target_out, _normalised(target_h, source_mean, source_var, layer, affine), atol=1e-2)
    assert (target_h.mean(0) - source_mean).abs().max() > 0.05  # the domains' statistics do differ here
    # only f_s's source training moved the running statistics
    momentum = layer.momentum
    source_h = passes[0][0]
    assert torch.allclose(layer.running_mean, (1 - momentum) * source_mean + momentum * source_h.mean(0), atol=1e-6)


def test_running_batch_norm_labels_target_images_with_the_source_statistics():
    method = _after_source(semantic_threshold=100.0, semantic_batch_norm="running")
    layer, inputs, passes = _batch_norm_passes(method)
    data = Batch(source_x=images(), source_y=torch.arange(8) % NUM_CLASSES, target_x=images(shift=0.8) * 0.3)
    with torch.no_grad():
        method.semantic_loss(data.source_x, data.source_x, data.target_x, data.target_x)
    target_h, target_out = passes[1]
    assert torch.equal(inputs[1], data.target_x)
    assert torch.allclose(target_out, _normalised(target_h, layer.running_mean, layer.running_var, layer), atol=1e-5)


def test_the_labelling_passes_run_without_dropout_and_leave_the_mode_as_it_was():
    method = _after_source(dropout=0.5)
    statistics = state(method.model)
    x = images()
    with torch.no_grad(), method.labelling() as classifier:
        assert torch.equal(classifier(x), classifier(x))  # no dropout
    assert same(state(method.model), statistics)  # running statistics untouched
    assert method.model.training and all(m.training for m in method.model.modules())


def test_trained_classifier_and_domain_statistics_run_on_segmentation():
    torch.manual_seed(0)
    method = build_dense(semantic_classifier="trained", semantic_batch_norm="domain", semantic_threshold=100.0)
    run_phase(method, "source", 1, dense_batch)
    trained = state(method.model)
    logs = run_phase(method, "translate", 2, dense_batch)
    assert logs["semantic_on"].item() == 1.0 and logs["semantic_loss"].item() > 0
    assert not same(state(method.model), trained)
    run_phase(method, "task", 1, dense_batch)
    default = build_dense()  # segmentation's default: the fixed f_s of before
    run_phase(default, "source", 1, dense_batch)
    trained = state(default.model)
    logs = run_phase(default, "translate", 1, dense_batch)
    assert same(state(default.model), trained) and not default.model.training
    assert "classifier_loss" not in logs


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
    # the translate phase (the runner skips the source phase) starts f_s from them and trains it
    method.begin_phase("translate", 2)
    assert same(state(method.model), state(source_only))
    method.update("translate", 0, batch())
    assert not same(state(method.model), state(source_only))


# Networks and images

def test_generators_are_the_same_network_in_train_and_eval_mode():
    torch.manual_seed(0)
    method = build(channels=3)
    run_phase(method, "source", 1, lambda: batch(4, 3))
    run_phase(method, "translate", 1, lambda: batch(4, 3))
    x = images(4, 3)
    for generator in (method.generator_st, method.generator_ts):
        # instance norm without running statistics, no dropout: nothing depends on the mode
        assert not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in generator.modules())
        assert all(not getattr(m, "track_running_stats", False) for m in generator.modules())
        generator.train()
        with torch.no_grad():
            trained = generator(x)
        generator.eval()
        with torch.no_grad():
            assert torch.equal(generator(x), trained)
        generator.train()


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
