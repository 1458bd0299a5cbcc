"""CyCADA: translate source images into the target style, keep their meaning, train on the translations.

Three phases, for both registered names:

``source`` (labelled source only, ``source_steps`` steps) trains the source classifier f_s, a
:class:`TaskModel` (the task's backbone, the batch-normed bottleneck, a linear head), with
cross-entropy and the shared SGD recipe. It is ``self.model``, so ``--source-run`` loads a stored
source model into it (the default ``load_source_weights``) and skips this phase.

``translate`` (source and target, ``translate_steps`` steps) trains a CycleGAN between the domains:
generators G_st (source -> target) and G_ts (target -> source), image discriminators D_t and D_s.
Each step the generators minimise

    LSGAN: (D_t(G_st(x_s)) - 1)^2 + (D_s(G_ts(x_t)) - 1)^2
    + cycle_weight * (|G_ts(G_st(x_s)) - x_s|_1 + |G_st(G_ts(x_t)) - x_t|_1)
    + semantic_weight * on * (CE(f_s(G_st(x_s)), argmax f_s(x_s)) + CE(f_s(G_ts(x_t)), argmax f_s(x_t)))

with the discriminators fixed; then the discriminators minimise the LSGAN loss
0.5 (D(real) - 1)^2 + 0.5 D(translated)^2 of their domain, on the translations of this step. The
semantic-consistency term is the paper's: f_s must give a translation the label it gives the
original, so a translator that turns a 5 into an 8 pays for it. Its gradients reach the generators
through f_s, never f_s's weights.

With ``semantic_classifier=trained`` (the default on classification tasks) f_s is the official
code's semantic classifier (``cyclegan/models/cycle_gan_semantic_model.py`` of
jhoffman/cycada_release): it keeps training, in train mode, on the labelled source batch of every
step (cross-entropy, its own Adam optimiser: the official ``optimizer_CLS``, learning rate 1e-3,
betas (beta1, 0.999) with CycleGAN's beta1 0.5; here ``semantic_classifier_lr`` and ``adam_beta1``,
backbone parameters at ``backbone_lr_mult`` times that rate), and ``on`` is 0 while that
cross-entropy is above ``semantic_threshold`` (the official code switches the semantic loss off
above 1.0). Each step: f_s's cross-entropy on the source batch (which decides ``on``), the
generators' step with the labels of f_s as it is at that step, the discriminators' step, then f_s's
step (the official order: G, D, classifier). With ``semantic_classifier=frozen`` (the default on
segmentation tasks) f_s is fixed after the source phase, as the paper describes: no gradient, eval
mode, ``on`` is always 1.

Batch norm where f_s labels and judges (``semantic_batch_norm``): with ``domain`` (the default on
classification tasks) each of the four batches, x_s, x_t, G_st(x_s) and G_ts(x_t), goes through f_s
on its own and is normalised with its own batch statistics, as in the official code, whose
classifier runs in train mode and sees each of them in a separate forward pass. So argmax f_s(x_t)
and f_s(G_st(x_s)) (target images and target-styled translations) never use source statistics. With
``running`` (the default on segmentation tasks) f_s uses its running statistics, the source's. In
both cases dropout is off in these passes and they leave the running statistics alone: those are
updated only by f_s's own source training.

``task`` (source and target, ``--steps`` steps) fixes the generators and trains the task model,
``self.task_model`` (a fresh :class:`TaskModel`, or a copy of f_s with ``task_from_source``), with
cross-entropy on translated source G_st(x_s) and the source labels y_s, with the shared SGD recipe.
``cycada`` (pixel+feat) adds feature-level alignment, DANN-style: translated source and target go
through the task model in one forward pass, and a domain discriminator (two batch-normed hidden
layers, the shared ``mlp``) on the bottleneck features is trained through the gradient-reversal
layer, with DANN's coefficient schedule, weighted by ``feature_weight``. ``cycada-pixel`` has no
feature discriminator and never looks at target images in this phase. ``predict`` is the task model.

Segmentation (both names run on segmentation tasks, as the paper's GTA5 -> Cityscapes experiments
do): f_s and the task model are the task's segmentation network, every cross-entropy is per pixel
(ignored pixels count for nothing) and the semantic-consistency loss compares f_s's label maps of
the originals and of their translations. The feature level then aligns the task model's softmax
outputs with a fully convolutional PatchGAN-shaped discriminator (one domain score per patch,
``discriminator_width``/``discriminator_layers``) through the GRL: udabench's choice, after
AdaptSegNet's output-space alignment; the paper's segmentation experiments align FCN features.

The generators end in tanh, mapped to the task's normalised space (``tanh_to_task``: the identity
under the mean 0.5 / std 0.5 of the digit and sign tasks). They map C channels to C channels:
both domains arrive at the task's protocol (same resolution and channel count).

From the paper and its official code:

- the objective: LSGAN adversarial losses, L1 cycle losses with weight 1 (the official digit script
  sets lambda_A = lambda_B = 1 and no identity loss), the semantic-consistency loss with weight 1,
  both directions labelled by the source classifier on the originals; then a task model trained on
  the translated source with the source labels;
- ResNet-style generators (reflection-padded 7x7 convolution, stride-2 downsampling, residual
  blocks, transposed-convolution upsampling, 7x7 convolution with tanh) and PatchGAN
  discriminators (4x4 convolutions, LeakyReLU 0.2, ``discriminator_layers`` = 3 stride-2 layers as
  in the official digit script), both with instance normalisation and N(0, 0.02) initial weights;
- Adam with learning rate 2e-4 and beta1 0.5 for generators and discriminators; each step updates
  the generators, then the discriminators.

udabench's choices:

- smaller networks for the CPU: ``generator_width`` 16 (official 64), ``generator_blocks`` 3
  (official 9), ``discriminator_width`` 32 (official 64); no dropout in the residual blocks (the
  official digit script does not pass CycleGAN's ``--no_dropout``, so its blocks have dropout 0.5);
  the PatchGAN drops stride-2 layers where the images are too small for three (it keeps at least
  3 px before its stride-1 layers);
- the semantic classifier. The paper describes a source classifier trained first and then fixed;
  the official code trains a fresh classifier alongside the CycleGAN (see ``translate``). Here f_s is
  trained first (or taken from ``--source-run``) and, on classification tasks, keeps training in the
  translate phase as the official classifier does: a source-trained classifier in eval mode
  normalises target images with source batch-norm statistics and was right only about half the time
  on digit targets, so the semantic loss taught the translators wrong labels. The official code
  gates on the classifier's loss of the previous step (off at the first step); here on this step's,
  measured before f_s's update, which is the same quantity one batch later. Its SVHN -> MNIST
  script also labels the source direction with the true labels y_s rather than f_s's
  (``semantic_true_labels`` turns that on) and weighs one generator's GAN loss twice (G_A's, source
  -> target); here both GAN terms have weight 1;
- batch norm for f_s's labels: per-domain batch statistics (``semantic_batch_norm=domain``), the
  official code's, rather than AdaBN's target statistics (``udabench.api.TargetStatistics``, as
  3C-GAN and Label2Image use for a fixed labeller): f_s's weights change every step, so statistics
  re-estimated on earlier target batches would belong to earlier weights, and a translated batch
  G_st(x_s) is not yet distributed like real target images while the translator learns; its own
  batch statistics fit both. Dropout is off where f_s labels (the official classifier has none);
- segmentation keeps the frozen f_s with its running statistics by default
  (``semantic_classifier`` and ``semantic_batch_norm`` at ``auto``): the segmentation networks are
  large pretrained models fine-tuned at DeepLab's small SGD rate, which Adam at 1e-3 would undo,
  training f_s there adds a forward and backward pass of such a network to every translate step,
  and the digit findings behind the new default say nothing about them; ``trained`` and
  ``domain`` run there too when asked;
- generators are sampled in eval mode (task phase, snapshots) and trained in train mode; that is
  the same network either way, since their instance norm (PyTorch's default: no affine parameters,
  no running statistics) always normalises each image with its own statistics and they have no
  dropout;
- no history pool of earlier translations for the discriminators (CycleGAN's pool of 50 images is
  mostly replaced each step at the official batch of 100 anyway), and a constant learning rate in
  the translate phase (CycleGAN decays it linearly in the second half of training);
- the feature level is DANN-style (GRL, joint batch-norm statistics, in the same task phase). The
  paper's digit experiments align features ADDA-style, with a separate target encoder initialised
  from the model trained on translated source;
- the task model starts fresh (``task_from_source`` starts it from f_s as the translate phase left
  it); f_s is trained with the shared SGD recipe for ``source_steps`` = 3000 steps, the default
  ``--steps`` of ``source-only``;
  ``translate_steps`` defaults to 1000, far fewer than the official training (CycleGAN's default
  schedule of 100 + 100 epochs), so that a run fits on a CPU (raise it, and the network sizes, on a
  GPU).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from udabench.api import (Generator, Method, UdabenchError, domain_adversarial_loss, fixed, freeze, frozen,
                          grl_coefficient, lr_groups, lsgan_loss, mlp, patch_discriminator, schedule_lr, sgd,
                          tanh_to_task, task_loss, task_model)

SNAPSHOT_IMAGES = 8
SEMANTIC_CLASSIFIERS = ("auto", "trained", "frozen")
SEMANTIC_BATCH_NORMS = ("auto", "domain", "running")


def _choice(hparams, name: str, choices: tuple[str, ...]) -> str:
    value = hparams[name]
    if value not in choices:
        raise UdabenchError(f"{name} must be one of {', '.join(choices)}, not '{value}'")
    return value


class CyCADA(Method):
    def __init__(self, context):
        super().__init__(context)
        hp = self.hparams
        channels = context.in_channels

        classifier = _choice(hp, "semantic_classifier", SEMANTIC_CLASSIFIERS)
        batch_norm = _choice(hp, "semantic_batch_norm", SEMANTIC_BATCH_NORMS)
        # ``auto``: the official code's trained classifier on per-domain batch statistics for
        # classification, the fixed source classifier on its running statistics for segmentation.
        self.classifier_trained = classifier == "trained" or (classifier == "auto" and not context.dense)
        self.domain_statistics = batch_norm == "domain" or (batch_norm == "auto" and not context.dense)

        self.model = task_model(context, hp)  # the source classifier f_s
        self.task_model = task_model(context, hp)
        self.generator_st = Generator(channels, hp["generator_width"], hp["generator_blocks"],
                                      hp["generator_downsamplings"])
        self.generator_ts = Generator(channels, hp["generator_width"], hp["generator_blocks"],
                                      hp["generator_downsamplings"])
        for generator in (self.generator_st, self.generator_ts):  # tanh's [-1, 1] in the task's normalised space
            generator.head.append(tanh_to_task(context))
        self.discriminator_t = patch_discriminator(channels, hp["discriminator_width"], hp["discriminator_layers"],
                                                   context.resolution)
        self.discriminator_s = patch_discriminator(channels, hp["discriminator_width"], hp["discriminator_layers"],
                                                   context.resolution)
        self.feature_level = "feature_weight" in hp  # only the ``cycada`` spec has the feature settings
        if self.feature_level and context.dense:
            # Segmentation: align the softmax outputs, one score per patch (AdaptSegNet's output space).
            self.feature_discriminator = patch_discriminator(context.num_classes, hp["discriminator_width"],
                                                             hp["discriminator_layers"], context.resolution)
        elif self.feature_level:
            width = hp["discriminator_dim"]
            self.feature_discriminator = mlp([self.task_model.out_features, width, width, 1])
        else:
            self.feature_discriminator = None
        # Images shown by snapshot(): the first batch of the translate phase. Not part of the checkpoint.
        self.register_buffer("shown_source", None, persistent=False)
        self.register_buffer("shown_target", None, persistent=False)

    # --- source ------------------------------------------------------------------------------

    # --- translate ---------------------------------------------------------------------------

    def begin_translate(self):
        hp = self.hparams
        betas = (hp["adam_beta1"], 0.999)
        if self.classifier_trained:
            # The official code's optimizer_CLS: Adam 1e-3, betas (beta1, 0.999).
            self.model.requires_grad_(True)
            self.model.zero_grad(set_to_none=True)
            lr = hp["semantic_classifier_lr"]
            self.classifier_optimizer = torch.optim.Adam(lr_groups(self.model, lr, hp), lr=lr, betas=betas)
        else:
            freeze(self.model)
            self.keep_in_eval(self.model)  # fixed f_s: running statistics, no dropout
        generators = list(self.generator_st.parameters()) + list(self.generator_ts.parameters())
        discriminators = list(self.discriminator_t.parameters()) + list(self.discriminator_s.parameters())
        self.generator_optimizer = torch.optim.Adam(generators, lr=hp["translate_lr"], betas=betas)
        self.discriminator_optimizer = torch.optim.Adam(discriminators, lr=hp["translate_lr"], betas=betas)

    def labelling(self):
        """f_s as the semantic loss uses it: no gradient into its weights, dropout off, its running
        statistics left alone; batch norm on each batch's own statistics (``semantic_batch_norm``
        ``domain``) or on the running ones (``running``)."""
        return fixed(self.model, own_batch_statistics=self.domain_statistics)

    def semantic_loss(self, source_x, translated_source, target_x, translated_target, source_y=None):
        """f_s's cross-entropy on both translations against its labels of the originals.

        ``translated_source`` is G_st(source_x), ``translated_target`` is G_ts(target_x). With
        ``source_y`` given, the source direction uses those labels instead of f_s's. Each of the
        four batches goes through f_s on its own (see :meth:`labelling`), so with per-domain
        statistics each is normalised by its own batch.
        """
        with self.labelling() as classifier:
            with torch.no_grad():
                source_labels = classifier(source_x).argmax(1) if source_y is None else source_y
                target_labels = classifier(target_x).argmax(1)
            return (task_loss(classifier(translated_source), source_labels)
                    + task_loss(classifier(translated_target), target_labels))

    def generator_losses(self, source_x, target_x, source_y=None, semantic=True):
        """The generators' loss terms on one pair of batches, and the two translations.

        Returns ``(losses, G_st(source_x), G_ts(target_x))`` with ``losses`` holding ``gan``,
        ``cycle`` and ``semantic``, all unweighted; ``semantic`` is zero (and not computed) when
        ``semantic`` is false.
        """
        translated_source = self.generator_st(source_x)
        translated_target = self.generator_ts(target_x)
        cycle = (F.l1_loss(self.generator_ts(translated_source), source_x)
                 + F.l1_loss(self.generator_st(translated_target), target_x))
        gan = (lsgan_loss(self.discriminator_t(translated_source), True)
               + lsgan_loss(self.discriminator_s(translated_target), True))
        if semantic:
            semantic_loss = self.semantic_loss(source_x, translated_source, target_x, translated_target, source_y)
        else:
            semantic_loss = torch.zeros((), device=source_x.device)
        return {"gan": gan, "cycle": cycle, "semantic": semantic_loss}, translated_source, translated_target

    def discriminator_loss(self, source_x, target_x, translated_source, translated_target):
        """LSGAN loss of D_t (target real, G_st(x_s) fake) plus that of D_s (source real, G_ts(x_t) fake)."""
        loss_t = 0.5 * (lsgan_loss(self.discriminator_t(target_x), True)
                        + lsgan_loss(self.discriminator_t(translated_source.detach()), False))
        loss_s = 0.5 * (lsgan_loss(self.discriminator_s(source_x), True)
                        + lsgan_loss(self.discriminator_s(translated_target.detach()), False))
        return loss_t + loss_s

    def update_translate(self, batch):
        self._keep_for_snapshot(batch)
        hp = self.hparams
        source_y = batch.source_y if hp["semantic_true_labels"] else None
        logs = {}
        semantic_on = True
        if self.classifier_trained:
            # f_s's own training loss (train mode: source batch statistics, dropout), which decides
            # whether the semantic loss is on; its gradient waits for f_s's step at the end.
            classifier_loss = task_loss(self.model(batch.source_x), batch.source_y)
            self.classifier_optimizer.zero_grad(set_to_none=True)
            classifier_loss.backward()
            semantic_on = classifier_loss.item() <= hp["semantic_threshold"]
            logs["classifier_loss"] = classifier_loss.detach()
        with frozen(self.discriminator_t, self.discriminator_s):
            losses, translated_source, translated_target = self.generator_losses(
                batch.source_x, batch.target_x, source_y, semantic=semantic_on)
            generator_loss = (losses["gan"] + hp["cycle_weight"] * losses["cycle"]
                              + hp["semantic_weight"] * losses["semantic"])
            self.generator_optimizer.zero_grad(set_to_none=True)
            generator_loss.backward()
            self.generator_optimizer.step()

        discriminator_loss = self.discriminator_loss(batch.source_x, batch.target_x, translated_source,
                                                     translated_target)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()
        if self.classifier_trained:
            self.classifier_optimizer.step()
        return {"generator_loss": generator_loss.detach(), "gan_loss": losses["gan"].detach(),
                "cycle_loss": losses["cycle"].detach(), "semantic_loss": losses["semantic"].detach(),
                "semantic_on": torch.tensor(float(semantic_on), device=generator_loss.device),
                "discriminator_loss": discriminator_loss.detach(), **logs}

    # --- task --------------------------------------------------------------------------------

    def begin_task(self):
        hp = self.hparams
        freeze(self.model, self.generator_st, self.generator_ts, self.discriminator_t, self.discriminator_s)
        # f_s fixed; the generators as they trained (instance norm without running statistics, no dropout).
        self.keep_in_eval(self.model, self.generator_st, self.generator_ts)
        if hp["task_from_source"]:
            self.task_model.load_state_dict(self.model.state_dict())
        trained = list(self.task_model.parameters())
        if self.feature_discriminator is not None:
            trained += list(self.feature_discriminator.parameters())
        self.optimizer = sgd(trained, hp)

    def update_task(self, batch):
        self._keep_for_snapshot(batch)
        hp = self.hparams
        schedule_lr(self.optimizer, hp, self.progress)
        with torch.no_grad():
            translated = self.generator_st(batch.source_x)
        n_source = translated.shape[0]
        logs = {}
        if self.feature_discriminator is None:
            class_loss = task_loss(self.task_model(translated), batch.source_y)
            loss = class_loss
        else:
            # Feature level: the task model's features (segmentation: its softmax outputs, AdaptSegNet's
            # output space) of translated source and target, aligned through the GRL.
            if self.context.dense:
                logits = self.task_model(torch.cat([translated, batch.target_x]))
                class_loss = task_loss(logits[:n_source], batch.source_y)
                aligned = logits.softmax(1)
            else:
                aligned = self.task_model.features(torch.cat([translated, batch.target_x]))
                class_loss = task_loss(self.task_model.head(aligned[:n_source]), batch.source_y)
            coefficient = grl_coefficient(self.progress, hp["grl_gamma"])
            domain_loss, domain_accuracy = domain_adversarial_loss(self.feature_discriminator, aligned, n_source,
                                                                   coefficient)
            loss = class_loss + hp["feature_weight"] * domain_loss
            logs["domain_loss"] = domain_loss.detach()
            logs["domain_accuracy"] = domain_accuracy.detach()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "class_loss": class_loss.detach(), **logs}

    def predict(self, x):
        return self.task_model(x)

    def translate(self, x):
        return self.generator_st(x) if self.phase in ("translate", "task") else None

    # --- images ------------------------------------------------------------------------------

    def _keep_for_snapshot(self, batch):
        if self.shown_source is None:
            count = min(SNAPSHOT_IMAGES, batch.source_x.shape[0], batch.target_x.shape[0])
            self.shown_source = batch.source_x[:count].detach().clone()
            self.shown_target = batch.target_x[:count].detach().clone()

    def snapshot(self):
        """In ``translate`` and ``task``: one grid of four rows of the same fixed images.

        Row 1: source images; row 2: their G_st translations (target style); row 3: target images;
        row 4: their G_ts translations (source style).
        """
        if self.phase not in ("translate", "task") or self.shown_source is None:
            return {}
        source, target = self.shown_source, self.shown_target
        grid = torch.cat([source, self.generator_st(source), target, self.generator_ts(target)])
        return {"translations": (grid, source.shape[0])}
