"""Registers the ``dann`` method."""

from udabench.api import TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="dann",
            factory="udabench_dann.method:DANN",
            setting="uda",
            phases=(Phase("train", frozenset({"source", "target"})),),
            hparams={
                **TASK_MODEL_HPARAMS,
                "trade_off": HParam(1.0, "weight of the domain loss (Ganin & Lempitsky, ICML 2015: 1)"),
                "discriminator_dim": HParam(1024, "hidden width of the batch-normed domain discriminator, two "
                                                  "layers (Ganin et al., JMLR 2016: 1024)", positive=True),
                "grl_gamma": HParam(10.0, "GRL coefficient 2 / (1 + exp(-gamma p)) - 1 over progress p "
                                          "(Ganin & Lempitsky, ICML 2015: 10)"),
            },
            description="domain-adversarial training with a gradient-reversal layer (Ganin & Lempitsky 2015)",
        )
    ]
