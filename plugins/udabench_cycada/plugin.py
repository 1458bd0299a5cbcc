"""Registers ``cycada-pixel`` (pixel-level only) and ``cycada`` (pixel+feature level), one factory for both.

The factory tells the two apart by their hyperparameters: only ``cycada`` has ``feature_weight``
(and the feature discriminator's settings), and only then does it build a feature discriminator.
"""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HELP, TASK_MODEL_HPARAMS,
                          TRANSLATOR_HPARAMS, MethodSpec, Phase, hookimpl)

FACTORY = "udabench_cycada.method:CyCADA"

PHASES = (
    SOURCE_PHASE,
    Phase("translate", frozenset({"source", "target"}), steps_param="translate_steps"),
    Phase("task", frozenset({"source", "target"})),
)

PIXEL_HPARAMS = {
    **TASK_MODEL_HPARAMS,
    **SOURCE_PHASE_HPARAMS,
    "translate_steps": 1000,
    **TRANSLATOR_HPARAMS,
    "cycle_weight": 1.0,
    "semantic_weight": 1.0,
    "semantic_classifier": "auto",
    "semantic_classifier_lr": 1e-3,
    "semantic_threshold": 1.0,
    "semantic_batch_norm": "auto",
    "semantic_true_labels": False,
    "task_from_source": False,
}
PIXEL_HELP = {
    **TASK_MODEL_HELP,
    "source_steps": "steps of the source phase: the source classifier f_s (task model on labelled source, "
                    "SGD recipe above), the starting point of the semantic classifier",
    "translate_steps": "steps of the translate phase (the CycleGAN with the semantic-consistency loss); "
                       "the task phase runs --steps",
    "generator_width": "channels of the generators' first layer, doubled at each downsampling "
                       "(official code: 64; udabench's default is smaller for the CPU)",
    "generator_blocks": "residual blocks of each generator at its lowest resolution "
                        "(official code: 9; udabench's default is smaller for the CPU)",
    "generator_downsamplings": "stride-2 convolutions before the residual blocks, undone by transposed "
                               "convolutions after them (official code: 2)",
    "discriminator_width": "channels of the image discriminators' first layer (official code: 64; "
                           "udabench's default is smaller for the CPU)",
    "discriminator_layers": "stride-2 layers of the PatchGAN image discriminators (official digit script: 3; "
                            "fewer are used where the images are too small for them)",
    "translate_lr": "Adam learning rate of generators and image discriminators (official code: 2e-4, constant here)",
    "adam_beta1": "Adam beta1 of generators and image discriminators (official code: 0.5)",
    "cycle_weight": "weight of each direction's L1 cycle-consistency loss (official digit script: 1)",
    "semantic_weight": "weight of the semantic-consistency loss, f_s's cross-entropy on both translations "
                       "against its labels of the originals (official code: 1)",
    "semantic_classifier": "'trained': f_s keeps training in the translate phase on labelled source (train mode, "
                           "its own Adam) and labels with its weights of that step, as the semantic classifier "
                           "of the official code (cyclegan/models/cycle_gan_semantic_model.py); 'frozen': f_s "
                           "fixed after the source phase, eval mode, as the paper describes; 'auto' (default): "
                           "trained on classification tasks, frozen on segmentation tasks (a large pretrained "
                           "network at DeepLab's small learning rate, where Adam at semantic_classifier_lr "
                           "does not fit, and a training pass of it would be added to every translate step)",
    "semantic_classifier_lr": "Adam learning rate of f_s in the translate phase when trained, beta1 adam_beta1, "
                              "backbone at backbone_lr_mult times it (official code: its optimizer_CLS, Adam "
                              "1e-3 with beta1 0.5)",
    "semantic_threshold": "when f_s is trained: the semantic loss is off while f_s's cross-entropy on the "
                          "step's source batch is above this (official code, cycle_gan_semantic_model.py: 1.0)",
    "semantic_batch_norm": "batch norm where f_s labels originals and judges translations: 'domain' normalises "
                           "each of x_s, x_t, G_st(x_s) and G_ts(x_t) with its own batch statistics, as the "
                           "official code's train-mode semantic classifier does (so target images and "
                           "target-styled translations never take source statistics); 'running': f_s's "
                           "running statistics, the source's; 'auto' (default): domain on classification "
                           "tasks, running on segmentation tasks (the behaviour before 'domain' existed)",
    "semantic_true_labels": "source direction of the semantic loss against the true labels y_s instead of "
                            "f_s's labels of x_s (the official code does this; the paper uses f_s's labels)",
    "task_from_source": "start the task model from the trained f_s instead of a fresh initialisation "
                        "(udabench's choice: fresh by default)",
}

FEATURE_HPARAMS = {"feature_weight": 1.0, "discriminator_dim": 1024, "grl_gamma": 10.0}
FEATURE_HELP = {
    "feature_weight": "weight of the feature-level domain loss in the task phase (DANN-style, through the GRL)",
    "discriminator_dim": "hidden width of the batch-normed feature discriminator (two layers)",
    "grl_gamma": "GRL coefficient 2 / (1 + exp(-gamma p)) - 1 over the task phase (DANN paper: 10)",
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
            hparam_help=dict(PIXEL_HELP),
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
            hparam_help={**PIXEL_HELP, **FEATURE_HELP},
            description="CyCADA pixel+feat: cycada-pixel plus feature-level adversarial alignment of translated "
                        "source and target in the task phase (Hoffman et al. 2018)",
            kinds=("classification", "segmentation"),
        ),
    ]
