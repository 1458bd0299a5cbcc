"""Registers accuracy and mean per-class accuracy (classification), mean IoU and pixel accuracy
(segmentation)."""

from udabench.api import MetricSpec, hookimpl


@hookimpl
def udabench_metrics():
    return [
        MetricSpec("accuracy", "udabench_metrics.functions:accuracy", "fraction of correct predictions"),
        MetricSpec("mean_class_accuracy", "udabench_metrics.functions:mean_class_accuracy",
                   "accuracy averaged over the classes present in the labels"),
        MetricSpec("miou", "udabench_metrics.functions:mean_iou",
                   "mean over classes of the intersection over union of predicted and true pixels",
                   input="confusion", kinds=("segmentation",)),
        MetricSpec("pixel_accuracy", "udabench_metrics.functions:pixel_accuracy",
                   "fraction of labelled pixels predicted right", input="confusion", kinds=("segmentation",)),
    ]
