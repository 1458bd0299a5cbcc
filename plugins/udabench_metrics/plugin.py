"""Registers accuracy and mean per-class accuracy."""

from udabench.hookspecs import hookimpl
from udabench.specs import MetricSpec


@hookimpl
def udabench_metrics():
    return [
        MetricSpec("accuracy", "udabench_metrics.functions:accuracy", "fraction of correct predictions"),
        MetricSpec("mean_class_accuracy", "udabench_metrics.functions:mean_class_accuracy",
                   "accuracy averaged over the classes present in the labels"),
    ]
