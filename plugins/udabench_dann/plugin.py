"""Registers the ``dann`` method."""

from udabench.api import TASK_MODEL_HELP, TASK_MODEL_HPARAMS, MethodSpec, Phase, hookimpl


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="dann",
            factory="udabench_dann.method:DANN",
            setting="uda",
            phases=(Phase("train", frozenset({"source", "target"})),),
            hparams={**TASK_MODEL_HPARAMS, "trade_off": 1.0, "discriminator_dim": 1024, "grl_gamma": 10.0},
            hparam_help={
                **TASK_MODEL_HELP,
                "trade_off": "weight of the domain loss",
                "discriminator_dim": "hidden width of the batch-normed domain discriminator (two layers)",
                "grl_gamma": "GRL coefficient 2 / (1 + exp(-gamma p)) - 1 (paper: 10)",
            },
            description="domain-adversarial training with a gradient-reversal layer (Ganin & Lempitsky 2015)",
        )
    ]
