"""Label2Image-DA for segmentation: mechanics on a tiny network, and one short run on ``toy-scenes``."""

from __future__ import annotations

import pytest
import torch

import udabench_label2image.segmentation as seg_module
from methodkit import check_logs, same, state
from udabench.errors import UdabenchError
from udabench.api import Batch, MethodContext, mean_entropy, task_loss
from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, prepare
from udabench.specs import IGNORE_LABEL
from udabench_label2image.plugin import udabench_methods
from udabench_label2image.segmentation import (SAMPLES_PER_MAP, SNAPSHOT_MAPS, Label2ImageSeg,
                                               LabelToImageGenerator, one_hot_maps)
from udabench_toy.segnet import TinySegNet

K, C, H, W, BATCH = 4, 3, 12, 18, 6
TINY = {"noise_channels": 2, "generator_width": 4, "generator_blocks": 1, "discriminator_width": 4}


def spec():
    return {s.name: s for s in udabench_methods()}["label2image-seg"]


def build(**overrides):
    hparams = {**spec().hparams, **TINY, **overrides}
    context = MethodContext(K, C, (H, W), hparams, {"source": 2, "gan": 3, "retrain": 3},
                            lambda: TinySegNet(C, K, width=4), kind="segmentation")
    method = Label2ImageSeg(context)
    method.train()
    return method


def label_maps(n=BATCH):
    maps = torch.randint(0, K, (n, H, W))
    maps[:, 0, :] = IGNORE_LABEL  # a row of ignored pixels, as on the rims of real annotations
    return maps


def batch(source_x=None):
    return Batch(source_x=torch.randn(BATCH, C, H, W) if source_x is None else source_x,
                 source_y=label_maps(), target_x=torch.randn(BATCH, C, H, W) + 1.0)


def run_phase(method, phase, steps, make_batch=batch):
    method.begin_phase(phase, steps)
    logs = None
    for step in range(steps):
        logs = method.update(phase, step, make_batch())
        check_logs(logs)
        method.eval()  # the runner's snapshots and evaluations switch modes in between
        method.train()
    return logs


# registration

def test_registered_for_segmentation_with_the_classification_variants_phases_and_names():
    registry = load_registry(warn=False)
    seg = registry.get("methods", "label2image-seg")
    assert seg.factory == "udabench_label2image.segmentation:Label2ImageSeg"
    assert seg.setting == "uda" and seg.kinds == ("segmentation",)
    assert [(p.name, set(p.inputs), p.steps_param) for p in seg.phases] == [
        ("source", {"source"}, "source_steps"), ("gan", {"source", "target"}, "gan_steps"),
        ("retrain", {"source", "target"}, None)]
    assert seg.hparams["reg"] is False
    shared = {"gan_steps", "generator_width", "discriminator_width", "generator_lr", "discriminator_lr",
              "adam_beta1", "semantic_weight", "generated_weight", "reg", "entropy_weight", "vat_weight",
              "vat_epsilon", "vat_xi"}
    assert shared <= set(registry.get("methods", "label2image").hparams) & set(seg.hparams)
    assert "label2image-seg-reg" not in registry.names("methods")
    with pytest.raises(UdabenchError, match="segmentation"):
        prepare(registry, RunRequest(method="label2image-seg", task="mnist-usps", device="cpu"))


# the generator

def test_one_hot_maps_leave_ignored_pixels_empty():
    maps = label_maps(2)
    codes = one_hot_maps(maps, K)
    assert codes.shape == (2, K, H, W)
    assert torch.equal(codes[:, :, 0], torch.zeros(2, K, W))
    assert torch.equal(codes[:, :, 1:].argmax(1), maps[:, 1:]) and torch.all(codes[:, :, 1:].sum(1) == 1)


@pytest.mark.parametrize("size", [(32, 48), (17, 23)])
@pytest.mark.parametrize("spade", [True, False])
def test_generator_paints_images_of_the_label_maps_size(size, spade):
    generator = LabelToImageGenerator(K, 2, C, width=4, blocks=1, downsamplings=2, spade=spade)
    maps = torch.randint(0, K, (2, *size))
    fake = generator(one_hot_maps(maps, K), torch.randn(2, 2, *size))
    assert fake.shape == (2, C, *size) and fake.abs().max() <= 1.0


def test_the_layout_reaches_the_image_through_spade():
    torch.manual_seed(0)
    generator = LabelToImageGenerator(K, 2, C, width=4, blocks=1, downsamplings=2, spade=True)
    noise = torch.randn(1, 2, H, W)
    zeros, ones = torch.zeros(1, H, W, dtype=torch.long), torch.ones(1, H, W, dtype=torch.long)
    with torch.no_grad():
        assert not torch.allclose(generator(one_hot_maps(zeros, K), noise), generator(one_hot_maps(ones, K), noise))


# gan phase

def test_gan_phase_trains_generator_and_discriminator_and_leaves_the_network_alone():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source", 2)
    network, generator, discriminator = state(method.model), state(method.generator), state(method.discriminator)
    method.begin_phase("gan", 3)
    for step in range(3):
        assert not method.model.training  # eval mode survives the runner's train() calls
        # G paints the label maps only: NaN source images cannot reach any loss
        logs = method.update("gan", step, batch(source_x=torch.full((BATCH, C, H, W), float("nan"))))
        check_logs(logs)
        method.eval()
        method.train()
    assert {"discriminator_loss", "adversarial_loss", "semantic_loss", "semantic_accuracy"} <= logs.keys()
    assert same(state(method.model), network)  # weights and batch-norm statistics
    assert all(p.grad is None for p in method.model.parameters())
    assert not same(state(method.generator), generator)
    assert not same(state(method.discriminator), discriminator)


def test_semantic_loss_is_the_fixed_networks_pixel_loss_against_the_painted_maps():
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source", 2)
    method.begin_phase("gan", 3)
    maps = label_maps()
    fake = method.generate_from(maps)
    _, semantic, accuracy = method.generator_losses(maps, fake)
    with torch.no_grad():
        logits = method.model(fake)
    assert torch.allclose(semantic, task_loss(logits, maps))
    valid = maps != IGNORE_LABEL
    assert torch.allclose(accuracy, (logits.argmax(1) == maps)[valid].float().mean())
    semantic.backward()
    assert all(p.grad is not None for p in method.generator.parameters() if p.requires_grad)
    assert method.generator.head[1].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in method.model.parameters())
    assert all(p.grad is None for p in method.discriminator.parameters())


# retrain phase

def test_retrain_trains_the_network_on_generated_pairs_of_the_batchs_label_maps(monkeypatch):
    torch.manual_seed(0)
    method = build()
    run_phase(method, "source", 2)
    run_phase(method, "gan", 2)
    method.begin_phase("retrain", 3)
    generator, network = state(method.generator), state(method.model)
    painted, outputs = [], []
    original = method.generator.forward
    monkeypatch.setattr(method.generator, "forward",
                        lambda layout, noise: painted.append(layout.clone()) or original(layout, noise))
    method.model.register_forward_hook(lambda module, inputs, output: outputs.append(output.detach()))
    data = batch()
    logs = method.update("retrain", 0, data)
    check_logs(logs)
    (layout,), (logits,) = painted, outputs
    assert torch.equal(layout, one_hot_maps(data.source_y, K)) and logits.shape == (3 * BATCH, K, H, W)
    assert torch.allclose(logs["generated_loss"], task_loss(logits[BATCH:2 * BATCH], data.source_y))
    assert torch.allclose(logs["source_loss"], task_loss(logits[:BATCH], data.source_y))
    assert set(logs) == {"loss", "source_loss", "generated_loss"}
    assert same(state(method.generator), generator)  # fixed
    assert not same(state(method.model), network)
    assert not method.generator.training and method.model.training


def test_reg_adds_per_pixel_entropy_and_vat_on_dense_logits(monkeypatch):
    def parts(reg):
        torch.manual_seed(0)
        method = build(reg=reg)
        run_phase(method, "source", 2)
        run_phase(method, "gan", 1)
        method.begin_phase("retrain", 3)
        torch.manual_seed(1)
        data = batch()
        torch.manual_seed(2)
        return method, data, method.retrain_losses(data)

    with monkeypatch.context() as patch:
        patch.setattr(seg_module, "vat_loss", lambda *a, **k: (_ for _ in ()).throw(AssertionError("no VAT")))
        _, _, plain = parts(False)
    method, data, regularised = parts(True)
    assert set(regularised) == {"loss", "source_loss", "generated_loss", "entropy", "vat_loss", "reg_loss"}
    assert torch.equal(regularised["generated_loss"], plain["generated_loss"])
    assert 0 < regularised["entropy"].item() <= torch.log(torch.tensor(float(K))).item()
    assert regularised["vat_loss"].item() > 0
    hp = method.hparams
    assert torch.allclose(regularised["reg_loss"],
                          hp["entropy_weight"] * regularised["entropy"] + hp["vat_weight"] * regularised["vat_loss"])
    assert torch.allclose(regularised["loss"] - plain["loss"], regularised["reg_loss"])
    torch.manual_seed(2)  # the same generated images as in retrain_losses
    with torch.no_grad():  # the entropy is per pixel over the target rows of the joint pass
        logits = method.model(torch.cat([data.source_x, method.generate(data.source_y), data.target_x]))
    per_pixel = logits[2 * BATCH:].permute(0, 2, 3, 1).reshape(-1, K)
    assert torch.allclose(regularised["entropy"], mean_entropy(per_pixel), atol=1e-5)


# pictures

def test_snapshot_shows_fixed_label_maps_and_their_generated_images():
    torch.manual_seed(0)
    method = build()
    assert method.translate(torch.randn(2, C, H, W)) is None
    run_phase(method, "source", 1)
    assert method.snapshot() == {}
    first = batch()
    run_phase(method, "gan", 2, lambda: first)
    method.eval()
    with torch.no_grad():
        grid, per_row = method.snapshot()["generated"]
        again, _ = method.snapshot()["generated"]
    assert per_row == SAMPLES_PER_MAP + 1
    assert grid.shape == (SNAPSHOT_MAPS * per_row, C, H, W)
    rows = grid.view(SNAPSHOT_MAPS, per_row, C, H, W)
    assert torch.equal(rows[:, 0], method.colour_maps(first.source_y[:SNAPSHOT_MAPS]))
    assert torch.equal(grid, again)  # fixed noise: comparable grids
    assert rows[:, 1:].abs().max() <= 1.0 and rows[:, 1:].std() > 0


# one short run on the generated scenes

def test_short_run_on_toy_scenes(monkeypatch):
    recorded = {}
    original = Label2ImageSeg.begin_phase

    def recording(self, phase, steps):
        recorded[phase] = (state(self.model), state(self.generator))
        recorded["method"] = self
        return original(self, phase, steps)

    monkeypatch.setattr(Label2ImageSeg, "begin_phase", recording)
    registry = load_registry(warn=False)
    request = RunRequest(method="label2image-seg", task="toy-scenes", device="cpu", progress=False, steps=10,
                         batch_size=8, eval_points=1, log_every=20,
                         overrides={"source_steps": "60", "gan_steps": "120", "generator_width": "8",
                                    "discriminator_width": "8"})
    result = execute(prepare(registry, request), registry, request)
    assert result.status == "ok"
    assert 0.0 <= result.metrics["miou"] <= 1.0

    # Each record averages 20 steps. Over seeds 0-7 the last was 0.38-0.77 of the first (seed 0: 0.38).
    gan = [record["semantic_loss"] for record in result.history if record["phase"] == "gan"]
    assert len(gan) == 6
    assert gan[-1] < 0.85 * gan[0], gan

    method = recorded["method"]
    assert same(recorded["gan"][0], recorded["retrain"][0])  # T untouched by the gan phase
    assert same(recorded["retrain"][1], state(method.generator))  # G untouched by the retrain phase
    assert not same(recorded["gan"][1], recorded["retrain"][1])  # ... which it trained in the gan phase
    resolution = tuple(registry.get("tasks", "toy-scenes").resolution)
    method.eval()
    with torch.no_grad():
        grid, per_row = method.snapshot()["generated"]
        maps = torch.randint(0, K, (2, *resolution))
        assert method.generate(maps).shape == (2, C, *resolution)
    assert grid.shape == (SNAPSHOT_MAPS * per_row, C, *resolution)
