"""Label2Image-DA for semantic segmentation: generate target-style images from source label maps.

The segmentation variant of :mod:`udabench_label2image.method` (same three phases, same names for the
hyperparameters that mean the same thing). For segmentation the paper's label y is a label map and G
is a label-to-image generator (SPADE/pix2pix-style); the label space (the source label maps) is shared
by both domains, so G learns to paint target-looking images for source layouts.

Phase ``source`` (labelled source only, ``source_steps`` steps) trains the segmentation network T
(the task's whole segmentation network, ``task_model``) with per-pixel cross-entropy (ignored pixels
count for nothing) and the shared SGD recipe. It is ``self.model``, so ``--source-run`` loads a
stored source-only segmentation run into it (the default ``load_source_weights``) and skips the phase.

Phase ``gan`` (source label maps and target images, ``gan_steps`` steps) trains the generator
G(y, z) and a PatchGAN discriminator D. y are the batch's source label maps (the source images are
not used); G's input is y one-hot (K channels, ignored pixels all zero) concatenated with a noise map
z. D learns to tell real target images from G(y, z) with the least-squares GAN loss; then G, with D
fixed, minimises

    L_G = (D(G(y, z)) - 1)^2 + semantic_weight * CE(T(G(y, z)), y)   (per patch / per pixel means),

T fixed: its parameters take no gradient and it runs in eval mode (running statistics of source
training), but the semantic loss's gradient flows through it to G.

Phase ``retrain`` (source and target, ``--steps`` steps) trains T again, from its source weights
with a fresh SGD optimiser and schedule, on

    CE(T(x_s), y_s) + generated_weight * CE(T(G(y_s, z)), y_s)  [+ L_reg with ``reg``],

G fixed (eval mode, no gradient), y_s the batch's source label maps, one generated image per source
image. ``predict`` is T. ``translate`` is ``None``: G paints label maps, it does not translate images.

udabench's choices (the paper's segmentation networks are not available here):

- generator (:class:`LabelToImageGenerator`), a small encoder-decoder with SPADE-style normalisation:
  a reflection-padded 3x3 stem over [one-hot y, z], ``generator_downsamplings`` stride-2 3x3
  convolutions (doubling the width, instance norm), ``generator_blocks`` residual blocks, as many
  nearest-neighbour upsamplings to the exact earlier size each followed by a 3x3 convolution (no
  transposed convolutions, so no checkerboard), a 3x3 convolution, tanh, then ``tanh_to_task``. With
  ``spade`` (the default) every normalisation of the stem, the residual blocks and the decoder is
  SPADE's: parameter-free instance norm, then a per-pixel scale (1 + gamma) and shift beta computed by
  two 3x3 convolutions from the one-hot label map resized to that layer (area interpolation: class
  fractions per cell), so the layout reaches every decoder layer, not only the input. Without
  ``spade`` those are affine instance norms and the label map enters only at the input. The
  encoder's downsampling layers use plain affine instance norm. N(0, 0.02) initial convolution
  weights, zero biases (CycleGAN's, as the shared translator).
- noise: a per-pixel Gaussian noise map of ``noise_channels`` channels at the input size (not one
  vector broadcast over the image), so that G can paint per-pixel texture such as a target domain's
  sensor noise; pix2pix injects its noise as dropout instead, SPADE as a global style code.
- discriminator: the shared PatchGAN (``patch_discriminator``, ``discriminator_width``,
  ``discriminator_layers``, instance norm, one score per patch), unconditional because target images
  have no label maps; the least-squares GAN loss, D's loss halved (CycleGAN's 0.5 (D(real) - 1)^2 +
  0.5 D(fake)^2). Each step updates D on this step's images, then G. Adam 2e-4, beta1 0.5 for both.
- batch norm in ``retrain``: source, generated and target images go through T in one forward pass,
  as in the classification variant, so T's batch statistics (and the running statistics used at test
  time) cover all three; without ``reg`` the target rows get no loss and serve batch norm only.
- ``L_reg`` (``reg``, off by default) is the classification variant's reading, per pixel: the mean
  entropy of T's per-pixel target predictions (``mean_entropy`` over the logits laid out as
  (N*H*W, K)) plus the shared ``vat_loss``, whose KL sums over the class dimension 1 and averages over
  images and pixels, so it works on dense logits as it is; r has L2 norm ``vat_epsilon`` per image
  (the classification default 3.5, which spreads thinner over a street scene's pixels than a digit's).
- snapshots: four fixed source label maps (the first batch of the gan phase), one row each: the label
  map in evenly spaced hues (ignored pixels black), then G's images for three fixed noise maps.
- sizes: ``generator_width`` 16 (also the hidden width of every SPADE layer), ``generator_blocks`` 2,
  2 downsamplings, 3x3 stem and output convolutions, ``discriminator_width`` 16 (pix2pix: 64),
  ``noise_channels`` 4: small enough for CPU runs on the generated scenes (a gan step at batch 8 on
  48x32 scenes took about 0.3 s on one busy CPU thread; 7x7 stem and output convolutions with
  ``discriminator_width`` 32 took about three times as long); raise them on a GPU.
"""

from __future__ import annotations

import colorsys

import torch
import torch.nn.functional as F
from torch import nn

from udabench.api import (IGNORE_LABEL, Method, frozen, lsgan_loss, mean_entropy, patch_discriminator,
                          tanh_to_task, task_loss, task_model, vat_loss)
from udabench_label2image.method import Label2Image

SNAPSHOT_MAPS = 4  # rows of the snapshot grid: fixed source label maps
SAMPLES_PER_MAP = 3  # generated images per label map (fixed noise), after the label map itself
SNAPSHOT_NOISE_SEED = 0


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def one_hot_maps(labels: torch.Tensor, num_classes: int, dtype=torch.float32) -> torch.Tensor:
    """``(N, H, W)`` label maps -> ``(N, K, H, W)`` one-hot maps; ``IGNORE_LABEL`` pixels are all zero."""
    valid = labels != IGNORE_LABEL
    codes = F.one_hot(torch.where(valid, labels, torch.zeros_like(labels)), num_classes)
    return (codes * valid.unsqueeze(-1)).permute(0, 3, 1, 2).to(dtype)


class SemanticNorm(nn.Module):
    """SPADE: instance norm without affine, then ``x * (1 + gamma(y)) + beta(y)`` per pixel, with gamma
    and beta convolved from the one-hot label map resized to ``x``. ``spade=False``: affine instance norm."""

    def __init__(self, features: int, num_classes: int, hidden: int, spade: bool = True):
        super().__init__()
        self.spade = spade
        self.norm = nn.InstanceNorm2d(features, affine=not spade)
        if spade:
            self.shared = nn.Sequential(nn.Conv2d(num_classes, hidden, 3, padding=1), nn.ReLU(inplace=True))
            self.gamma = nn.Conv2d(hidden, features, 3, padding=1)
            self.beta = nn.Conv2d(hidden, features, 3, padding=1)

    def forward(self, x: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        normalised = self.norm(x)
        if not self.spade:
            return normalised
        if layout.shape[-2:] != x.shape[-2:]:
            layout = F.interpolate(layout, size=x.shape[-2:], mode="area")
        hidden = self.shared(layout)
        return normalised * (1 + self.gamma(hidden)) + self.beta(hidden)


class SemanticResidualBlock(nn.Module):
    """x + (conv3, norm, ReLU, conv3, norm), reflection padding, the norms :class:`SemanticNorm`."""

    def __init__(self, width: int, num_classes: int, hidden: int, spade: bool):
        super().__init__()
        self.conv1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3))
        self.norm1 = SemanticNorm(width, num_classes, hidden, spade)
        self.conv2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3))
        self.norm2 = SemanticNorm(width, num_classes, hidden, spade)

    def forward(self, x, layout):
        h = F.relu(self.norm1(self.conv1(x), layout))
        return x + self.norm2(self.conv2(h), layout)


class LabelToImageGenerator(nn.Module):
    """G(y, z): a one-hot label map ``(N, K, H, W)`` and a noise map ``(N, noise_channels, H, W)`` ->
    an image ``(N, channels, H, W)`` in [-1, 1] (tanh), the same size as the label map.

    Encoder-decoder with SPADE-style normalisation (see the module docstring); ``head`` ends in the
    tanh, to which the method appends ``tanh_to_task``.
    """

    def __init__(self, num_classes: int, noise_channels: int, channels: int, width: int, blocks: int,
                 downsamplings: int, spade: bool = True):
        super().__init__()
        self.num_classes, self.noise_channels = num_classes, noise_channels
        self.stem = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(num_classes + noise_channels, width, 3))
        self.stem_norm = SemanticNorm(width, num_classes, width, spade)  # SPADE's hidden width: ``width`` throughout
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        self.up_norm = nn.ModuleList()
        for index in range(downsamplings):
            narrow, wide = width * 2 ** index, width * 2 ** (index + 1)
            self.down.append(nn.Sequential(nn.Conv2d(narrow, wide, 3, stride=2, padding=1),
                                           nn.InstanceNorm2d(wide, affine=True), nn.ReLU(inplace=True)))
            self.up.insert(0, nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(wide, narrow, 3)))
            self.up_norm.insert(0, SemanticNorm(narrow, num_classes, width, spade))
        self.blocks = nn.ModuleList(SemanticResidualBlock(width * 2 ** downsamplings, num_classes, width, spade)
                                    for _ in range(blocks))
        self.head = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width, channels, 3), nn.Tanh())
        self.apply(_init_weights)

    def forward(self, layout: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem_norm(self.stem(torch.cat([layout, noise], dim=1)), layout))
        sizes = []
        for down in self.down:
            sizes.append(h.shape[-2:])
            h = down(h)
        for block in self.blocks:
            h = block(h, layout)
        for up, norm, size in zip(self.up, self.up_norm, reversed(sizes)):
            h = F.relu(norm(up(F.interpolate(h, size=size, mode="nearest")), layout))
        return self.head(h)


class Label2ImageSeg(Label2Image):
    def __init__(self, context):
        Method.__init__(self, context)  # Label2Image's own networks are the classification ones
        if not context.dense:
            raise ValueError("label2image-seg trains on segmentation tasks; use label2image for classification")
        hp = self.hparams
        k, c = context.num_classes, context.in_channels
        self.model = task_model(context, hp)  # T: the whole segmentation network
        self.generator = LabelToImageGenerator(k, hp["noise_channels"], c, hp["generator_width"],
                                               hp["generator_blocks"], hp["generator_downsamplings"], hp["spade"])
        self.generator.head.append(tanh_to_task(context))  # tanh's [-1, 1] in the task's normalised space
        self.discriminator = patch_discriminator(c, hp["discriminator_width"], hp["discriminator_layers"],
                                                 context.resolution)
        # Label maps shown by snapshot(): the first source label maps of the gan phase. Not checkpointed.
        self.register_buffer("shown_maps", None, persistent=False)

    # The phases' preparation (``begin_source``, ``begin_gan``, ``begin_retrain``), the source and
    # retrain steps and ``predict`` are Label2Image's: the same three phases with the same networks
    # frozen and trained.

    # --- the generator ----------------------------------------------------------------------

    def noise_like(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A Gaussian noise map ``(N, noise_channels, H, W)`` for label maps ``labels`` ``(N, H, W)``."""
        shape = (labels.shape[0], self.hparams["noise_channels"], *labels.shape[-2:])
        if generator is None:
            return torch.randn(shape, device=labels.device)
        return torch.randn(shape, generator=generator).to(labels.device)

    def generate_from(self, labels: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """G(y, z) for label maps ``labels`` (with gradient, in G's current mode); z drawn if not given."""
        if noise is None:
            noise = self.noise_like(labels)
        return self.generator(one_hot_maps(labels, self.context.num_classes, noise.dtype), noise)

    def generate(self, labels: torch.Tensor) -> torch.Tensor:
        """Images of the fixed generator for ``labels``: eval mode, no gradient."""
        was_training = self.generator.training
        self.generator.eval()
        with torch.no_grad():
            images = self.generate_from(labels)
        self.generator.train(was_training)
        return images

    # --- gan phase --------------------------------------------------------------------------

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """LSGAN: 0.5 (D(real target) - 1)^2 + 0.5 D(generated)^2, averaged over patches."""
        return 0.5 * (lsgan_loss(self.discriminator(real), True) + lsgan_loss(self.discriminator(fake), False))

    def generator_losses(self, labels: torch.Tensor, fake: torch.Tensor):
        """``(adversarial, semantic, semantic pixel accuracy)`` of ``fake`` = G(labels, z).

        Adversarial: LSGAN (D(fake) - 1)^2. Semantic: the fixed T's per-pixel cross-entropy on the
        generated images against the label maps they were painted from (ignored pixels excluded).
        """
        adversarial = lsgan_loss(self.discriminator(fake), True)
        logits = self.model(fake)
        semantic = task_loss(logits, labels)
        valid = labels != IGNORE_LABEL
        accuracy = ((logits.argmax(dim=1) == labels) & valid).sum() / valid.sum().clamp(min=1)
        return adversarial, semantic, accuracy.float()

    def update_gan(self, batch):
        self.observe_target_statistics(batch.target_x)
        labels = batch.source_y  # the label maps only: G never sees the source images
        if self.shown_maps is None:
            self.shown_maps = labels[:SNAPSHOT_MAPS].detach().clone()
        fake = self.generate_from(labels)

        discriminator_loss = self.discriminator_loss(batch.target_x, fake.detach())
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()

        with frozen(self.discriminator):
            adversarial, semantic, accuracy = self.generator_losses(labels, fake)
            generator_loss = adversarial + self.hparams["semantic_weight"] * semantic
            self.generator_optimizer.zero_grad(set_to_none=True)
            generator_loss.backward()
            self.generator_optimizer.step()
        return {"discriminator_loss": discriminator_loss.detach(), "adversarial_loss": adversarial.detach(),
                "semantic_loss": semantic.detach(), "semantic_accuracy": accuracy.detach()}

    # --- retrain phase ----------------------------------------------------------------------

    def retrain_losses(self, batch):
        """The retrain loss and its parts (a dict of tensors, with gradient)."""
        hp = self.hparams
        n = batch.source_x.shape[0]
        generated_x = self.generate(batch.source_y)
        logits = self.model(torch.cat([batch.source_x, generated_x, batch.target_x]))
        parts = {
            "source_loss": task_loss(logits[:n], batch.source_y),
            "generated_loss": task_loss(logits[n:2 * n], batch.source_y),
        }
        loss = parts["source_loss"] + hp["generated_weight"] * parts["generated_loss"]
        if hp["reg"]:
            target_logits = logits[2 * n:]
            per_pixel = target_logits.permute(0, 2, 3, 1).reshape(-1, target_logits.shape[1])
            parts["entropy"] = mean_entropy(per_pixel)
            parts["vat_loss"] = vat_loss(self.model, batch.target_x, xi=hp["vat_xi"], epsilon=hp["vat_epsilon"])
            parts["reg_loss"] = hp["entropy_weight"] * parts["entropy"] + hp["vat_weight"] * parts["vat_loss"]
            loss = loss + parts["reg_loss"]
        parts["loss"] = loss
        return parts

    # --- pictures ---------------------------------------------------------------------------

    def translate(self, x):
        return None  # G paints label maps; it has no image-to-image direction

    def colour_maps(self, labels: torch.Tensor) -> torch.Tensor:
        """Label maps as images in the task's normalised space: evenly spaced hues (grey levels for
        other than three channels), ignored pixels black."""
        k, channels = self.context.num_classes, self.context.in_channels
        if channels == 3:
            colours = [colorsys.hsv_to_rgb(i / k, 0.8, 0.9) for i in range(k)]
        else:
            colours = [(i / max(k - 1, 1),) * channels for i in range(k)]
        palette = torch.tensor(colours + [(0.0,) * channels], device=labels.device)  # last: ignored
        pixels = palette[torch.where(labels == IGNORE_LABEL, torch.full_like(labels, k), labels)]
        mean = torch.tensor(self._per_channel(self.context.mean), device=labels.device)
        std = torch.tensor(self._per_channel(self.context.std), device=labels.device)
        return ((pixels - mean) / std).permute(0, 3, 1, 2)

    def _per_channel(self, values):
        channels = self.context.in_channels
        return tuple(values) if len(values) == channels else tuple(values[:1]) * channels

    def snapshot(self):
        """In ``gan`` and ``retrain``: one row per fixed source label map: the map, then G's images for
        ``SAMPLES_PER_MAP`` fixed noise maps (the same every call, so grids of a run are comparable)."""
        if self.phase not in ("gan", "retrain") or self.shown_maps is None:
            return {}
        maps = self.shown_maps
        repeated = maps.repeat_interleave(SAMPLES_PER_MAP, dim=0)
        noise = self.noise_like(repeated, torch.Generator().manual_seed(SNAPSHOT_NOISE_SEED))
        was_training = self.generator.training
        self.generator.eval()
        with torch.no_grad():
            images = self.generate_from(repeated, noise)
        self.generator.train(was_training)
        rows = torch.cat([self.colour_maps(maps).unsqueeze(1).to(images.dtype),
                          images.view(maps.shape[0], SAMPLES_PER_MAP, *images.shape[1:])], dim=1)
        return {"generated": (rows.flatten(0, 1), SAMPLES_PER_MAP + 1)}
