"""ADDA: train a source encoder and classifier, then adapt an untied target encoder adversarially.

Phase ``source`` (labelled source only, ``source_steps`` steps) trains the task model (the task's
backbone, the batch-normed bottleneck and a linear head) with cross-entropy and the shared SGD
recipe. Backbone plus bottleneck are the *source encoder*, the head is the *classifier*.

Phase ``adapt`` (source and target, ``--steps`` steps) starts the *target encoder* as a copy of the
source encoder. Each step, a discriminator learns to label source features (from the frozen source
encoder) 1 and target features (from the target encoder) 0; then the target encoder learns to make
the discriminator answer 1 on target features (the GAN loss with inverted labels). The source
encoder and the classifier never change in this phase; ``predict`` is classifier o target encoder.

From the paper and its official code:

- untied weights: a separate target encoder initialised from the source encoder, with the source
  encoder and the classifier fixed during adaptation; the inverted-label GAN loss for the mapping;
- a discriminator with two hidden layers of 500 ReLU units (``discriminator_dim``);
- Adam with learning rate 2e-4 and beta1 0.5 for both the discriminator and the target encoder,
  constant learning rate (the official SVHN->MNIST script).

udabench's choices:

- the encoder is the task's backbone plus udabench's batch-normed bottleneck, so ADDA runs on the
  same network as the other methods (the paper uses LeNet up to its fc500 layer);
- the source phase uses the shared SGD recipe and its learning-rate schedule for ``source_steps``
  steps, 3000 by default, the default ``--steps`` of ``source-only`` (the official code trains the
  source LeNet with Adam 1e-3 for 10,000 steps);
- the discriminator ends in one logit with a binary cross-entropy, the same model as the official
  two-way softmax with one redundant logit; it has no weight decay;
- each step updates the discriminator first, then the target encoder against the updated
  discriminator (the official code takes both steps from one forward pass); the inverted-label
  loss averages over the target batch only (the official loss also averages in source terms, which
  carry no gradient to the target encoder);
- batch norm and dropout in the adapt phase: the frozen source encoder runs in eval mode, so source
  features use the running statistics of source training and no dropout. The target encoder keeps
  batch norm in training mode, so it normalises with target batch statistics and its running
  statistics (used at test time) become the target's; its dropout is switched off, because
  dropout's zeros and 1/(1-p) scaling would appear in target features only and let the
  discriminator tell the domains apart without looking at their content.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from udabench.api import Method, freeze, frozen, is_dropout, lr_groups, mark_backbone, mlp, task_model


class ADDA(Method):
    def __init__(self, context):
        super().__init__(context)
        hp = self.hparams
        self.model = task_model(context, hp)
        self.target_encoder = nn.Sequential(mark_backbone(copy.deepcopy(self.model.backbone)),
                                            copy.deepcopy(self.model.bottleneck))
        width = hp["discriminator_dim"]
        self.discriminator = mlp([self.model.out_features, width, width, 1], batch_norm=False)
        # Whether predict() uses the target encoder; a buffer so that a reloaded checkpoint knows too.
        self.register_buffer("adapted", torch.zeros((), dtype=torch.bool))

    def begin_adapt(self):
        self.target_encoder[0].load_state_dict(self.model.backbone.state_dict())
        self.target_encoder[1].load_state_dict(self.model.bottleneck.state_dict())
        freeze(self.model)
        self.adapted.fill_(True)
        # The frozen source encoder and classifier use their running statistics and no dropout; the
        # target encoder's dropout is off too (see the module's notes).
        self.keep_in_eval(self.model, *[m for m in self.target_encoder.modules() if is_dropout(m)])
        hp = self.hparams
        betas = (hp["adam_beta1"], 0.999)
        # backbone_lr_mult applies here too (Office-31 fine-tunes a pretrained backbone at 0.1x)
        self.encoder_optimizer = torch.optim.Adam(lr_groups(self.target_encoder, hp["adapt_lr"], hp),
                                                  lr=hp["adapt_lr"], betas=betas)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                                        lr=hp["discriminator_lr"], betas=betas)

    def discriminator_loss(self, source_features, target_features):
        """Binary cross-entropy of the discriminator, source labelled 1 and target 0, and its accuracy."""
        logits = self.discriminator(torch.cat([source_features, target_features])).squeeze(1)
        labels = torch.cat([torch.ones(source_features.shape[0], device=logits.device),
                            torch.zeros(target_features.shape[0], device=logits.device)])
        accuracy = ((logits > 0).float() == labels).float().mean()
        return F.binary_cross_entropy_with_logits(logits, labels), accuracy

    def mapping_loss(self, target_features):
        """The target encoder's GAN loss: target features labelled as source (inverted labels)."""
        logits = self.discriminator(target_features).squeeze(1)
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def update_adapt(self, batch):
        with torch.no_grad():
            source_features = self.model.features(batch.source_x)
        target_features = self.target_encoder(batch.target_x)

        discriminator_loss, accuracy = self.discriminator_loss(source_features, target_features.detach())
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()

        with frozen(self.discriminator):
            mapping_loss = self.mapping_loss(target_features)
            self.encoder_optimizer.zero_grad(set_to_none=True)
            mapping_loss.backward()
            self.encoder_optimizer.step()
        return {"discriminator_loss": discriminator_loss.detach(), "mapping_loss": mapping_loss.detach(),
                "domain_accuracy": accuracy.detach()}

    def predict(self, x):
        if self.adapted:
            return self.model.head(self.target_encoder(x))
        return self.model(x)
