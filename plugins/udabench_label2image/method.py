"""Label2Image-DA: generate target-style image-label pairs from the label space, then retrain on them.

Phase ``source`` (labelled source only, ``source_steps`` steps) trains the task model T (the task's
backbone, the batch-normed bottleneck and a linear head) with cross-entropy and the shared SGD recipe.

Phase ``gan`` (target images only, ``gan_steps`` steps) trains a class-conditional generator
G(y, z) and a discriminator D. Each step draws labels y uniformly over the classes and Gaussian noise
z, one pair per target image of the batch; D learns to tell the real target images x_t, shown with
the fixed T's predicted class T(x_t), (1) from G(y, z) shown with y (0); then G learns to make D
answer 1 on G(y, z) while the fixed T classifies G(y, z) as y:

    L_G = BCE(D(G(y, z), y), 1) + semantic_weight * CE(T(G(y, z)), y).

T does not change in this phase: its parameters take no gradient and it runs in eval mode (running
statistics of source training, no dropout), but the semantic loss's gradient flows through it to G.

Phase ``retrain`` (source and target, ``--steps`` steps) trains T again, starting from its source
weights with a fresh SGD optimiser and schedule, on

    CE(T(x_s), y_s) + generated_weight * CE(T(G(y, z)), y)  [+ L_reg with ``reg``],

with G fixed (eval mode) and y drawn uniformly, ``generated_batch_size`` pairs per step. ``predict``
is T.

From the paper (as summarised in the project's method notes): the three phases; a class-conditional
generator G(y, z) trained against real target images; the task model's cross-entropy on G(y, z) for
the sampled label keeping the class content, with the task model fixed while G learns; the
generated pairs added to the source data to train the task model. ``label2image`` and
``label2image-reg`` are the paper's two rows "Label2Image-DA" and "with L_reg".

udabench's choices (the paper's figures are not available here):

- ``L_reg`` (``reg=True``, the default of ``label2image-reg``) is udabench's reading, not the paper's
  published form: the mean entropy of T's target predictions (``entropy_weight``) plus a VAT-style
  smoothness term (``vat_weight``), KL(T(x_t) || T(x_t + r)) with r the adversarial perturbation of
  L2 norm ``vat_epsilon`` found by one power iteration from a random probe of norm ``vat_xi``. It
  follows the clustering regulariser described for 3C-GAN by the same group. The weights (0.1 each)
  and ``vat_epsilon`` (3.5 in normalised pixel units) are udabench's choices. ``vat_xi`` is 0.01: with a probe of
  norm 1e-6 the float32 gradient pointed well away from the float64 one in a check on the digit
  backbone (cosine about 0.2), at 0.01 it agreed (about 0.99). The VAT passes run T with dropout off
  and without updating its batch-norm running statistics, so the KL measures only the perturbation;
  the term is the shared ``vat_loss`` of ``udabench.api`` (directions normalised per sample after
  a division by their largest absolute value; a sample whose gradient vanishes keeps its random
  direction).
- networks: a DCGAN-style generator (z concatenated with the one-hot label, a linear projection to
  4w x r/4 x r/4, two stride-2 transposed convolutions with batch norm and ReLU, a 3x3 convolution,
  tanh, a centre crop to the task's resolution when it is not a multiple of 4) and a DCGAN-style
  discriminator (two stride-2 convolutions with leaky ReLU, batch norm on the second, a linear
  logit) plus a projection term (Miyato and Koyama, ICLR 2018) for the class. DCGAN's N(0, 0.02)
  initialisation, Adam 2e-4 with beta1 0.5 for both, the non-saturating GAN loss.
- the class-conditional D (``conditional_discriminator``, on by default): target images have no
  labels, so D sees them with the fixed T's predictions. With an unconditional D, G met the
  semantic loss within 850 steps (T accepted 97 % of its images for their class) with images that
  were not digits yet, and the shapes that the adversarial loss then gave each class were T's
  blind spots: on mnist-usps (seed 0, 20,000 gan steps) the rows for 1, 7, 8 and 9 showed 7s, 9s
  and thin 1s, and the retrained T scored 69.7 %, below its AdaBN labeller's 87.1 %. With the
  projection D, each row must look like the target images T gives that class: one digit per row,
  and 91.2 % after 6,000 gan steps (seed 1; AdaBN 86.5 %, DANN 92.3 %). What T gets wrong about
  the target (USPS 9s taken for 7s) stays: 53 of 177 test 9s are predicted 7.
- normalised space: the tanh output in [-1, 1] is mapped to the task's normalised space
  (``tanh_to_task``): the identity for a task with mean and std 0.5 per channel (digits, signs), an
  affine map otherwise (Office-31's ImageNet normalisation).
- ``retrain`` fine-tunes the source-trained T (the paper's starting point is not known here) with a
  fresh SGD optimiser at ``retrain_lr_mult`` (0.1) times the task's learning rate and the shared
  schedule: restarting at the digit tasks' lr 0.1 undid much of the source training.
- the labeller's statistics: for the first ``target_statistics_steps`` gan steps T's batch-norm
  statistics are re-estimated on the target batches (AdaBN, Li et al. 2017) before G and D step, so
  the semantic loss asks a classifier that normalises target images with target statistics.
- batch norm in ``retrain``: source, generated and target images go through T in one forward pass,
  so T's batch statistics (and the running statistics used at test time) cover all three, as DANN
  does with source and target here; in the plain variant the target rows get no loss and serve batch
  norm only. Wherever its images are used (retrain and snapshots) the generator runs as it trained,
  on batch statistics, and its running statistics are never used: they lag a generator that
  changes every step.
- weights and sizes: ``semantic_weight`` 1 (an auxiliary-classifier GAN's equal weighting),
  ``generated_weight`` 1, as many generated pairs as source images per retrain step,
  ``source_steps`` 3000 (the default ``--steps`` of ``source-only``), ``gan_steps`` 2000;
  ``generator_width`` and ``discriminator_width`` 32, half of DCGAN's 64, because the generator's
  transposed convolutions dominate the cost of a CPU run (at 28 px and batch 128 a gan step took
  about 0.9 s on one busy CPU thread at width 32, against about 1.9 s at 64).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from udabench.api import (Method, TargetStatistics, batch_statistics, freeze, frozen, mean_entropy, schedule_lr,
                          sgd, tanh_to_task, task_model, vat_loss)

SAMPLES_PER_CLASS = 8  # images per row of the snapshot grid, one row per class


def _init_dcgan(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, 0.0, 0.02)


class ConditionalGenerator(nn.Module):
    """G(y, z): one-hot label and noise -> image of ``channels`` x ``resolution``^2 in [-1, 1]."""

    def __init__(self, num_classes: int, noise_dim: int, channels: int, resolution: int, width: int):
        super().__init__()
        self.num_classes, self.noise_dim, self.resolution = num_classes, noise_dim, resolution
        self.base = math.ceil(resolution / 4)
        self.project = nn.Linear(noise_dim + num_classes, 4 * width * self.base * self.base, bias=False)
        self.body = nn.Sequential(
            nn.BatchNorm2d(4 * width), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, channels, 3, padding=1),
            nn.Tanh(),
        )
        self.apply(_init_dcgan)

    def forward(self, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        code = torch.cat([noise, F.one_hot(labels, self.num_classes).to(noise.dtype)], dim=1)
        x = self.body(self.project(code).view(code.shape[0], -1, self.base, self.base))
        offset = (x.shape[-1] - self.resolution) // 2
        return x[..., offset:offset + self.resolution, offset:offset + self.resolution]


class Discriminator(nn.Module):
    """D(x, y): one logit per image, real target versus generated.

    With ``num_classes`` the logit also has a projection term (Miyato and Koyama, "cGANs with
    Projection Discriminator", ICLR 2018): the inner product of the label's learned embedding with the
    image's features, so that D judges an image as a member of class y. Without it D is unconditional
    and ignores the labels.
    """

    def __init__(self, channels: int, resolution: int, width: int, num_classes: int = 0):
        super().__init__()
        size = resolution // 2 // 2  # two 4x4 stride-2 convolutions with padding 1 halve, rounding down
        features = 2 * width * size * size
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(features, 1),
        )
        self.embedding = nn.Embedding(num_classes, features) if num_classes else None
        self.apply(_init_dcgan)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embedding is None:
            return self.net(x).squeeze(1)
        if labels is None:
            raise ValueError("a class-conditional discriminator needs the images' labels")
        features = self.net[:-1](x)
        return self.net[-1](features).squeeze(1) + (self.embedding(labels) * features).sum(dim=1)


class Label2Image(Method):
    def __init__(self, context):
        super().__init__(context)
        hp = self.hparams
        k, c, r = context.num_classes, context.in_channels, context.resolution
        self.model = task_model(context, hp)
        self.generator = ConditionalGenerator(k, hp["noise_dim"], c, r, hp["generator_width"])
        self.generator.body.append(tanh_to_task(context))  # tanh's [-1, 1] in the task's normalised space
        self.discriminator = Discriminator(c, r, hp["discriminator_width"],
                                           k if hp["conditional_discriminator"] else 0)
        # Fixed noise for the snapshot grids, so that grids of one run are comparable over time.
        self.register_buffer("snapshot_noise", torch.randn(k * SAMPLES_PER_CLASS, hp["noise_dim"]),
                             persistent=False)

    def begin_gan(self):
        hp = self.hparams
        freeze(self.model)
        self.keep_in_eval(self.model)  # T fixed: source running statistics, no dropout
        betas = (hp["adam_beta1"], 0.999)
        self.generator_optimizer = torch.optim.Adam(self.generator.parameters(), lr=hp["generator_lr"],
                                                    betas=betas)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                                        lr=hp["discriminator_lr"], betas=betas)
        self.target_statistics = TargetStatistics(self.model)
        if hp["target_statistics_steps"] > 0:
            self.target_statistics.restart()

    def begin_retrain(self):
        hp = self.hparams
        if hasattr(self, "target_statistics"):  # exponential averages again, however short the gan phase
            self.target_statistics.finish()
        self.model.requires_grad_(True)
        freeze(self.generator, self.discriminator)
        self.keep_in_eval(self.generator, self.discriminator)
        self.optimizer = sgd(self.model.parameters(), {**hp, "lr": hp["lr"] * hp["retrain_lr_mult"]})

    def sample_codes(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` labels drawn uniformly over the classes and ``n`` Gaussian noise vectors."""
        labels = torch.randint(0, self.context.num_classes, (n,), device=device)
        return labels, torch.randn(n, self.hparams["noise_dim"], device=device)

    # gan phase

    def pseudo_labels(self, target_x: torch.Tensor) -> torch.Tensor | None:
        """The classes a class-conditional D is shown real target images with: the fixed task model's
        predictions (``None`` for an unconditional D)."""
        if not self.hparams["conditional_discriminator"]:
            return None
        with torch.no_grad():
            return self.model(target_x).argmax(dim=1)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor | None = None,
                           fake_labels: torch.Tensor | None = None):
        """BCE of D with real target images labelled 1 and generated ones 0, and D's accuracy. A
        class-conditional D sees the real images with ``real_labels`` and the generated ones with
        ``fake_labels``."""
        real_logits, fake_logits = self.discriminator(real, real_labels), self.discriminator(fake, fake_labels)
        loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        accuracy = torch.cat([(real_logits > 0), (fake_logits <= 0)]).float().mean()
        return loss, accuracy

    def generator_losses(self, labels: torch.Tensor, fake: torch.Tensor):
        """``(adversarial, semantic, semantic accuracy)`` of generated images ``fake`` = G(labels, z).

        Adversarial: the non-saturating GAN loss against D. Semantic: the fixed task model's
        cross-entropy on the generated images with ``labels``, the labels they were drawn for, as targets.
        """
        logits = self.discriminator(fake, labels)
        adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        class_logits = self.model(fake)
        semantic = F.cross_entropy(class_logits, labels)
        accuracy = (class_logits.argmax(dim=1) == labels).float().mean()
        return adversarial, semantic, accuracy

    def observe_target_statistics(self, target_x):
        """AdaBN at the start of the gan phase: T's batch norm takes the target batches' statistics
        before G learns classes from T."""
        if self.target_statistics.active:
            if self.step < self.hparams["target_statistics_steps"]:
                self.target_statistics.observe(target_x)
            else:
                self.target_statistics.finish()

    def update_gan(self, batch):
        target_x = batch.target_x
        self.observe_target_statistics(target_x)
        labels, noise = self.sample_codes(target_x.shape[0], target_x.device)

        fake = self.generator(labels, noise)
        discriminator_loss, accuracy = self.discriminator_loss(target_x, fake.detach(), self.pseudo_labels(target_x),
                                                               labels)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()

        with frozen(self.discriminator):
            adversarial, semantic, semantic_accuracy = self.generator_losses(labels, fake)
            generator_loss = adversarial
            if self.step >= self.hparams["semantic_start"]:  # before it, no backward pass through T
                generator_loss = generator_loss + self.hparams["semantic_weight"] * semantic
            self.generator_optimizer.zero_grad(set_to_none=True)
            generator_loss.backward()
            self.generator_optimizer.step()
        return {"discriminator_loss": discriminator_loss.detach(), "adversarial_loss": adversarial.detach(),
                "semantic_loss": semantic.detach(), "semantic_accuracy": semantic_accuracy.detach(),
                "discriminator_accuracy": accuracy.detach()}

    # retrain phase

    def sample(self, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """G(labels, noise) as G ran while it trained: batch statistics in its batch norm (its running
        statistics left untouched), no gradient."""
        with torch.no_grad(), batch_statistics(self.generator) as generator:
            return generator(labels, noise)

    def generate(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` generated pairs ``(G(y, z), y)`` from the fixed generator (:meth:`sample`)."""
        labels, noise = self.sample_codes(n, device)
        return self.sample(labels, noise), labels

    def retrain_losses(self, batch):
        """The retrain loss and its parts (a dict of tensors, with gradient)."""
        hp = self.hparams
        n_source = batch.source_x.shape[0]
        n_generated = hp["generated_batch_size"] or n_source
        generated_x, generated_y = self.generate(n_generated, batch.source_x.device)
        logits = self.model(torch.cat([batch.source_x, generated_x, batch.target_x]))
        parts = {
            "source_loss": F.cross_entropy(logits[:n_source], batch.source_y),
            "generated_loss": F.cross_entropy(logits[n_source:n_source + n_generated], generated_y),
        }
        loss = parts["source_loss"] + hp["generated_weight"] * parts["generated_loss"]
        if hp["reg"]:
            parts["entropy"] = mean_entropy(logits[n_source + n_generated:])
            parts["vat_loss"] = vat_loss(self.model, batch.target_x, xi=hp["vat_xi"], epsilon=hp["vat_epsilon"])
            parts["reg_loss"] = hp["entropy_weight"] * parts["entropy"] + hp["vat_weight"] * parts["vat_loss"]
            loss = loss + parts["reg_loss"]
        parts["loss"] = loss
        return parts

    def update_retrain(self, batch):
        schedule_lr(self.optimizer, self.hparams, self.progress)
        parts = self.retrain_losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        self.optimizer.step()
        return {name: value.detach() for name, value in parts.items()}

    def predict(self, x):
        return self.model(x)

    def snapshot(self):
        if self.phase not in ("gan", "retrain"):
            return {}
        labels = torch.arange(self.context.num_classes, device=self.snapshot_noise.device)
        labels = labels.repeat_interleave(SAMPLES_PER_CLASS)
        return {"generated": (self.sample(labels, self.snapshot_noise), SAMPLES_PER_CLASS)}
