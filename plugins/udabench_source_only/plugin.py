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
            hparams=dict(TASK_MODEL_HPARAMS),
            hparam_help=dict(TASK_MODEL_HELP),
            description="task model trained on labelled source only: the floor of every table",
            kinds=("classification", "segmentation"),
        )
    ]
