"""AdaBN: source-only's model, then every batch-norm layer's statistics re-estimated on the target.

Phase ``source`` is source-only's (the same class: the same network, recipe and random draws, so a
source-only run of ``source_steps`` steps is the same model and ``--source-run`` can take one).
Phase ``adapt`` changes no weight. It resets the running mean and variance of every batch-norm
layer and forwards unlabelled target training batches without gradient, batch norm in training
mode and dropout off, each layer averaging the batches' statistics cumulatively (``momentum=None``):
the running mean is the mean over the target images seen, the running variance the mean of the
batches' unbiased variances. Predictions then normalise target features by target statistics, as
in the paper; the paper averages over the whole target set at once, here over ``adapt_steps``
shuffled batches.
"""

from udabench.api import TargetStatistics, mean_entropy
from udabench_source_only.method import SourceOnly


class AdaBN(SourceOnly):
    def begin_adapt(self):
        self.target_statistics = TargetStatistics(self.model)
        self.target_statistics.restart()

    def update_adapt(self, batch):
        return {"target_entropy": mean_entropy(self.target_statistics.observe(batch.target_x))}
