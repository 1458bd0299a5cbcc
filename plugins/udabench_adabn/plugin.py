"""Registers the ``adabn`` method."""

from udabench.api import SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl

PAPER = "Li et al., ICLR 2017 workshop"


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="adabn",
            factory="udabench_adabn.method:AdaBN",
            setting="uda",
            phases=(SOURCE_PHASE, Phase("adapt", frozenset({"target"}), steps_param="adapt_steps")),
            hparams={
                **TASK_MODEL_HPARAMS,
                **SOURCE_PHASE_HPARAMS,
                "adapt_steps": HParam(200, "unlabelled target batches over which every batch-norm layer's mean "
                                           f"and variance are re-estimated as a cumulative average ({PAPER}; "
                                           "udabench's choice: 200, a digit target set about 3.5 times)"),
            },
            description="AdaBN: the source model with its batch-norm statistics re-estimated on target "
                        "images (Li et al., ICLR 2017 workshop)",
            kinds=("classification", "segmentation"),
        )
    ]
