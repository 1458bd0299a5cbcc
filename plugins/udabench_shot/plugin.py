"""Registers the ``shot`` method."""

from udabench.api import SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl

CODE = "SHOT's official code"


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
                "label_smoothing": HParam(0.1, f"label smoothing of the source cross-entropy ({CODE}: 0.1)", below=1),
                "head_weight_norm": HParam(True, f"weight normalisation of the classifier head ({CODE}: on)"),
                "im_weight": HParam(1.0, "weight of the information-maximisation loss, mean entropy minus the "
                                         f"entropy of the mean prediction ({CODE}: 1.0)"),
                "beta": HParam(0.1, f"weight of the cross-entropy on centroid pseudo-labels ({CODE}: 0.1 for "
                                    "digits, 0.3 for object recognition; 0 gives SHOT-IM)"),
                "memory_size": HParam(1024, "recent target features (and predictions) kept to estimate the class "
                                            "centroids, the current batch included (udabench's choice; 0: the "
                                            "current batch alone)"),
                "cluster_rounds": HParam(1, f"hard k-means rounds after the probability-weighted centroids "
                                            f"({CODE}: 1)"),
            },
            description="source-free: frozen source classifier, feature extractor adapted on target with "
                        "information maximisation and centroid pseudo-labels (Liang et al. 2020)",
        )
    ]
