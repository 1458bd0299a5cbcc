"""Registers the ``shot`` method."""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HELP, TASK_MODEL_HPARAMS,
                          MethodSpec, Phase, hookimpl)


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="shot",
            factory="udabench_shot.method:SHOT",
            setting="source-free",
            phases=(
                SOURCE_PHASE,
                Phase("adapt", frozenset({"target"})),
            ),
            hparams={
                **TASK_MODEL_HPARAMS,
                **SOURCE_PHASE_HPARAMS,
                "label_smoothing": 0.1,
                "head_weight_norm": True,
                "im_weight": 1.0,
                "beta": 0.1,
                "memory_size": 1024,
                "cluster_rounds": 1,
            },
            hparam_help={
                **TASK_MODEL_HELP,
                "source_steps": "steps of the source phase (label-smoothed cross-entropy on labelled source); "
                                "the adapt phase runs --steps on target images alone",
                "label_smoothing": "label smoothing of the source cross-entropy (official code: 0.1)",
                "head_weight_norm": "weight normalisation of the classifier head (official code: on)",
                "im_weight": "weight of the information-maximisation loss, mean entropy minus the entropy "
                             "of the mean prediction (official code: 1.0)",
                "beta": "weight of the cross-entropy on centroid pseudo-labels (official code: 0.1 for "
                        "digits, 0.3 for object recognition; 0 gives SHOT-IM)",
                "memory_size": "number of recent target features (and predictions) kept to estimate the "
                               "class centroids, the current batch included (udabench's choice; 0: the "
                               "current batch alone)",
                "cluster_rounds": "hard k-means rounds after the probability-weighted centroids (official code: 1)",
            },
            description="source-free: frozen source classifier, feature extractor adapted on target with "
                        "information maximisation and centroid pseudo-labels (Liang et al. 2020)",
        )
    ]
