"""Label2Image-DA mechanics on tiny models and random tensors (the conformance test runs it end to end)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import udabench_label2image.method as label2image_module
from methodkit import TinyBackbone, check_logs, same, state
from udabench.api import Batch, MethodContext, vat_loss
from udabench.plugins import load_registry
from udabench_label2image.method import SAMPLES_PER_CLASS, ConditionalGenerator, Discriminator, Label2Image
from udabench_label2image.plugin import udabench_methods

NUM_CLASSES, CHANNELS, RESOLUTION, BATCH = 3, 1, 8, 8


def specs():
    return {spec.name: spec for spec in udabench_methods()}


def build(name="label2image", **overrides):
    hparams = {**specs()[name].hparams, "bottleneck_dim": 8, "noise_dim": 5, "generator_width": 4,
               "discriminator_width": 4, **overrides}
    context = MethodContext(NUM_CLASSES, CHANNELS, RESOLUTION, hparams,
                            {"source": 2, "gan": 3, "retrain": 3}, lambda: TinyBackbone(CHANNELS, RESOLUTION))
    method = Label2Image(context)
    method.train()
    return method


def images(n=BATCH):
    return torch.randn(n, CHANNELS, RESOLUTION, RESOLUTION)


def source_batch():
    return Batch(source_x=images(), source_y=torch.arange(BATCH) % NUM_CLASSES)


def retrain_batch():
    return Batch(source_x=images(), source_y=torch.arange(BATCH) % NUM_CLASSES, target_x=images() + 1.0)


def run_phase(method, phase, steps, make_batch):
    method.begin_phase(phase, steps)
    logs = None
    for step in range(steps):
        logs = method.update(phase, step, make_batch())
        check_logs(logs)
        method.eval()  # the runner's snapshots and evaluations switch modes in between
        method.train()
    return logs


def through_gan(method, gan_steps=2):
    run_phase(method, "source", 2, source_batch)
    run_phase(method, "gan", gan_steps, lambda: Batch(target_x=images() + 1.0))


def rig_task_model_to_answer_class_zero(method):
    with torch.no_grad():
        method.model.head.weight.zero_()
        method.model.head.bias.copy_(torch.tensor([20.0] + [0.0] * (NUM_CLASSES - 1)))


# registration

def test_both_names_are_registered_from_one_factory_with_their_default_of_reg():
    registry = load_registry(warn=False)
    plain, regularised = registry.get("methods", "label2image"), registry.get("methods", "label2image-reg")
    assert plain.factory == regularised.factory == "udabench_label2image.method:Label2Image"
    assert plain.hparams["reg"] is False and regularised.hparams["reg"] is True
    assert {k: v for k, v in plain.hparams.items() if k != "reg"} == \
           {k: v for k, v in regularised.hparams.items() if k != "reg"}
    for spec in (plain, regularised):
        assert spec.setting == "uda"
        assert [(p.name, set(p.inputs), p.steps_param) for p in spec.phases] == [
            ("source", {"source"}, "source_steps"), ("gan", {"target"}, "gan_steps"),
            ("retrain", {"source", "target"}, None)]


# gan phase

def test_gan_phase_trains_generator_and_discriminator_and_leaves_the_task_model_alone():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source", 2, source_batch)
    task_model, generator, discriminator = state(method.model), state(method.generator), state(method.discriminator)
    method.begin_phase("gan", 3)
    for step in range(3):
        assert not method.model.training  # eval mode survives the runner's train() calls
        logs = method.update("gan", step, Batch(target_x=images() + 1.0))
        check_logs(logs)
        method.eval()
        method.train()
    assert {"discriminator_loss", "adversarial_loss", "semantic_loss", "semantic_accuracy"} <= logs.keys()
    weights = {k: v for k, v in state(method.model).items() if "running" not in k and "num_batches" not in k}
    assert same(weights, {k: task_model[k] for k in weights})
    assert all(p.grad is None for p in method.model.parameters())
    assert not same(state(method.generator), generator)
    assert not same(state(method.discriminator), discriminator)


def test_the_fixed_task_model_labels_with_target_statistics():
    torch.manual_seed(0)
    for steps, changed in ((0, False), (2, True)):
        method = build(target_statistics_steps=steps)
        run_phase(method, "source", 2, source_batch)
        before = state(method.model)
        method.begin_phase("gan", 3)
        for step in range(3):
            method.update("gan", step, Batch(target_x=images() + 1.0))
        statistics = [k for k in before if "running_mean" in k]
        assert statistics and all(same({k: state(method.model)[k]}, {k: before[k]}) != changed for k in statistics)
        layers = [m for m in method.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert all(layer.momentum == 0.1 for layer in layers)  # restored once re-estimated


def test_semantic_loss_targets_the_sampled_labels_and_its_gradient_reaches_the_generator_only():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source", 2, source_batch)
    method.begin_phase("gan", 3)
    noise = torch.randn(BATCH, 5)
    labels = torch.arange(BATCH) % NUM_CLASSES
    _, semantic, _ = method.generator_losses(labels, method.generator(labels, noise))
    semantic.backward()
    weighted = [m for m in method.generator.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in weighted)
    assert all(p.grad is None for p in method.model.parameters())
    assert all(p.grad is None for p in method.discriminator.parameters())

    rig_task_model_to_answer_class_zero(method)
    zeros, ones = torch.zeros(BATCH, dtype=torch.long), torch.ones(BATCH, dtype=torch.long)
    _, agreeing, accuracy = method.generator_losses(zeros, method.generator(zeros, noise))
    _, disagreeing, _ = method.generator_losses(ones, method.generator(ones, noise))
    assert agreeing.item() < 1e-3 and disagreeing.item() > 10.0 and accuracy.item() == 1.0


def test_gan_step_scores_the_generator_on_the_labels_it_drew(monkeypatch):
    torch.manual_seed(0)
    method = build(semantic_weight=1.0)
    run_phase(method, "source", 2, source_batch)
    method.begin_phase("gan", 3)
    rig_task_model_to_answer_class_zero(method)
    losses = {}
    for label in (0, 1):
        monkeypatch.setattr(method, "sample_codes",
                            lambda n, device, label=label: (torch.full((n,), label), torch.randn(n, 5)))
        losses[label] = method.update("gan", 0, Batch(target_x=images()))["semantic_loss"].item()
    assert losses[0] < 1e-3 < 10.0 < losses[1]


def test_a_conditional_discriminator_judges_real_images_with_the_task_models_classes(monkeypatch):
    torch.manual_seed(0)
    assert build(conditional_discriminator=False).discriminator.embedding is None
    method = build(conditional_discriminator=True)
    run_phase(method, "source", 2, source_batch)
    method.begin_phase("gan", 3)
    rig_task_model_to_answer_class_zero(method)
    target = images()
    assert torch.equal(method.pseudo_labels(target), torch.zeros(BATCH, dtype=torch.long))
    with torch.no_grad():
        method.discriminator.embedding.weight.normal_()  # a projection that tells the classes apart
        zeros, ones = torch.zeros(BATCH, dtype=torch.long), torch.ones(BATCH, dtype=torch.long)
        assert not torch.allclose(method.discriminator(target, zeros), method.discriminator(target, ones))
    with pytest.raises(ValueError, match="labels"):
        method.discriminator(target)
    seen = []
    forward = method.discriminator.forward
    monkeypatch.setattr(method.discriminator, "forward", lambda x, labels=None: seen.append(labels) or forward(x, labels))
    drawn = torch.full((BATCH,), 2)
    monkeypatch.setattr(method, "sample_codes", lambda n, device: (drawn[:n], torch.randn(n, 5)))
    check_logs(method.update("gan", 0, Batch(target_x=target)))
    # D's step sees real images with the task model's class (0) and generated ones with theirs (2);
    # G's step sees its images with their class as well.
    assert [labels.tolist() for labels in seen] == [[0] * BATCH, [2] * BATCH, [2] * BATCH]


def test_the_semantic_loss_counts_from_semantic_start():
    def generator_unchanged(semantic_start):
        torch.manual_seed(0)
        method = build(semantic_start=semantic_start, target_statistics_steps=0)
        run_phase(method, "source", 2, source_batch)
        method.begin_phase("gan", 3)
        with torch.no_grad():  # D can give G no gradient, so only the semantic loss can move it
            for p in method.discriminator.parameters():
                p.zero_()
        before = state(method.generator)
        logs = method.update("gan", 0, Batch(target_x=images()))
        assert logs["semantic_loss"].item() > 0  # reported either way
        weights = {k: v for k, v in state(method.generator).items() if "running" not in k and "num_batches" not in k}
        return same(weights, {k: before[k] for k in weights})

    assert generator_unchanged(semantic_start=1)  # step 0: adversarial loss only
    assert not generator_unchanged(semantic_start=0)


# retrain phase

def test_retrain_trains_the_task_model_on_generated_pairs_with_their_sampled_labels(monkeypatch):
    torch.manual_seed(0)
    method = build(generated_batch_size=5)
    through_gan(method)
    method.begin_phase("retrain", 3)
    generator, task_model = state(method.generator), state(method.model)
    drawn, outputs = [], []
    original_forward = method.generator.forward

    def recording_forward(labels, noise):
        drawn.append(labels.clone())
        return original_forward(labels, noise)

    monkeypatch.setattr(method.generator, "forward", recording_forward)
    method.model.register_forward_hook(lambda module, inputs, output: outputs.append(output.detach()))
    logs = method.update("retrain", 0, retrain_batch())
    check_logs(logs)
    (labels,), (logits,) = drawn, outputs
    assert labels.shape == (5,) and logits.shape == (BATCH + 5 + BATCH, NUM_CLASSES)
    generated_logits = logits[BATCH:BATCH + 5]
    assert torch.allclose(logs["generated_loss"], F.cross_entropy(generated_logits, labels))
    assert not torch.allclose(logs["generated_loss"],
                              F.cross_entropy(generated_logits, (labels + 1) % NUM_CLASSES))
    assert torch.allclose(logs["source_loss"], F.cross_entropy(logits[:BATCH], torch.arange(BATCH) % NUM_CLASSES))
    assert same(state(method.generator), generator)  # fixed, batch-norm statistics included
    assert not same(state(method.model), task_model)
    assert not method.generator.training and method.model.training


def retrain_parts(name, monkeypatch=None):
    torch.manual_seed(0)
    method = build(name)
    through_gan(method)
    method.begin_phase("retrain", 3)
    torch.manual_seed(1)
    batch = retrain_batch()
    torch.manual_seed(2)
    return method, method.retrain_losses(batch)


def test_the_reg_variant_adds_a_non_zero_regulariser_and_the_plain_one_does_not(monkeypatch):
    def no_vat(*args, **kwargs):
        raise AssertionError("the plain variant must not compute the VAT term")

    with monkeypatch.context() as patch:
        patch.setattr(label2image_module, "vat_loss", no_vat)
        _, plain = retrain_parts("label2image")
    method, regularised = retrain_parts("label2image-reg")
    weight = method.hparams["generated_weight"]
    assert set(plain) == {"loss", "source_loss", "generated_loss"}
    assert torch.allclose(plain["loss"], plain["source_loss"] + weight * plain["generated_loss"])
    # identical weights and draws: the same supervised parts, plus the regulariser
    assert torch.equal(regularised["source_loss"], plain["source_loss"])
    assert torch.equal(regularised["generated_loss"], plain["generated_loss"])
    assert regularised["entropy"].item() > 0 and regularised["vat_loss"].item() > 0
    hp = method.hparams
    expected = hp["entropy_weight"] * regularised["entropy"] + hp["vat_weight"] * regularised["vat_loss"]
    assert torch.allclose(regularised["reg_loss"], expected) and regularised["reg_loss"].item() > 0
    assert torch.allclose(regularised["loss"] - plain["loss"], regularised["reg_loss"])
    method.optimizer.zero_grad(set_to_none=True)
    regularised["reg_loss"].backward()
    assert method.model.head.weight.grad.abs().sum() > 0


def test_vat_term_keeps_batch_norm_statistics_and_dropout_and_finds_a_sensitive_direction():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(32, 4))
    model.train()
    x = torch.randn(16, 1, 4, 4)
    before = state(model)
    assert vat_loss(model, x, epsilon=0.0, xi=0.01).item() == pytest.approx(0.0, abs=1e-6)
    adversarial = vat_loss(model, x, epsilon=1.0, xi=0.01)
    assert same(state(model), before)
    assert model[4].training and all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        model[4].eval()  # the same conditions as inside vat_loss, for a random direction of the same norm
        reference = F.log_softmax(model(x), dim=1)
        direction = torch.randn_like(x)
        direction = direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        random = F.kl_div(F.log_softmax(model(x + direction), dim=1), reference, log_target=True,
                          reduction="batchmean")
    assert adversarial.item() > 2 * random.item() > 0


# networks and snapshots

@pytest.mark.parametrize("resolution", [28, 30, 32, 40])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_fit_the_task_resolution(resolution, channels):
    generator = ConditionalGenerator(10, 8, channels, resolution, width=4)
    discriminator = Discriminator(channels, resolution, width=4)
    fake = generator(torch.arange(4), torch.randn(4, 8))
    assert fake.shape == (4, channels, resolution, resolution)
    assert fake.abs().max() <= 1.0
    assert discriminator(fake).shape == (4,)


def test_snapshot_shows_one_row_of_generated_samples_per_class(monkeypatch):
    torch.manual_seed(0)
    method = build()
    method.begin_phase("source", 2)
    assert method.snapshot() == {}  # nothing generated yet
    method.begin_phase("gan", 2)
    drawn = []
    original_forward = method.generator.forward
    monkeypatch.setattr(method.generator, "forward",
                        lambda labels, noise: drawn.append(labels.clone()) or original_forward(labels, noise))
    method.eval()
    with torch.no_grad():
        grid = method.snapshot()
    images_, per_row = grid["generated"]
    assert per_row == SAMPLES_PER_CLASS
    assert images_.shape == (NUM_CLASSES * SAMPLES_PER_CLASS, CHANNELS, RESOLUTION, RESOLUTION)
    assert torch.equal(drawn[0], torch.arange(NUM_CLASSES).repeat_interleave(SAMPLES_PER_CLASS))
    assert images_.abs().max() <= 1.0 and images_.std() > 0
    with torch.no_grad():
        assert torch.equal(method.snapshot()["generated"][0], images_)  # fixed noise: comparable grids
    method.train()
    assert method.generator.training and not method.model.training
    method.begin_phase("retrain", 2)
    assert method.snapshot()["generated"][0].shape == images_.shape
