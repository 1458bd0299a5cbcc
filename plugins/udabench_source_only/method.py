"""Source-only training: cross-entropy on source batches, the shared SGD recipe."""

from udabench.api import Method, sgd, source_step, task_model


class SourceOnly(Method):
    def __init__(self, context):
        super().__init__(context)
        self.model = task_model(context, self.hparams)

    def begin_phase(self, phase, steps):
        self.steps = steps
        self.optimizer = sgd(self.model.parameters(), self.hparams)

    def update(self, phase, step, batch):
        return source_step(self.model, self.optimizer, self.hparams, step / self.steps, batch)

    def predict(self, x):
        return self.model(x)
