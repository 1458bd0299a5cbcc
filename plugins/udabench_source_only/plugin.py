"""Registers the ``source-only`` method."""

from udabench.hookspecs import hookimpl
from udabench.hparams import TASK_MODEL_HELP, TASK_MODEL_HPARAMS
from udabench.specs import MethodSpec, Phase


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="source-only",
            factory="udabench_source_only.method:SourceOnly",
            setting="uda",
            phases=(Phase("train", frozenset({"source"})),),
            hparams={**TASK_MODEL_HPARAMS, "bottleneck_bn": True},
            hparam_help={
                **TASK_MODEL_HELP,
                "bottleneck_bn": "batch norm in the bottleneck (true: the same network as the adaptation "
                                 "methods; false: no statistics that a source-only model would carry over)",
            },
            description="task model trained on labelled source only: the floor of every table",
            kinds=("classification", "segmentation"),
        )
    ]
