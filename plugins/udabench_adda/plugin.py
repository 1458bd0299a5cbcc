"""Registers the ``adda`` method."""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HELP, TASK_MODEL_HPARAMS,
                          MethodSpec, Phase, hookimpl)


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
                "discriminator_dim": 500,
                "adapt_lr": 2e-4,
                "discriminator_lr": 2e-4,
                "adam_beta1": 0.5,
            },
            hparam_help={
                **TASK_MODEL_HELP,
                "source_steps": "steps of the source phase (encoder and classifier on labelled source, "
                                "with the SGD recipe above); the adapt phase runs --steps",
                "discriminator_dim": "hidden width of the discriminator's two ReLU layers (paper: 500)",
                "adapt_lr": "Adam learning rate of the target encoder in the adapt phase (official code: 2e-4)",
                "discriminator_lr": "Adam learning rate of the discriminator in the adapt phase (official code: 2e-4)",
                "adam_beta1": "Adam beta1 of both adapt-phase optimisers (official code: 0.5)",
            },
            description="source training, then a target encoder trained against a domain discriminator "
                        "with the classifier fixed (Tzeng et al. 2017)",
        )
    ]
