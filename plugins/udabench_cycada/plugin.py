"""Registers ``cycada-pixel`` (pixel-level only) and ``cycada`` (pixel+feature level), one factory for both.

The factory tells the two apart by their hyperparameters: only ``cycada`` has ``feature_weight``
(and the feature discriminator's settings), and only then does it build a feature discriminator.
"""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, TRANSLATOR_HPARAMS, HParam,
                          MethodSpec, Phase, hookimpl)

FACTORY = "udabench_cycada.method:CyCADA"
CODE = "CyCADA's official code"

PHASES = (
    SOURCE_PHASE,
    Phase("translate", frozenset({"source", "target"}), steps_param="translate_steps"),
    Phase("task", frozenset({"source", "target"})),
)

PIXEL_HPARAMS = {
    **TASK_MODEL_HPARAMS,
    **SOURCE_PHASE_HPARAMS,
    "translate_steps": HParam(1000, "steps of the translate phase, the CycleGAN with the semantic-consistency "
                                    "loss (udabench's choice); the task phase runs --steps"),
    **TRANSLATOR_HPARAMS,
    "cycle_weight": HParam(1.0, f"weight of each direction's L1 cycle-consistency loss ({CODE}, digit script: 1)"),
    "semantic_weight": HParam(1.0, "weight of the semantic-consistency loss, f_s's cross-entropy on both "
                                   f"translations against its labels of the originals ({CODE}: 1)"),
    "semantic_classifier": HParam("auto", "'trained': f_s, the source phase's classifier, keeps training in the "
                                          f"translate phase on labelled source ({CODE}); 'frozen': fixed, eval "
                                          "mode (the paper); 'auto': trained on classification, frozen on "
                                          "segmentation tasks (udabench's choice)",
                                  choices=("auto", "trained", "frozen")),
    "semantic_classifier_lr": HParam(1e-3, "Adam learning rate of a trained f_s, beta1 adam_beta1, backbone at "
                                           f"backbone_lr_mult times it ({CODE}: 1e-3)"),
    "semantic_threshold": HParam(1.0, "with a trained f_s, the semantic loss is off while f_s's cross-entropy "
                                      f"on the step's source batch is above this, in nats ({CODE}: 1.0)"),
    "semantic_batch_norm": HParam("auto", "batch statistics where f_s labels and judges: 'domain', each of x_s, "
                                          f"x_t, G_st(x_s), G_ts(x_t) its own ({CODE}); 'running', the source's; "
                                          "'auto': domain on classification, running on segmentation tasks",
                                  choices=("auto", "domain", "running")),
    "semantic_true_labels": HParam(False, "source direction of the semantic loss against the true labels y_s "
                                          f"instead of f_s's labels of x_s ({CODE}: true; the paper: false)"),
    "task_from_source": HParam(False, "start the task model from the trained f_s instead of a fresh "
                                      "initialisation (udabench's choice: fresh)"),
}

FEATURE_HPARAMS = {
    "feature_weight": HParam(1.0, "weight of the feature-level domain loss in the task phase, DANN-style through "
                                  "the GRL (udabench's choice)"),
    "discriminator_dim": HParam(1024, "hidden width of the batch-normed feature discriminator, two layers "
                                      "(udabench's choice, DANN's)", positive=True),
    "grl_gamma": HParam(10.0, "GRL coefficient 2 / (1 + exp(-gamma p)) - 1 over the task phase (Ganin & "
                              "Lempitsky, ICML 2015: 10)"),
}


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="cycada-pixel",
            factory=FACTORY,
            setting="uda",
            phases=PHASES,
            hparams=dict(PIXEL_HPARAMS),
            description="CyCADA pixel level: source classifier, CycleGAN with a semantic-consistency loss, "
                        "task model trained on source translated to the target style (Hoffman et al. 2018)",
            kinds=("classification", "segmentation"),
        ),
        MethodSpec(
            name="cycada",
            factory=FACTORY,
            setting="uda",
            phases=PHASES,
            hparams={**PIXEL_HPARAMS, **FEATURE_HPARAMS},
            description="CyCADA pixel+feat: cycada-pixel plus feature-level adversarial alignment of translated "
                        "source and target in the task phase (Hoffman et al. 2018)",
            kinds=("classification", "segmentation"),
        ),
    ]
