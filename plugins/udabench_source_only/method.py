"""Source-only training: cross-entropy on source batches, the shared SGD recipe.

No batch norm in the bottleneck by default (``bottleneck_bn`` off, udabench's choice): normalising
target features with the source's running statistics cost the digit tasks up to 27 points
(mnist-usps 50.2 % against 77.1 % without, seeds 0-2, MNIST test set split 7,000/3,000, 3,000 steps
on a CPU). The adabn row shows the batch-normed model with target statistics; adaptation methods
keep the batch norm they train with.
"""

from udabench.api import Method, task_model


class SourceOnly(Method):
    def __init__(self, context):
        super().__init__(context)
        self.model = task_model(context, self.hparams)

    # Its one phase is the shared source phase of the contract (which AdaBN's source phase is too).
    begin_train, update_train = Method.begin_source, Method.update_source

    def predict(self, x):
        return self.model(x)
