"""Confusion matrices, accumulated batch by batch on the device, and the per-class IoU they give.

Rows are true classes and columns predicted ones; labels equal to ``IGNORE_LABEL`` are left out.
Segmentation predictions are never kept: each batch adds its counts, so evaluating a large image
set needs one ``(K, K)`` matrix, not the predictions of every pixel.
"""

from __future__ import annotations

from udabench.specs import IGNORE_LABEL


def empty(num_classes: int, device):
    import torch

    return torch.zeros((num_classes, num_classes), dtype=torch.int64, device=device)


def add(confusion, labels, predicted) -> None:
    """Add the counts of one batch (any shape; ``labels`` and ``predicted`` alike) to ``confusion``."""
    import torch

    num_classes = confusion.shape[0]
    labels, predicted = labels.reshape(-1).long(), predicted.reshape(-1).long()
    valid = labels != IGNORE_LABEL
    counts = torch.bincount(labels[valid] * num_classes + predicted[valid], minlength=num_classes * num_classes)
    confusion += counts.view(num_classes, num_classes)


def iou_per_class(confusion):
    """IoU of each class, TP / (TP + FP + FN), as float64; NaN for a class neither present nor predicted."""
    import torch

    confusion = confusion.double()
    true_positive = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    return torch.where(union > 0, true_positive / union.clamp_min(1), torch.full_like(union, float("nan")))
