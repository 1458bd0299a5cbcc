"""Registers ``suit`` and its averaged-weights variant ``suit-avgw`` (one factory, two defaults)."""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HELP, TASK_MODEL_HPARAMS,
                          TRANSLATOR_HPARAMS, MethodSpec, Phase, hookimpl)

FACTORY = "udabench_suit.method:SUIT"
PHASES = (SOURCE_PHASE, Phase("adapt", frozenset({"source", "target"})))

HPARAMS = {
    **TASK_MODEL_HPARAMS,
    **SOURCE_PHASE_HPARAMS,
    **TRANSLATOR_HPARAMS,
    "adversarial_weight": 1.0,
    "semantic_weight": 1.0,
    "content_weight": 1.0,
    "content_features": "source-model",
    "average_weights": False,
    "average_decay": 0.999,
    "generator_from": "none",
}
HELP = {
    **TASK_MODEL_HELP,
    "source_steps": "steps of the source phase: the segmentation (or classification) network on labelled "
                    "source with the SGD recipe above; the adapt phase runs --steps",
    "generator_width": "channels of the translator's first layer, doubled at each downsampling "
                       "(CycleGAN's code: 64; udabench's default is smaller for the CPU)",
    "generator_blocks": "residual blocks of the translator (CycleGAN's code: 9; smaller here for the CPU)",
    "generator_downsamplings": "stride-2 convolutions before the residual blocks (CycleGAN's code: 2)",
    "discriminator_width": "channels of the target image discriminator's first layer (CycleGAN's code: 64)",
    "discriminator_layers": "stride-2 layers of the PatchGAN target image discriminator (CycleGAN's code: 3)",
    "translate_lr": "Adam learning rate of translator and discriminator",
    "adam_beta1": "Adam beta1 of translator and discriminator",
    "adversarial_weight": "weight of the translator's LSGAN loss against the target discriminator",
    "semantic_weight": "weight of L_sem, the network's cross-entropy on translated source against the source "
                       "labels (it trains translator and network)",
    "content_weight": "weight of L_con, the squared distance between content features of a source image and "
                      "of its translation",
    "content_features": "the fixed feature extractor f of L_con: 'source-model' (the encoder of a frozen copy "
                        "of the source-trained network; udabench's reading, the paper's f is not known) or "
                        "'none' (no content loss)",
    "average_weights": "'w/ Avg.W': predict with an exponential moving average of the network's weights "
                       "(udabench's reading of the paper's averaged weights)",
    "average_decay": "decay of that moving average per step, reached after a warm-up of (1 + t) / (10 + t)",
    "generator_from": "RUN: take the translator of this stored SUIT run (same task, any backbone) and keep it "
                      "fixed: the generator transplant; 'none' trains a translator",
}


@hookimpl
def udabench_methods():
    common = dict(factory=FACTORY, setting="uda", phases=PHASES, hparam_help=dict(HELP),
                  kinds=("segmentation", "classification"))
    return [
        MethodSpec(name="suit", hparams=dict(HPARAMS),
                   description="SUIT: one-way source -> target translator against a target discriminator, "
                               "semantic and content losses, network trained on source and translated source "
                               "(Li et al., Pattern Recognition 2020)", **common),
        MethodSpec(name="suit-avgw", hparams={**HPARAMS, "average_weights": True},
                   description="SUIT w/ Avg.W: suit predicting with a moving average of the network's weights",
                   **common),
    ]
