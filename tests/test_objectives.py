"""Each method's objective in its direction, on tiny tensors in one or a few steps: the reversed
gradient reaches the features with the opposite sign and the scheduled coefficient, discriminators
learn to tell real from generated (not the reverse), a generator's adversarial loss falls as the
discriminator takes its samples for real, in every loss form a method offers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from methodkit import TinyBackbone, check_logs
from udabench.api import Batch, MethodContext, grl_coefficient
from udabench_3cgan.method import ThreeCGAN
from udabench_3cgan.plugin import udabench_methods as three_cgan_specs
from udabench_cycada.method import CyCADA
from udabench_cycada.plugin import udabench_methods as cycada_specs
from udabench_dann.method import DANN
from udabench_dann.plugin import udabench_methods as dann_specs
from udabench_label2image.method import Label2Image
from udabench_label2image.plugin import udabench_methods as label2image_specs

NUM_CLASSES, CHANNELS, RESOLUTION = 3, 1, 8


def build(method_class, spec, phase_steps, resolution=RESOLUTION, **overrides):
    hparams = {**spec.hparams, "bottleneck_dim": 8, "dropout": 0.0, **overrides}
    context = MethodContext(NUM_CLASSES, CHANNELS, resolution, hparams, phase_steps,
                            lambda: TinyBackbone(CHANNELS, resolution))
    method = method_class(context)
    method.train()
    return method


def images(n=8, shift=0.0, resolution=RESOLUTION):
    return (torch.rand(n, CHANNELS, resolution, resolution) * 0.4 - 0.2 + shift).clamp(-1, 1)


def run(method, phase, steps, make_batch, still=()):
    """``steps`` steps of ``phase``; the optimisers named in ``still`` take no step (learning rate 0)."""
    method.begin_phase(phase, steps)
    for name in still:
        for group in getattr(method, name).param_groups:
            group["lr"] = 0.0
    for step in range(steps):
        check_logs(method.update(phase, step, make_batch()))


# --- DANN -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [0, 3, 7])
def test_dann_sends_the_domain_gradient_to_the_features_reversed_and_scaled_by_the_scheduled_coefficient(step):
    torch.manual_seed(0)
    method = build(DANN, dann_specs()[0], {"train": 8}, discriminator_dim=16, trade_off=0.7)
    method.begin_phase("train", 8)
    seen = {}

    def keep_gradient(name):
        def hook(module, inputs, output):
            tensor = inputs[0] if name == "discriminator_input" else output
            tensor.register_hook(lambda grad: seen.__setitem__(name, grad.detach().clone()))
        return hook

    method.model.bottleneck.register_forward_hook(keep_gradient("features"))
    method.discriminator.register_forward_hook(keep_gradient("discriminator_input"))
    batch = Batch(source_x=images(), source_y=torch.arange(8) % NUM_CLASSES, target_x=images(shift=0.5))
    logs = method.update("train", step, batch)
    check_logs(logs)
    coefficient = grl_coefficient(step / 8, method.hparams["grl_gamma"])
    # Target rows carry no class loss: their feature gradient is the domain term's alone, reversed.
    target_features, target_discriminator = seen["features"][8:], seen["discriminator_input"][8:]
    assert target_discriminator.abs().sum() > 0  # the domain term is there and reaches the discriminator
    if coefficient == 0:
        assert torch.equal(target_features, torch.zeros_like(target_features))
    else:
        assert torch.allclose(target_features, -coefficient * target_discriminator, rtol=1e-5, atol=1e-9)


def test_dann_trains_its_discriminator_to_tell_the_domains_apart():
    torch.manual_seed(0)
    method = build(DANN, dann_specs()[0], {"train": 40}, discriminator_dim=16, grl_gamma=0.0)  # GRL at 0
    source, target = images(16), images(16, shift=0.6)
    run(method, "train", 40, lambda: Batch(source_x=source, source_y=torch.arange(16) % NUM_CLASSES,
                                           target_x=target))
    with torch.no_grad():  # as in training: one pass over both domains, batch statistics
        features = method.model.features(torch.cat([source, target]))
        logits = method.discriminator(features).squeeze(1)
    assert (logits[:16] > 0).float().mean() > 0.8 and (logits[16:] < 0).float().mean() > 0.8  # source 1, target 0


# --- 3C-GAN and Label2Image-DA: the class-conditional GANs ------------------------------------------


def three_cgan(**overrides):
    return build(ThreeCGAN, three_cgan_specs()[0], {"source": 2, "adapt": 30}, noise_dim=4, generator_width=8,
                 discriminator_width=8, discriminator_lr=0.01, classifier_warmup=1.0, **overrides)


def label2image(**overrides):
    return build(Label2Image, label2image_specs()[0], {"source": 2, "gan": 30, "retrain": 2}, noise_dim=4,
                 generator_width=4, discriminator_width=8, discriminator_lr=0.01, **overrides)


def discriminator_accuracy(method, real, real_labels=None):
    """The fraction of real images D scores above 0 and of generated ones below, read here and not
    from the method's own loss."""
    labels = torch.arange(real.shape[0]) % NUM_CLASSES
    noise = torch.randn(real.shape[0], method.hparams["noise_dim"])
    with torch.no_grad():
        method.eval()
        generated = method.generator(labels, noise)
        if real_labels is None:
            real_logits, fake_logits = method.discriminator(real), method.discriminator(generated)
        else:
            real_logits, fake_logits = method.discriminator(real, real_labels), method.discriminator(generated, labels)
        method.train()
    return torch.cat([real_logits > 0, fake_logits < 0]).float().mean().item()


@pytest.mark.parametrize("non_saturating", [True, False])
def test_3cgan_discriminator_learns_real_target_images_as_real(non_saturating):
    torch.manual_seed(0)
    method = three_cgan(non_saturating=non_saturating)
    real = images(16, shift=0.8)
    run(method, "adapt", 30, lambda: Batch(target_x=real), still=["generator_optimizer"])  # D against a fixed G
    assert discriminator_accuracy(method, real) > 0.75


@pytest.mark.parametrize("conditional", [True, False])
def test_label2image_discriminator_learns_real_target_images_as_real(conditional):
    torch.manual_seed(0)
    method = label2image(conditional_discriminator=conditional)
    real = images(16, shift=0.8)
    run(method, "source", 2, lambda: Batch(source_x=images(), source_y=torch.arange(8) % NUM_CLASSES))
    run(method, "gan", 30, lambda: Batch(target_x=real), still=["generator_optimizer"])  # D against a fixed G
    real_labels = method.pseudo_labels(real)
    assert discriminator_accuracy(method, real, real_labels) > 0.75


class FixedLogit(nn.Module):
    """A discriminator that gives every image the same learnable logit."""

    def __init__(self):
        super().__init__()
        self.logit = nn.Parameter(torch.zeros(()))

    def forward(self, x, labels=None):
        return self.logit.expand(x.shape[0]) + 0 * x.flatten(1).sum(1)


@pytest.mark.parametrize("non_saturating", [True, False])
def test_3cgan_generator_loss_falls_as_the_discriminator_takes_its_samples_for_real(non_saturating):
    method = three_cgan(non_saturating=non_saturating)
    method.discriminator = FixedLogit()
    labels = torch.arange(6) % NUM_CLASSES
    generated = method.generator(labels, torch.randn(6, 4)).detach().requires_grad_(True)
    losses = []
    for logit in (-2.0, 0.0, 2.0):
        method.discriminator.logit.data.fill_(logit)
        _, adversarial, _, _ = method.generator_loss(generated, labels)
        losses.append(adversarial.item())
    assert losses[0] > losses[1] > losses[2]


def test_label2image_generator_loss_falls_as_the_discriminator_takes_its_samples_for_real():
    method = label2image()
    method.discriminator = FixedLogit()
    labels = torch.arange(6) % NUM_CLASSES
    fake = method.generator(labels, torch.randn(6, 4)).detach()
    losses = []
    for logit in (-2.0, 0.0, 2.0):
        method.discriminator.logit.data.fill_(logit)
        losses.append(method.generator_losses(labels, fake)[0].item())
    assert losses[0] > losses[1] > losses[2]


# --- CyCADA: the image discriminators of the translate phase ----------------------------------------


@pytest.mark.parametrize("semantic_classifier", ["trained", "frozen"])
def test_cycada_image_discriminators_learn_each_domain_as_real_and_translations_as_fake(semantic_classifier):
    torch.manual_seed(0)
    method = build(CyCADA, {spec.name: spec for spec in cycada_specs()}["cycada-pixel"],
                   {"source": 2, "translate": 25, "task": 2}, resolution=16, generator_width=4, generator_blocks=1,
                   discriminator_width=4, translate_lr=0.005, semantic_classifier=semantic_classifier)
    source, target = images(8, shift=-0.6, resolution=16), images(8, shift=0.6, resolution=16)
    labels = torch.arange(8) % NUM_CLASSES
    run(method, "source", 2, lambda: Batch(source_x=source, source_y=labels))
    run(method, "translate", 25, lambda: Batch(source_x=source, source_y=labels, target_x=target),
        still=["generator_optimizer"])  # the discriminators against fixed translators
    with torch.no_grad():
        method.eval()
        target_real = method.discriminator_t(target).mean()
        target_fake = method.discriminator_t(method.generator_st(source)).mean()
        source_real = method.discriminator_s(source).mean()
        source_fake = method.discriminator_s(method.generator_ts(target)).mean()
    # LSGAN: real scored towards 1, translations towards 0
    assert target_real > target_fake and source_real > source_fake
    assert F.mse_loss(target_real, torch.ones(())) < F.mse_loss(target_fake, torch.ones(()))
