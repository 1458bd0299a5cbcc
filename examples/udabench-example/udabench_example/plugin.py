"""Registers the ``entropy-min`` method. Imports no torch: the spec names the code to load."""

from udabench.api import TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="entropy-min",
            factory="udabench_example.method:EntropyMinimization",
            setting="uda",
            phases=(Phase("train", frozenset({"source", "target"})),),
            hparams={
                **TASK_MODEL_HPARAMS,
                "entropy_weight": HParam(0.1, "weight of the mean prediction entropy on target batches "
                                              "(udabench's choice)"),
            },
            description="source cross-entropy plus entropy minimisation on target predictions "
                        "(Grandvalet & Bengio 2004)",
        )
    ]
