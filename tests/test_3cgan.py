"""3C-GAN mechanics on tiny models and random tensors (the conformance test runs it end to end)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import udabench.losses as losses
from methodkit import TinyBackbone, check_logs, same, state
from udabench.api import (Batch, MethodContext, is_batch_norm, kl_from_logits, running_stats_untouched,
                          virtual_adversarial_perturbation)
from udabench_3cgan.method import ConditionalGenerator, Discriminator, ThreeCGAN
from udabench_3cgan.plugin import udabench_methods

NUM_CLASSES, CHANNELS, RESOLUTION = 3, 1, 8


def build(dropout=0.0, **overrides) -> ThreeCGAN:
    hparams = {**udabench_methods()[0].hparams, "bottleneck_dim": 8, "dropout": dropout, "noise_dim": 4,
               "generator_width": 8, "discriminator_width": 8, "samples_per_class": 5, "classifier_warmup": 0.0,
               **overrides}
    context = MethodContext(NUM_CLASSES, CHANNELS, RESOLUTION, hparams, {"source": 2, "adapt": 3},
                            lambda: TinyBackbone(CHANNELS, RESOLUTION, dropout))
    method = ThreeCGAN(context)
    method.train()
    return method


def images(n=8):
    return torch.randn(n, CHANNELS, RESOLUTION, RESOLUTION).clamp(-1, 1)


def train_source(method, steps=2):
    method.begin_phase("source", steps)
    for step in range(steps):
        check_logs(method.update("source", step, Batch(source_x=images(), source_y=torch.arange(8) % NUM_CLASSES)))


def adapt(method, steps=3):
    method.begin_phase("adapt", steps)
    logs = None
    for step in range(steps):
        logs = method.update("adapt", step, Batch(target_x=images() + 0.5))
        check_logs(logs)
    return logs


def test_adapt_phase_runs_on_a_batch_holding_only_target_images():
    torch.manual_seed(0)
    method = build()
    method.begin_phase("adapt", 2)  # no source phase either: a fresh classifier adapts
    batch = Batch(target_x=images())
    assert batch.source_x is None and batch.source_y is None
    logs = method.update("adapt", 0, batch)
    check_logs(logs)
    assert {"discriminator_loss", "generator_adv_loss", "generator_semantic_loss", "classifier_loss",
            "classifier_generated_loss", "target_entropy", "vat_kl", "weight_distance"} <= logs.keys()


def test_spec_is_source_free_with_a_source_phase_and_documented_hyperparameters():
    spec = udabench_methods()[0]
    assert spec.name == "3cgan" and spec.setting == "source-free"
    assert [(p.name, p.inputs, p.steps_param) for p in spec.phases] == [
        ("source", frozenset({"source"}), "source_steps"), ("adapt", frozenset({"target"}), None)]
    for name in ("lambda_s", "lambda_g", "lambda_w", "lambda_clu", "vat_xi", "vat_epsilon", "classifier_lr"):
        assert isinstance(spec.hparams[name], float)


def test_weight_regulariser_is_zero_at_the_start_of_adapt_and_pulls_towards_the_source_weights():
    torch.manual_seed(0)
    method = build()
    train_source(method)
    method.begin_phase("adapt", 3)
    assert method.weight_regulariser().item() == 0.0
    with torch.no_grad():
        for p in method.model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    regulariser = method.weight_regulariser()
    assert regulariser.item() > 0
    regulariser.backward()
    source = dict(method.source_model.named_parameters())
    before = regulariser.item()
    for name, p in method.model.named_parameters():
        towards_source = source[name] - p.detach()
        assert torch.allclose(p.grad, -2.0 * towards_source)  # gradient of ||theta - theta_s||^2
        assert (-p.grad * towards_source).sum() > 0  # a descent step moves towards theta_s
        assert source[name].grad is None
    with torch.no_grad():
        for p in method.model.parameters():
            p.sub_(0.1 * p.grad)
    assert method.weight_regulariser().item() == pytest.approx(0.64 * before, rel=1e-4)


def test_frozen_source_copy_does_not_change_during_adapt_while_the_classifier_does():
    torch.manual_seed(0)
    method = build()
    train_source(method)
    trained = state(method.model)
    method.begin_phase("adapt", 3)
    assert same(state(method.source_model), trained)
    adapt_logs = None
    for step in range(3):
        adapt_logs = method.update("adapt", step, Batch(target_x=images() + 0.5))
    check_logs(adapt_logs)
    assert same(state(method.source_model), trained)
    assert not same(state(method.model), trained)
    assert all(not p.requires_grad and p.grad is None for p in method.source_model.parameters())
    assert adapt_logs["weight_distance"].item() > 0


def test_classifier_stays_the_source_model_during_the_warmup():
    torch.manual_seed(0)
    method = build(classifier_warmup=0.5, target_statistics_steps=0)
    train_source(method)
    trained, generator = state(method.model), state(method.generator)
    method.begin_phase("adapt", 4)
    for step in range(2):
        logs = method.update("adapt", step, Batch(target_x=images()))
        check_logs(logs)
        assert "classifier_loss" not in logs and "generator_semantic_loss" in logs
    assert same(state(method.model), trained)  # running statistics included
    assert not same(state(method.generator), generator)
    assert "classifier_loss" in method.update("adapt", 2, Batch(target_x=images()))
    assert not same(state(method.model), trained)


def test_the_labeller_takes_target_statistics_before_the_generator_learns_from_it():
    torch.manual_seed(0)
    method = build(classifier_warmup=0.5, target_statistics_steps=2)
    train_source(method)
    parameters = {name: p.detach().clone() for name, p in method.model.named_parameters()}
    layers = [m for m in method.model.modules() if is_batch_norm(m)]
    source_means = [layer.running_mean.clone() for layer in layers]
    target = [images() + 0.5, images() - 0.25]
    method.begin_phase("adapt", 4)
    for step, x in enumerate(target):
        method.update("adapt", step, Batch(target_x=x))
    assert all(torch.equal(p, parameters[name]) for name, p in method.model.named_parameters())
    # The running mean is now the plain average of the two target batches' means: AdaBN.
    features = method.model.backbone
    with torch.no_grad():
        expected = torch.stack([method.model.bottleneck[0](features(x)).mean(0) for x in target]).mean(0)
    assert torch.allclose(layers[-1].running_mean, expected, atol=1e-5)
    assert not torch.allclose(layers[-1].running_mean, source_means[-1])
    method.update("adapt", 2, Batch(target_x=images()))
    assert all(layer.momentum == 0.1 for layer in layers)  # back to the usual exponential average


def test_vat_perturbation_has_the_configured_norm_per_sample_and_is_adversarial():
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(CHANNELS * RESOLUTION * RESOLUTION, NUM_CLASSES))
    x = images(16)
    with torch.no_grad():
        clean = classifier(x)
    for epsilon in (0.5, 3.5):
        r = virtual_adversarial_perturbation(classifier, x, clean, xi=1e-6, epsilon=epsilon)
        assert r.shape == x.shape and not r.requires_grad
        assert torch.allclose(r.flatten(1).norm(dim=1), torch.full((16,), epsilon), rtol=1e-4)
    assert all(p.grad is None for p in classifier.parameters())
    # the power-iteration direction moves predictions more than random directions of the same norm
    r = virtual_adversarial_perturbation(classifier, x, clean, xi=1e-6, epsilon=0.5)
    random_r = torch.randn_like(x)
    random_r = 0.5 * random_r / random_r.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    with torch.no_grad():
        assert kl_from_logits(clean, classifier(x + r)) > 2 * kl_from_logits(clean, classifier(x + random_r))


def test_classifier_update_uses_a_vat_perturbation_of_norm_vat_epsilon(monkeypatch):
    torch.manual_seed(0)
    method = build(vat_epsilon=1.7)
    method.begin_phase("adapt", 1)
    seen = []

    def spy(*args, **kwargs):
        r = virtual_adversarial_perturbation(*args, **kwargs)
        seen.append(r)
        return r

    monkeypatch.setattr(losses, "virtual_adversarial_perturbation", spy)
    method.update("adapt", 0, Batch(target_x=images()))
    assert len(seen) == 1 and seen[0].shape == (8, CHANNELS, RESOLUTION, RESOLUTION)
    assert torch.allclose(seen[0].flatten(1).norm(dim=1), torch.full((8,), 1.7), rtol=1e-4)


def test_generator_semantic_loss_uses_the_sampled_labels(monkeypatch):
    torch.manual_seed(0)
    method = build()
    method.begin_phase("adapt", 2)
    with torch.no_grad():  # C answers class 0 with logit 20 whatever it sees
        method.model.head.weight.zero_()
        method.model.head.bias.copy_(torch.tensor([20.0, 0.0, 0.0]))
    losses = {}
    for label in (0, 1):
        monkeypatch.setattr(method, "sample_labels",
                            lambda n, label=label: torch.full((n,), label, dtype=torch.long))
        losses[label] = method.update("adapt", 0, Batch(target_x=images()))["generator_semantic_loss"].item()
        with torch.no_grad():
            method.model.head.weight.zero_()
            method.model.head.bias.copy_(torch.tensor([20.0, 0.0, 0.0]))
    assert losses[0] < 1e-3 and losses[1] == pytest.approx(20.0, abs=1e-2)


def test_labels_are_uniform_and_only_the_generator_gets_gradient_from_its_loss():
    torch.manual_seed(0)
    method = build()
    method.begin_phase("adapt", 2)
    counts = torch.bincount(method.sample_labels(30000), minlength=NUM_CLASSES).float() / 30000
    assert torch.allclose(counts, torch.full((NUM_CLASSES,), 1 / NUM_CLASSES), atol=0.02)
    noise = method.sample_noise(4)
    for label in range(1, NUM_CLASSES):  # the class changes what G draws
        assert not torch.allclose(method.generator(torch.zeros(4, dtype=torch.long), noise),
                                  method.generator(torch.full((4,), label), noise))
    labels = method.sample_labels(8)
    loss, _, _, recognised = method.generator_loss(method.generator(labels, method.sample_noise(8)), labels)
    loss.backward()
    assert all(p.grad is None for p in method.model.parameters())
    assert all(p.grad is None for p in method.discriminator.parameters())
    assert all(p.grad is not None for p in method.generator.parameters())
    assert all(p.requires_grad for p in method.model.parameters())
    assert all(p.requires_grad for p in method.discriminator.parameters())
    assert method.model.training  # the eval-mode pass of the fixed C leaves C's mode as it was
    with torch.no_grad():  # the fraction recognised is C's eval-mode accuracy on the samples
        samples = method.generator(labels, method.sample_noise(8))
        method.model.eval()
        expected = (method.model(samples).argmax(1) == labels).float().mean()
    _, _, _, recognised = method.generator_loss(samples, labels)
    assert recognised.item() == expected.item() and not recognised.requires_grad


def test_batch_norm_in_adapt_updates_running_statistics_once_per_step_and_dropout_is_off():
    torch.manual_seed(0)
    method = build(dropout=0.5, target_statistics_steps=0)
    train_source(method)
    batch_norm = method.model.bottleneck[1]
    tracked = batch_norm.num_batches_tracked.item()
    adapt(method, steps=3)  # one joint pass per step; G's pass and the VAT passes leave the statistics
    assert batch_norm.num_batches_tracked.item() == tracked + 3
    assert batch_norm.training
    assert all(not m.training for m in method.model.modules() if isinstance(m, nn.Dropout))
    method.eval()
    method.train()  # the runner's evaluation switches modes; dropout must stay off
    assert all(not m.training for m in method.model.modules() if isinstance(m, nn.Dropout))

    frozen = build(adapt_batch_stats=False, target_statistics_steps=0)
    train_source(frozen)
    statistics = {k: v for k, v in state(frozen.model.bottleneck[1]).items() if k.startswith(("running", "num"))}
    adapt(frozen, steps=2)
    assert not frozen.model.bottleneck[1].training  # the source running statistics normalise throughout
    after = {k: v for k, v in state(frozen.model.bottleneck[1]).items() if k.startswith(("running", "num"))}
    assert len(after) == 3 and same(after, statistics)


def test_load_source_weights_lets_adapt_start_without_a_source_phase():
    torch.manual_seed(0)
    trained = build()
    train_source(trained)
    checkpoint = state(trained)
    for weights in (checkpoint, {k: v for k, v in checkpoint.items() if k.startswith("model.")}):
        method = build(target_statistics_steps=0)  # the source statistics kept, to compare predictions
        method.load_source_weights(weights)
        assert same(state(method.model), state(trained.model))
        method.begin_phase("adapt", 2)
        assert same(state(method.source_model), state(trained.model))
        method.eval()
        trained.eval()
        x = images()
        with torch.no_grad():
            assert torch.equal(method.predict(x), trained.predict(x))
        method.train()
        trained.train()
        check_logs(method.update("adapt", 0, Batch(target_x=images())))


def test_snapshot_shows_one_row_of_generated_samples_per_class():
    torch.manual_seed(0)
    method = build(samples_per_class=5)
    method.eval()
    assert method.snapshot() == {}  # nothing generated before the adapt phase
    method.train()
    adapt(method, steps=2)
    method.eval()
    running = {k: v.clone() for k, v in method.generator.state_dict().items() if "running" in k}
    with torch.no_grad():
        grids = method.snapshot()
        assert set(grids) == {"generated"}
        grid, per_row = grids["generated"]
        assert per_row == 5 and grid.shape == (NUM_CLASSES * 5, CHANNELS, RESOLUTION, RESOLUTION)
        assert torch.isfinite(grid).all() and grid.abs().max() <= 1.0 and grid.std() > 0
        # One row per class, drawn as C's training samples are: G on batch statistics, and its
        # running statistics left as they were.
        assert all(torch.equal(v, method.generator.state_dict()[k]) for k, v in running.items())
        method.generator.train()
        with running_stats_untouched(method.generator):
            expected = method.generator(torch.arange(NUM_CLASSES).repeat_interleave(5), method.snapshot_noise)
        method.generator.eval()
        assert torch.allclose(grid, expected)
        assert torch.equal(method.snapshot()["generated"][0], grid)  # fixed noise: comparable grids


@pytest.mark.parametrize("channels,resolution", [(1, 28), (3, 32), (3, 40), (1, 30), (3, 16)])
def test_generator_and_discriminator_fit_the_task_resolution(channels, resolution):
    torch.manual_seed(0)
    generator = ConditionalGenerator(10, 16, channels, resolution, 8)
    discriminator = Discriminator(channels, resolution, 8)
    x = generator(torch.arange(4), torch.randn(4, 16))
    assert x.shape == (4, channels, resolution, resolution)
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert discriminator(x).shape == (4,)


def test_generated_samples_teach_the_classifier_only_once_the_gate_opens():
    torch.manual_seed(0)
    method = build(generated_gate=0.7, semantic_average_decay=0.5, target_statistics_steps=0)
    train_source(method)
    method.begin_phase("adapt", 6)
    assert method.semantic_average.item() < 0 and not method.generated_gate_open()
    method.semantic_average.fill_(0.1)  # a class-less generator: C recognises a tenth of its samples
    seen = []
    original = method.classifier_loss

    def spy(generated, labels, target, use_generated=True):
        loss, logs = original(generated, labels, target, use_generated)
        seen.append((use_generated, loss.item(), logs["classifier_generated_loss"].item(), logs))
        return loss, logs

    method.classifier_loss = spy
    logs = method.update("adapt", 0, Batch(target_x=images()))
    check_logs(logs)
    shut, loss, generated_loss, parts = seen[-1]
    assert not shut and logs["generated_gate_open"].item() == 0.0
    hp = method.hparams  # the generated samples' cross-entropy is logged, not learnt from
    rest = (hp["lambda_w"] * parts["weight_distance"] + hp["lambda_clu"]
            * (parts["target_entropy"] - hp["lambda_balance"] * parts["target_diversity"] + parts["vat_kl"]))
    assert loss == pytest.approx(rest.item(), rel=1e-5) and generated_loss > 0
    # The average follows the fraction of G's samples C recognised: half way to this step's value.
    recognised = logs["generated_recognised"].item()
    assert 0.0 <= recognised <= 1.0
    assert method.semantic_average.item() == pytest.approx(0.5 * 0.1 + 0.5 * recognised, rel=1e-5)
    method.semantic_average.fill_(0.9)  # G's samples are recognised as their classes: the gate opens
    logs = method.update("adapt", 1, Batch(target_x=images()))
    assert seen[-1][0] and logs["generated_gate_open"].item() == 1.0
    assert "semantic_average" in method.state_dict()  # a resumed run keeps the average


def test_the_first_step_starts_the_average_at_the_fraction_recognised():
    torch.manual_seed(0)
    method = build(generated_gate=0.7, target_statistics_steps=0)
    method.begin_phase("adapt", 2)
    logs = method.update("adapt", 0, Batch(target_x=images()))
    assert method.semantic_average.item() == pytest.approx(logs["generated_recognised"].item())


def test_a_gate_of_zero_learns_from_generated_samples_from_the_first_step():
    torch.manual_seed(0)
    method = build(generated_gate=0.0)
    method.begin_phase("adapt", 2)
    assert method.generated_gate_open()
    assert method.update("adapt", 0, Batch(target_x=images()))["generated_gate_open"].item() == 1.0


def test_the_realism_gate_also_needs_samples_that_the_discriminator_takes_for_target_images():
    torch.manual_seed(0)
    method = build(generated_gate=0.7, realism_gate=0.2, semantic_average_decay=0.5, target_statistics_steps=0)
    method.begin_phase("adapt", 4)
    assert method.fooled_average.item() < 0 and "fooled_average" in method.state_dict()
    method.semantic_average.fill_(0.9)
    method.fooled_average.fill_(0.01)  # C recognises G's classes, but D tells every sample apart
    assert not method.generated_gate_open()
    logs = method.update("adapt", 0, Batch(target_x=images()))
    assert logs["generated_gate_open"].item() == 0.0 and 0.0 <= logs["generated_fooled"].item() <= 1.0
    assert method.fooled_average.item() == pytest.approx(0.5 * 0.01 + 0.5 * logs["generated_fooled"].item(),
                                                         rel=1e-5)
    method.semantic_average.fill_(0.9)
    method.fooled_average.fill_(0.5)
    assert method.generated_gate_open()
    method.semantic_average.fill_(0.5)  # both conditions hold, or the gate stays shut
    assert not method.generated_gate_open()
