"""Registers ``suit`` and its averaged-weights variant ``suit-avgw`` (one factory, two defaults)."""

from dataclasses import replace

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, TRANSLATOR_HPARAMS, HParam,
                          MethodSpec, Phase, hookimpl)

FACTORY = "udabench_suit.method:SUIT"
PHASES = (SOURCE_PHASE, Phase("adapt", frozenset({"source", "target"})))

HPARAMS = {
    **TASK_MODEL_HPARAMS,
    **SOURCE_PHASE_HPARAMS,
    **TRANSLATOR_HPARAMS,
    "adversarial_weight": HParam(1.0, "weight of the translator's LSGAN loss against the target discriminator "
                                      "(udabench's choice)"),
    "semantic_weight": HParam(1.0, "weight of L_sem, the network's cross-entropy on translated source against "
                                   "the source labels; it trains translator and network (udabench's choice)"),
    "content_weight": HParam(1.0, "weight of L_con, the squared distance between content features of a source "
                                  "image and of its translation (udabench's choice)"),
    "content_features": HParam("source-model", "the fixed feature extractor f of L_con: 'source-model', the "
                                               "encoder of a frozen source-trained network (udabench's reading; "
                                               "the paper's f is not known), or 'none' (no content loss)",
                               choices=("source-model", "none")),
    "average_weights": HParam(False, "'w/ Avg.W': predict with an exponential moving average of the network's "
                                     "weights (udabench's reading of the paper's averaged weights)"),
    "average_decay": HParam(0.999, "decay of that moving average per step, after a warm-up of (1 + t) / (10 + t) "
                                   "(udabench's choice)", below=1),
    "generator_from": HParam("none", "RUN: take the translator of this stored SUIT run (same task, any backbone) "
                                     "and keep it fixed, the generator transplant; 'none' trains a translator"),
}


@hookimpl
def udabench_methods():
    common = dict(factory=FACTORY, setting="uda", phases=PHASES,
                  kinds=("segmentation", "classification"))
    return [
        MethodSpec(name="suit", hparams=dict(HPARAMS),
                   description="SUIT: one-way source -> target translator against a target discriminator, "
                               "semantic and content losses, network trained on source and translated source "
                               "(Li et al., Pattern Recognition 2020)", **common),
        MethodSpec(name="suit-avgw",
                   hparams={**HPARAMS, "average_weights": replace(HPARAMS["average_weights"], default=True)},
                   description="SUIT w/ Avg.W: suit predicting with a moving average of the network's weights",
                   **common),
    ]
