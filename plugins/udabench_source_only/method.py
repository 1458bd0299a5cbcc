"""Source-only training: cross-entropy on source batches, the shared SGD recipe."""

import torch.nn.functional as F

from udabench.method import Method, TaskModel, schedule_lr, sgd


class SourceOnly(Method):
    def __init__(self, context):
        super().__init__(context)
        self.model = TaskModel(context.make_backbone(), context.num_classes,
                               self.hparams["bottleneck_dim"], self.hparams["dropout"],
                               batch_norm=self.hparams["bottleneck_bn"])

    def begin_phase(self, phase, steps):
        self.steps = steps
        self.optimizer = sgd(self.model.parameters(), self.hparams)

    def update(self, phase, step, batch):
        schedule_lr(self.optimizer, self.hparams, step / self.steps)
        loss = F.cross_entropy(self.model(batch.source_x), batch.source_y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}

    def predict(self, x):
        return self.model(x)
