"""Registers the ``source-only`` method."""

from udabench.api import TASK_MODEL_HELP, TASK_MODEL_HPARAMS, MethodSpec, Phase, hookimpl


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="source-only",
            factory="udabench_source_only.method:SourceOnly",
            setting="uda",
            phases=(Phase("train", frozenset({"source"})),),
            # No batch norm in the bottleneck by default: normalising target features with the source's
            # running statistics cost the digit tasks up to 27 points (mnist-usps 50.2 against 77.1
            # without, seeds 0-2, MNIST test set split 7,000/3,000, 3,000 steps on a CPU). The adabn
            # row shows the batch-normed model with target statistics; adaptation methods keep the
            # batch norm they train with.
            hparams={**TASK_MODEL_HPARAMS, "bottleneck_bn": False},
            hparam_help={**TASK_MODEL_HELP,
                         "bottleneck_dim": "width of the bottleneck between backbone and head",
                         "bottleneck_bn": "batch norm in the bottleneck (default off here: a source-only "
                                          "model would normalise target features with source statistics; "
                                          "adabn re-estimates them on the target instead)"},
            description="task model trained on labelled source only: the floor of every table",
            kinds=("classification", "segmentation"),
        )
    ]
