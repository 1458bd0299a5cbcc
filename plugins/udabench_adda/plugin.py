"""Registers the ``adda`` method."""

from udabench.api import SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl

CODE = "ADDA's official code"


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="adda",
            factory="udabench_adda.method:ADDA",
            setting="uda",
            phases=(
                SOURCE_PHASE,
                Phase("adapt", frozenset({"source", "target"})),
            ),
            hparams={
                **TASK_MODEL_HPARAMS,
                **SOURCE_PHASE_HPARAMS,
                "discriminator_dim": HParam(500, "hidden width of the discriminator's two ReLU layers (Tzeng et "
                                                 "al., CVPR 2017: 500)", positive=True),
                "adapt_lr": HParam(2e-4, f"Adam learning rate of the target encoder in the adapt phase, which runs "
                                         f"--steps ({CODE}: 2e-4)"),
                "discriminator_lr": HParam(2e-4, f"Adam learning rate of the discriminator in the adapt phase "
                                                 f"({CODE}: 2e-4)"),
                "adam_beta1": HParam(0.5, f"Adam beta1 of both adapt-phase optimisers ({CODE}: 0.5)", below=1),
            },
            description="source training, then a target encoder trained against a domain discriminator "
                        "with the classifier fixed (Tzeng et al. 2017)",
        )
    ]
