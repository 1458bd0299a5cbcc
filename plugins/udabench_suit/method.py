"""SUIT: a one-way source -> target translator trained with the task network, for segmentation.

Phase ``source`` (labelled source only, ``source_steps`` steps) trains the network S (for a
segmentation task the task's segmentation network; for classification the task model) with the
shared SGD recipe. It is ``self.model``, so ``--source-run`` loads a stored source model into it.

Phase ``adapt`` (source and target, ``--steps`` steps) trains, each step:

- the translator G (source -> target only, no cycle; the shared ResNet-style ``Generator``) on
  ``adversarial_weight`` * LSGAN(D_t(G(x_s)) -> real) + ``semantic_weight`` * L_sem
  + ``content_weight`` * L_con, with L_sem = CE(S(G(x_s)), y_s) and L_con the mean squared distance
  between f(G(x_s)) and f(x_s);
- S on L_task = CE(S(x_s), y_s) + CE(S(G(x_s)), y_s). The second term is L_sem (weighted by
  ``semantic_weight`` for both): one pass gives its gradient to G and S, as the objective minimises
  it over both;
- the target discriminator D_t (a PatchGAN) on LSGAN: target images real, G(x_s) fake.

f is a frozen copy of S as it leaves the source phase (its encoder features, ``features``), in eval
mode: ``content_features=source-model``. The paper's f is not known here; this is udabench's
reading (a VGG on ImageNet is the other sensible one, and needs weights this repository cannot
download in its tests). ``content_features=none`` drops L_con.

``suit-avgw`` ("SUIT w/ Avg.W") predicts with an exponential moving average of S's weights and
batch-norm statistics over the adapt phase (decay warming up to ``average_decay``), udabench's
reading of "averaged weights".

Generator transplant: ``--set generator_from=RUN`` takes G from another stored SUIT run of the same
task (trained with any network, e.g. FCN8s-VGG16) and keeps it fixed: D_t is not trained and the
adapt phase trains S alone on L_task, so a translator trained once serves several networks, as in the
transplant table of the thesis-defence slides.

Choices: G and D_t are CycleGAN-shaped (the shared ``udabench.translation`` networks, smaller than
CycleGAN's for the CPU) with Adam 2e-4, beta1 0.5; G ends in tanh mapped to the task's normalised
space. S keeps the shared SGD recipe (its learning rate from the task's protocol).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from udabench.api import (Generator, Method, freeze, frozen, lsgan_loss, patch_discriminator, schedule_lr, sgd,
                          tanh_to_task, task_loss, task_model)


class SUIT(Method):
    def __init__(self, context):
        super().__init__(context)
        hp = self.hparams
        channels = context.in_channels
        self.model = task_model(context, hp)
        self.generator = Generator(channels, hp["generator_width"], hp["generator_blocks"],
                                   hp["generator_downsamplings"])
        self.generator.head.append(tanh_to_task(context))
        self.discriminator = patch_discriminator(channels, hp["discriminator_width"], hp["discriminator_layers"],
                                                 context.resolution)
        if hp["content_features"] not in ("source-model", "none"):
            raise ValueError(f"content_features must be 'source-model' or 'none', not '{hp['content_features']}'")
        self.__dict__["content_model"] = None  # the fixed f of L_con, built when the adapt phase starts
        self.averaged: nn.Module | None = None
        self.transplanted = False

    # --- phases ------------------------------------------------------------------------------

    def begin_adapt(self):
        hp = self.hparams
        if hp["content_features"] == "source-model" and hp["content_weight"] and not self.transplanted:
            # Kept out of the module tree: a fixed copy, not worth a place in the checkpoint.
            self.__dict__["content_model"] = copy.deepcopy(self.model).requires_grad_(False)
            self.keep_in_eval(self.content_model, always=True)
        if hp["average_weights"]:
            self.averaged = copy.deepcopy(self.model).requires_grad_(False)
            self.keep_in_eval(self.averaged, always=True)
            self.average_updates = 0
        self.optimizer = sgd(self.model.parameters(), hp)
        if not self.transplanted:
            betas = (hp["adam_beta1"], 0.999)
            self.generator_optimizer = torch.optim.Adam(self.generator.parameters(), lr=hp["translate_lr"],
                                                        betas=betas)
            self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                                            lr=hp["translate_lr"], betas=betas)

    def update_adapt(self, batch):
        logs = self._adapt_step(batch)
        if self.averaged is not None:
            self._update_average()
        return logs

    def load_generator_weights(self, state):
        weights = {key[len("generator."):]: value for key, value in state.items() if key.startswith("generator.")}
        if not weights:
            raise KeyError("the checkpoint holds no 'generator.*' weights (is it a SUIT run?)")
        self.generator.load_state_dict(weights)
        freeze(self.generator)
        self.keep_in_eval(self.generator, always=True)
        self.transplanted = True

    # --- steps -------------------------------------------------------------------------------

    def content_loss(self, source_x, translated):
        """Mean squared distance between the fixed extractor's features of x_s and of G(x_s)."""
        with torch.no_grad():
            reference = self.content_model.features(source_x)
        return F.mse_loss(self.content_model.features(translated), reference)

    def _adapt_step(self, batch):
        hp = self.hparams
        schedule_lr(self.optimizer, hp, self.progress)
        source_x, source_y = batch.source_x, batch.source_y
        if self.transplanted:
            with torch.no_grad():
                translated = self.generator(source_x)
            logits = self.model(torch.cat([source_x, translated]))
            n = source_x.shape[0]
            source_loss, semantic = task_loss(logits[:n], source_y), task_loss(logits[n:], source_y)
            loss = source_loss + semantic
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            return {"task_loss": loss.detach(), "source_loss": source_loss.detach(), "semantic_loss": semantic.detach()}

        translated = self.generator(source_x)
        # Source and translated source in one pass: S's batch statistics cover both.
        logits = self.model(torch.cat([source_x, translated]))
        n = source_x.shape[0]
        source_loss, semantic = task_loss(logits[:n], source_y), task_loss(logits[n:], source_y)
        with frozen(self.discriminator):
            adversarial = lsgan_loss(self.discriminator(translated), True)
        logs = {}
        generator_loss = hp["adversarial_weight"] * adversarial + hp["semantic_weight"] * semantic
        if self.content_model is not None:
            content = self.content_loss(source_x, translated)
            generator_loss = generator_loss + hp["content_weight"] * content
            logs["content_loss"] = content.detach()
        # One backward pass: L_sem's gradient reaches G and S; the adversarial and content terms reach
        # G only (D_t and f take no gradient, and S is not on their path); the source CE reaches S only.
        self.optimizer.zero_grad(set_to_none=True)
        self.generator_optimizer.zero_grad(set_to_none=True)
        (generator_loss + source_loss).backward()
        self.optimizer.step()
        self.generator_optimizer.step()

        discriminator_loss = 0.5 * (lsgan_loss(self.discriminator(batch.target_x), True)
                                    + lsgan_loss(self.discriminator(translated.detach()), False))
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()
        return {"task_loss": (source_loss + semantic).detach(), "source_loss": source_loss.detach(),
                "semantic_loss": semantic.detach(), "gan_loss": adversarial.detach(),
                "discriminator_loss": discriminator_loss.detach(), **logs}

    @torch.no_grad()
    def _update_average(self):
        """One moving-average step. The decay warms up as (1 + t) / (10 + t) until it reaches
        ``average_decay`` (TensorFlow's ExponentialMovingAverage with num_updates), so that a short run
        is not averaged mostly with its starting weights; batch-norm running statistics are averaged
        alike, so that they belong to the averaged weights (integer counters are copied)."""
        self.average_updates += 1
        t = self.average_updates
        decay = min(self.hparams["average_decay"], (1.0 + t) / (10.0 + t))
        for averaged, current in zip(self.averaged.parameters(), self.model.parameters()):
            averaged.lerp_(current, 1.0 - decay)
        for averaged, current in zip(self.averaged.buffers(), self.model.buffers()):
            if averaged.is_floating_point():
                averaged.lerp_(current, 1.0 - decay)
            else:
                averaged.copy_(current)

    # --- outputs -----------------------------------------------------------------------------

    def predict(self, x):
        return (self.averaged if self.averaged is not None else self.model)(x)

    def translate(self, x):
        return self.generator(x) if self.phase == "adapt" else None

    def snapshot(self):
        return {}
