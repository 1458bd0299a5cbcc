"""DANN: a domain discriminator on the bottleneck features, trained through the GRL.

Source and target batches go through the task model in one forward pass, so batch-norm statistics
are shared between the domains. The discriminator (two batch-normed hidden layers) follows the
widely used Office-31 recipe; the GRL and learning-rate schedules follow the paper.

The step is static (:mod:`udabench.capture`): ``update`` writes the step's learning rates and GRL
coefficient into tensors, and ``static_update`` (forward, backward, SGD step) reads them, so that the
runner can compile and capture it whole.
"""

import torch
import torch.nn.functional as F

from udabench.api import (Method, grl_coefficient, mlp, reverse_gradient, schedule_tensor_lr, sgd,
                          task_model, tensor_lr)


class DANN(Method):
    def __init__(self, context):
        super().__init__(context)
        hp = self.hparams
        self.model = task_model(context, hp)
        width = hp["discriminator_dim"]
        self.discriminator = mlp([self.model.out_features, width, width, 1])
        # The GRL coefficient of the current step, set by update(): a buffer, so that it moves with the
        # method to its device, but not a persistent one (checkpoints do not hold it).
        self.register_buffer("coefficient", torch.zeros(()), persistent=False)

    def begin_phase(self, phase, steps):
        self.steps = steps
        self.optimizer = tensor_lr(sgd(self.parameters(), self.hparams))

    def update(self, phase, step, batch):
        progress = step / self.steps
        schedule_tensor_lr(self.optimizer, self.hparams, progress)
        self.coefficient.fill_(grl_coefficient(progress, self.hparams["grl_gamma"]))
        return self.static_update(batch)

    def static_update(self, batch):
        n_source = batch.source_x.shape[0]
        features = self.model.features(torch.cat([batch.source_x, batch.target_x]))
        class_loss = F.cross_entropy(self.model.head(features[:n_source]), batch.source_y)
        domain_logits = self.discriminator(reverse_gradient(features, self.coefficient)).squeeze(1)
        domain_labels = torch.cat([torch.ones(n_source, device=features.device),
                                   torch.zeros(features.shape[0] - n_source, device=features.device)])
        domain_loss = F.binary_cross_entropy_with_logits(domain_logits, domain_labels)
        loss = class_loss + self.hparams["trade_off"] * domain_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        domain_accuracy = ((domain_logits > 0).float() == domain_labels).float().mean()
        return {"loss": loss.detach(), "class_loss": class_loss.detach(),
                "domain_loss": domain_loss.detach(), "domain_accuracy": domain_accuracy.detach()}

    def predict(self, x):
        return self.model(x)
