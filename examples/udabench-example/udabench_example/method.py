"""Entropy minimisation: the task model, trained with source cross-entropy plus a weighted
penalty on the entropy of its predictions for unlabelled target images.

Source and target batches share one forward pass, so batch-norm statistics mix both domains.
"""

import torch
import torch.nn.functional as F

from udabench.api import Method, mean_entropy, schedule_lr, sgd, task_model


class EntropyMinimization(Method):
    def __init__(self, context):
        super().__init__(context)
        self.model = task_model(context, self.hparams)

    def begin_train(self):
        self.optimizer = sgd(self.model.parameters(), self.hparams)

    def update_train(self, batch):
        schedule_lr(self.optimizer, self.hparams, self.progress)
        n_source = batch.source_x.shape[0]
        logits = self.model(torch.cat([batch.source_x, batch.target_x]))
        class_loss = F.cross_entropy(logits[:n_source], batch.source_y)
        entropy = mean_entropy(logits[n_source:])
        loss = class_loss + self.hparams["entropy_weight"] * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "class_loss": class_loss.detach(), "entropy": entropy.detach()}

    def predict(self, x):
        return self.model(x)
