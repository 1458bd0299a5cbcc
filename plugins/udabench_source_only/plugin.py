"""Registers the ``source-only`` method."""

from udabench.api import TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="source-only",
            factory="udabench_source_only.method:SourceOnly",
            setting="uda",
            phases=(Phase("train", frozenset({"source"})),),
            hparams={
                **TASK_MODEL_HPARAMS,
                "bottleneck_bn": HParam(False, "batch norm in the bottleneck (udabench's choice: off here, as a "
                                               "source-only model would normalise target features with source "
                                               "statistics; adabn re-estimates them on the target instead)"),
            },
            description="task model trained on labelled source only: the floor of every table",
            kinds=("classification", "segmentation"),
        )
    ]
