"""DANN: a domain discriminator on the bottleneck features, trained through the GRL.

Source and target batches go through the task model in one forward pass, so batch-norm statistics
are shared between the domains. The discriminator (two batch-normed hidden layers) follows the
widely used Office-31 recipe; the GRL and learning-rate schedules follow the paper.

The step is static (see :class:`udabench.method.Method`): ``update_train`` writes the step's learning
rates and GRL coefficient into tensors, and ``static_update`` (forward, backward, SGD step) reads
them, so that the runner can compile and capture it whole. The domain loss is the shared
``domain_adversarial_loss``.
"""

import torch
import torch.nn.functional as F

from udabench.api import (Method, domain_adversarial_loss, grl_coefficient, mlp, schedule_tensor_lr, sgd,
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

    def begin_train(self):
        self.optimizer = tensor_lr(sgd(self.parameters(), self.hparams))

    def update_train(self, batch):
        schedule_tensor_lr(self.optimizer, self.hparams, self.progress)
        self.coefficient.fill_(grl_coefficient(self.progress, self.hparams["grl_gamma"]))
        return self.static_update(batch)

    def static_update(self, batch):
        n_source = batch.source_x.shape[0]
        features = self.model.features(torch.cat([batch.source_x, batch.target_x]))
        class_loss = F.cross_entropy(self.model.head(features[:n_source]), batch.source_y)
        domain_loss, domain_accuracy = domain_adversarial_loss(self.discriminator, features, n_source,
                                                               self.coefficient)
        loss = class_loss + self.hparams["trade_off"] * domain_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "class_loss": class_loss.detach(),
                "domain_loss": domain_loss.detach(), "domain_accuracy": domain_accuracy.detach()}

    def predict(self, x):
        return self.model(x)
