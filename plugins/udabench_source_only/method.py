"""Source-only training: cross-entropy on source batches, the shared SGD recipe."""

from udabench.api import Method, task_model


class SourceOnly(Method):
    def __init__(self, context):
        super().__init__(context)
        self.model = task_model(context, self.hparams)

    # Its one phase is the shared source phase of the contract (which AdaBN's source phase is too).
    begin_train, update_train = Method.begin_source, Method.update_source

    def predict(self, x):
        return self.model(x)
