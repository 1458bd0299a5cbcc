"""3C-GAN: adapt a source classifier to the target with a class-conditional GAN, without source data.

Phase ``source`` (labelled source only, ``source_steps`` steps) trains the classifier C, the task
model (the task's backbone, the batch-normed bottleneck and a linear head), with cross-entropy and
the shared SGD recipe.

Phase ``adapt`` (target images only, ``--steps`` steps) first freezes a copy of C's parameters,
theta_Cs. A class-conditional generator G(y, z) and a discriminator D join C, and every step runs
three updates in this order:

1. D: maximise E[log D(x_t)] + E[log(1 - D(G(y, z)))], real target images against generated ones;
2. G, with C and D fixed: minimise l_adv + lambda_s * CE(C(G(y, z)), y), so the samples look like
   target images and C recognises the class they were generated for;
3. C: minimise lambda_g * CE(C(G(y, z)), y) + lambda_w * ||theta_C - theta_Cs||^2
   + lambda_clu * (mean entropy of C(x_t) + KL(C(x_t) || C(x_t + r))),

with y drawn uniformly over the classes, z ~ N(0, I), and r a virtual adversarial perturbation
(VAT): from a random direction of norm ``vat_xi`` per sample, one power-iteration step (the gradient
of the KL divergence with respect to the probe), rescaled to norm ``vat_epsilon`` per sample. The
clean prediction C(x_t) is a constant in the KL term, as in VAT. ``predict`` is C. The adapt phase
never sees a source image.

From the paper: the three players and their objectives, the class-conditional generator, the weight
regulariser towards the frozen source parameters and the clustering regulariser (entropy plus a
VAT-style smoothness term). The weights lambda_w = 1e-4 and lambda_clu = 0.1 (digits) and C's
learning rate 1e-3 are values attributed to the paper that could not be confirmed from its text:
treat them as a starting point. The same source gives lambda_s = 0.1, 1e-4 (G) and 4e-4 (D); see
below for why the defaults differ.

udabench's choices:

- networks: C is the task's backbone plus udabench's bottleneck and head. G is DCGAN-style: the
  one-hot class concatenated with ``noise_dim`` Gaussian noise, a linear projection to a small
  feature map, stride-2 transposed convolutions with batch norm and ReLU, and a tanh output; the
  number of stages follows ``context.resolution`` (two for 28 and 32 px, three for 40 px), and a map
  larger than the resolution is centre-cropped. D is DCGAN-style too: stride-2 convolutions with
  batch norm after all but the first and leaky ReLU, then one linear logit; it sees real and
  generated images in separate batches, as in DCGAN;
- G's tanh output in [-1, 1] is mapped to the task's normalised space (``tanh_to_task``: the
  identity under the digit and sign tasks' mean 0.5 / std 0.5, an affine map under ImageNet's);
- optimisers: Adam for all three with constant learning rates; G and D use DCGAN's 2e-4 and beta1
  0.5 (with the attributed 1e-4 for G and 4e-4 for D, D told every generated toy-digits-m image
  apart from the start and G made no visible progress in 400 steps; with 2e-4 for both the two
  stayed in balance); C uses default betas and no weight decay in the adapt phase (the weight
  regulariser takes its place);
- ``lambda_g`` = 0.1: C's cross-entropy on generated samples weighs a tenth of the classes'
  signal the paper's scheme gives it. On usps-mnist (seed 0, source-only run with the batch-normed
  bottleneck, target the full MNIST, batch 64, CPU) C with the gate shut, trained by the weight and
  clustering terms alone, went from 80.5 % (AdaBN) to 96-97 % by step 500; once the gate opened
  (G's rows readable, but some classes drawn as others: its 2s partly 9s and 3s) C fitted those
  samples to a loss of 0.03 and fell to 88.6 % at step 1,000 and 90.4 % at 2,000 with
  ``lambda_g`` = 1, against 96.5 % at 1,000 and 96.7 % at 1,500 with 0.1;
- ``lambda_s`` = 1 (AC-GAN's equal weighting of the class and adversarial terms): with 0.1 a
  usps-mnist generator's semantic loss was still 2.4 nats after 1,000 steps, its samples class-less
  against a discriminator that told 98 % of them apart; with 1.0 and C held
  fixed it fell to 2.0 at step 350, 1.0 at 650 and 0.47 at 950 (batch 64, CPU, seed 0);
- ``classifier_warmup`` (default 0.2): for that fraction of the adapt phase only D and G train and C
  stays the source model. G draws class-less noise for its first hundreds of steps, and training
  C to tell such samples apart by their sampled labels pushed its target predictions towards
  uniform and lowered target accuracy in short runs; 0 gives the per-iteration scheme from step 0;
- the gate on generated samples (``generated_gate``, default 0.7): C's cross-entropy on generated
  samples enters its loss only once the fixed C labels at least that fraction of G's samples with
  the class they were generated for, averaged exponentially with ``semantic_average_decay`` (0.98,
  about the last 50 steps); a fraction, not a loss, so that one gate means the same for 2 classes
  and for 43. Before that, G's samples carry no class, and training C to tell them apart by their
  sampled labels taught it to answer near-uniformly on them: in a usps-mnist run (lambda_s 0.1,
  no gate) C's loss on generated samples settled at 2.2-2.3 nats (ln 10 = 2.30), G's semantic loss
  with it, G never became class-conditional, and target accuracy fell from 80.5 % to 67.2 %. The semantic loss of CyCADA's
  official code is gated the same way (off while its classifier's loss is above 1). The weight and
  clustering terms train C from the end of the warm-up whether the gate is open or not;
- the generator's adversarial loss is the non-saturating -log D(G(y, z)) unless
  ``non_saturating`` is off; G's update reuses the batch that D just saw, and C's update draws a
  fresh batch from the updated G (without gradient to G), of the target batch's size;
- VAT: a radius of 3.5 (``vat_epsilon``) is the DIRT-T code's value for digits; its probe norm xi is
  1e-6, but in float32 that gradient pointed well away from the float64 one on the digit backbone
  (cosine about 0.2, the check behind ``label2image``'s ``vat_xi``), so ``vat_xi`` is 0.01 here too;
  directions are normalised per sample over all pixels, after a division by their largest absolute
  value for numerical safety; a sample whose gradient vanishes keeps its random direction;
- batch norm and dropout of C in the adapt phase: dropout is off (its noise would enter the KL term
  and the generated-sample loss). With ``adapt_batch_stats`` on (the default), C's update runs the
  generated and the target images through C as separate batches, each normalised with its own
  statistics (so samples of a poor generator do not shift the normalisation of target images), and
  only the clean target pass updates the running statistics, which therefore move from the
  source's to the target's (used at test time). The two VAT passes (the probe and the perturbed
  batch) normalise with their own batch statistics and leave the running statistics alone. With
  ``adapt_batch_stats`` off, C's batch norm keeps the source running statistics throughout. G's
  semantic loss always uses C in eval mode (running statistics, no dropout), as C is fixed in that
  update;
- the labeller's statistics: for the first ``target_statistics_steps`` steps of the adapt phase C's
  batch-norm statistics are re-estimated on the target batches (AdaBN, Li et al. 2017) before D and
  G step, so G's semantic loss asks a classifier that normalises target-like images with target
  statistics what class they show. Left with the source's statistics, a digit classifier was right
  on about half of the target images, and G learnt classes from those mistakes;
- a class-balance term: the clustering regulariser subtracts ``lambda_balance`` times the entropy of
  C's mean prediction over the target batch (the diversity term of SHOT's information maximisation,
  Liang et al., ICML 2020). Entropy minimisation alone lets C put every target image into a few
  classes, which is how a usps-mnist run fell from 64 to 22 % during training;
- the image grid (``snapshot``) shows ``samples_per_class`` samples per class, one row per class,
  from a fixed noise drawn at construction, with G's batch norm on batch statistics as in training
  (the samples C learns from), its running statistics untouched; it is empty before the adapt
  phase.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from udabench.api import (Method, TargetStatistics, batch_statistics, fixed, freeze, frozen, is_batch_norm,
                          is_dropout, lr_groups, mean_entropy, running_stats_untouched, tanh_to_task, task_model,
                          vat_loss)


def generator_stages(resolution: int) -> int:
    """Number of stride-2 stages: at least two, more until the starting map is at most 8 pixels wide."""
    stages = 2
    while math.ceil(resolution / 2 ** stages) > 8:
        stages += 1
    return stages


class ConditionalGenerator(nn.Module):
    """G(y, z): one-hot class and noise -> linear projection -> transposed convolutions -> tanh image."""

    def __init__(self, num_classes: int, noise_dim: int, out_channels: int, resolution: int, width: int):
        super().__init__()
        self.num_classes, self.noise_dim, self.resolution = num_classes, noise_dim, resolution
        stages = generator_stages(resolution)
        start = math.ceil(resolution / 2 ** stages)
        channels = [width * 2 ** (stages - 1 - i) for i in range(stages)]
        self.project = nn.Sequential(
            nn.Linear(noise_dim + num_classes, channels[0] * start * start, bias=False),
            nn.Unflatten(1, (channels[0], start, start)),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(channels[:-1], channels[1:]):
            layers += [nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=False), nn.BatchNorm2d(fan_out),
                       nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(channels[-1], out_channels, 4, 2, 1), nn.Tanh()]
        self.upsample = nn.Sequential(*layers)

    def forward(self, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        condition = F.one_hot(labels, self.num_classes).to(noise.dtype)
        images = self.upsample(self.project(torch.cat([noise, condition], dim=1)))
        excess = images.shape[-1] - self.resolution
        if excess:
            top = excess // 2
            images = images[:, :, top:top + self.resolution, top:top + self.resolution]
        return images


class Discriminator(nn.Module):
    """DCGAN-style: stride-2 convolutions, batch norm after all but the first, leaky ReLU; then one logit."""

    def __init__(self, in_channels: int, resolution: int, width: int):
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, resolution
        for stage in range(generator_stages(resolution)):
            if size < 2:
                break
            layers.append(nn.Conv2d(channels, width * 2 ** stage, 4, 2, 1, bias=stage == 0))
            if stage:
                layers.append(nn.BatchNorm2d(width * 2 ** stage))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels, size = width * 2 ** stage, size // 2
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, resolution, resolution)).shape[1]
        self.head = nn.Linear(flat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


class ThreeCGAN(Method):
    def __init__(self, context):
        super().__init__(context)
        hp = self.hparams
        self.num_classes = context.num_classes
        self.model = task_model(context, hp)
        # theta_Cs: filled from C at the start of the adapt phase, never trained.
        self.source_model = copy.deepcopy(self.model).requires_grad_(False)
        self.keep_in_eval(self.source_model, always=True)
        self.generator = ConditionalGenerator(context.num_classes, hp["noise_dim"], context.in_channels,
                                              context.resolution, hp["generator_width"])
        self.generator.upsample.append(tanh_to_task(context))  # tanh's [-1, 1] in the task's normalised space
        self.discriminator = Discriminator(context.in_channels, context.resolution, hp["discriminator_width"])
        per_class = max(1, hp["samples_per_class"])
        self.register_buffer("snapshot_labels",
                             torch.arange(context.num_classes).repeat_interleave(per_class), persistent=False)
        self.register_buffer("snapshot_noise", torch.randn(context.num_classes * per_class, hp["noise_dim"]),
                             persistent=False)
        # The fraction of G's samples that the fixed C labels with their sampled class, exponentially
        # averaged over the adapt phase (a buffer: resumed runs keep it); C learns from generated
        # samples only while it is at least ``generated_gate``.
        self.register_buffer("semantic_average", torch.tensor(-1.0))
        # The fraction of G's samples that D takes for target images, averaged the same way; the gate
        # also needs it to be at least ``realism_gate``.
        self.register_buffer("fooled_average", torch.tensor(-1.0))

    # --- phases ---

    def begin_adapt(self):
        hp = self.hparams
        self.source_model.load_state_dict(self.model.state_dict())
        freeze(self.source_model)
        self.model.zero_grad(set_to_none=True)
        # C's dropout is off in this phase, and so is its batch norm without adapt_batch_stats.
        self.keep_in_eval(*[module for module in self.model.modules()
                            if is_dropout(module) or (is_batch_norm(module) and not hp["adapt_batch_stats"])])
        betas = (hp["adam_beta1"], 0.999)
        self.generator_optimizer = torch.optim.Adam(self.generator.parameters(), lr=hp["generator_lr"],
                                                    betas=betas)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                                        lr=hp["discriminator_lr"], betas=betas)
        self.classifier_optimizer = torch.optim.Adam(lr_groups(self.model, hp["classifier_lr"], hp),
                                                     lr=hp["classifier_lr"])  # with backbone_lr_mult
        self.semantic_average.fill_(-1.0)
        self.fooled_average.fill_(-1.0)
        self.target_statistics = TargetStatistics(self.model)
        if hp["target_statistics_steps"] > 0:
            self.target_statistics.restart()

    # --- the pieces of one adaptation step ---

    def sample_labels(self, n: int) -> torch.Tensor:
        """``n`` classes drawn uniformly."""
        return torch.randint(self.num_classes, (n,), device=self.snapshot_noise.device)

    def sample_noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hparams["noise_dim"], device=self.snapshot_noise.device)

    def discriminator_loss(self, real: torch.Tensor, generated: torch.Tensor):
        """Binary cross-entropy of D, real target images labelled 1 and generated ones 0, D's accuracy and
        the fraction of generated images D takes for real ones."""
        real_logits, fake_logits = self.discriminator(real), self.discriminator(generated)
        loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        accuracy = torch.cat([(real_logits > 0), (fake_logits <= 0)]).float().mean()
        return loss, accuracy, (fake_logits.detach() > 0).float().mean()

    def fixed_classifier(self, x: torch.Tensor) -> torch.Tensor:
        """C's logits in eval mode (running statistics, no dropout); gradients reach ``x`` but not C."""
        with fixed(self.model) as classifier:
            return classifier(x)

    def generator_loss(self, generated: torch.Tensor, labels: torch.Tensor):
        """``(l_adv + lambda_s * l_sem, l_adv, l_sem, recognised)`` for samples generated for ``labels``, C
        and D fixed; ``recognised`` is the fraction of them that C labels with their class."""
        with frozen(self.discriminator):
            logits = self.discriminator(generated)
        if self.hparams["non_saturating"]:
            adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))  # -log D(G)
        else:
            adversarial = -F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))  # log(1 - D(G))
        logits = self.fixed_classifier(generated)
        semantic = F.cross_entropy(logits, labels)
        recognised = (logits.detach().argmax(1) == labels).float().mean()
        return adversarial + self.hparams["lambda_s"] * semantic, adversarial, semantic, recognised

    def weight_regulariser(self) -> torch.Tensor:
        """||theta_C - theta_Cs||^2 over all of C's parameters."""
        source = dict(self.source_model.named_parameters())
        return sum(((p - source[name]) ** 2).sum() for name, p in self.model.named_parameters())

    def generated_gate_open(self) -> bool:
        """Whether C learns from generated samples: the averaged fraction of G's samples that C labels
        with their class is at least ``generated_gate``, and the averaged fraction that D takes for
        target images at least ``realism_gate`` (a gate of 0 or less always lets them through)."""
        return bool(self._gate())

    def _gate(self) -> torch.Tensor:
        """The gate as a 0-dim tensor (1.0 open, 0.0 shut), computed on the device without a host sync."""
        recognised, realistic = self.hparams["generated_gate"], self.hparams["realism_gate"]
        gate = torch.ones((), device=self.semantic_average.device)
        if recognised > 0:
            gate = gate * (self.semantic_average >= recognised)
        if realistic > 0:
            gate = gate * (self.fooled_average >= realistic)
        return gate

    def _track(self, average: torch.Tensor, fraction: torch.Tensor) -> None:
        decay = self.hparams["semantic_average_decay"]
        value = fraction.detach().to(average.dtype)
        # Negative before the first step of the phase: start at the first value.
        average.copy_(torch.where(average < 0, value, decay * average + (1 - decay) * value))

    def classifier_loss(self, generated: torch.Tensor, labels: torch.Tensor, target: torch.Tensor,
                        use_generated: bool = True):
        """C's objective and its parts, for generated samples with their classes and a target batch.

        Generated and target images go through C in separate batches; only the clean target pass
        updates batch norm's running statistics. Without ``use_generated`` (the gate is closed) the
        generated samples' cross-entropy is logged but does not enter the loss.
        """
        hp = self.hparams
        with running_stats_untouched(self.model):
            generated_logits = self.model(generated)
        target_logits = self.model(target)
        generated_loss = F.cross_entropy(generated_logits, labels)
        entropy = mean_entropy(target_logits)
        weight_loss = self.weight_regulariser()
        # Entropy of the batch's mean prediction: high when the batch's predictions spread over the classes.
        mean_probabilities = torch.softmax(target_logits, dim=1).mean(0)
        diversity = -(mean_probabilities * torch.log(mean_probabilities.clamp_min(1e-8))).sum()
        logs = {"classifier_generated_loss": generated_loss.detach(), "target_entropy": entropy.detach(),
                "weight_distance": weight_loss.detach(), "target_diversity": diversity.detach()}
        clustering = entropy - hp["lambda_balance"] * diversity
        if hp["lambda_clu"] > 0:
            smoothness = vat_loss(self.model, target, xi=hp["vat_xi"], epsilon=hp["vat_epsilon"],
                                  clean_logits=target_logits)
            clustering = clustering + smoothness
            logs["vat_kl"] = smoothness.detach()
        # use_generated may be the gate's 0-dim tensor: multiplying keeps the step free of a host sync.
        loss = (hp["lambda_w"] * weight_loss + hp["lambda_clu"] * clustering
                + hp["lambda_g"] * generated_loss * use_generated)
        logs["classifier_loss"] = loss.detach()
        logs["generated_gate_open"] = torch.as_tensor(use_generated, dtype=loss.dtype, device=loss.device).detach()
        return loss, logs

    def update_adapt(self, batch):
        target, step = batch.target_x, self.step
        n = target.shape[0]
        # (0) AdaBN first: C labels G's samples with target statistics, not the source's.
        if self.target_statistics.active:
            if step < self.hparams["target_statistics_steps"]:
                self.target_statistics.observe(target)
            else:
                self.target_statistics.finish()
        # (1) D: real target against generated.
        labels = self.sample_labels(n)
        generated = self.generator(labels, self.sample_noise(n))
        discriminator_loss, accuracy, fooled = self.discriminator_loss(target, generated.detach())
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()

        # (2) G, with C and D fixed.
        generator_loss, adversarial, semantic, recognised = self.generator_loss(generated, labels)
        self.generator_optimizer.zero_grad(set_to_none=True)
        generator_loss.backward()
        self.generator_optimizer.step()
        self._track(self.semantic_average, recognised)
        self._track(self.fooled_average, fooled)
        logs = {"discriminator_loss": discriminator_loss.detach(), "discriminator_accuracy": accuracy.detach(),
                "generator_adv_loss": adversarial.detach(), "generator_semantic_loss": semantic.detach(),
                "generated_recognised": recognised, "generated_fooled": fooled}

        # (3) C on fresh generated samples and the target batch.
        if step >= round(self.hparams["classifier_warmup"] * self.phase_steps):
            labels = self.sample_labels(n)
            with torch.no_grad():
                generated = self.generator(labels, self.sample_noise(n))
            classifier_loss, classifier_logs = self.classifier_loss(generated, labels, target,
                                                                    use_generated=self._gate())
            self.classifier_optimizer.zero_grad(set_to_none=True)
            classifier_loss.backward()
            self.classifier_optimizer.step()
            logs.update(classifier_logs)
        return logs

    def predict(self, x):
        return self.model(x)

    def snapshot(self):
        if self.phase != "adapt":
            return {}
        # The samples C trains on: G with batch statistics, as it runs in training (running ones untouched).
        with batch_statistics(self.generator) as generator:
            images = generator(self.snapshot_labels, self.snapshot_noise)
        return {"generated": (images, max(1, self.hparams["samples_per_class"]))}
