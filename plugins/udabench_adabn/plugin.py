"""Registers the ``adabn`` method."""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HELP, TASK_MODEL_HPARAMS,
                          MethodSpec, Phase, hookimpl)

PAPER = ("Li, Wang, Shi, Liu & Hou, 'Revisiting Batch Normalization For Practical Domain Adaptation', "
         "ICLR 2017 workshop; Pattern Recognition 2018")


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="adabn",
            factory="udabench_adabn.method:AdaBN",
            setting="uda",
            phases=(SOURCE_PHASE, Phase("adapt", frozenset({"target"}), steps_param="adapt_steps")),
            hparams={**TASK_MODEL_HPARAMS, **SOURCE_PHASE_HPARAMS, "adapt_steps": 200},
            hparam_help={
                **TASK_MODEL_HELP,
                "source_steps": "steps of the source phase: source-only's training on labelled source "
                                "(a source-only run of as many steps is the same model; --source-run takes one)",
                "adapt_steps": "unlabelled target training batches over which every batch-norm layer's mean and "
                               f"variance are re-estimated, as a cumulative average, no weight changing ({PAPER}); "
                               "200 covers a digit task's target training set about 3.5 times at batch 128",
            },
            description="AdaBN: the source model with its batch-norm statistics re-estimated on target "
                        "images (Li et al., ICLR 2017 workshop)",
            kinds=("classification", "segmentation"),
        )
    ]
