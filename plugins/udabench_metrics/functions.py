"""Metric functions: ``(predictions, labels, num_classes) -> float`` on integer label tensors, or
``(confusion) -> float`` on a confusion matrix (rows true classes, columns predicted)."""

import torch


def accuracy(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    return float((predictions == labels).double().mean())


def mean_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    correct = torch.bincount(labels[predictions == labels], minlength=num_classes).double()
    total = torch.bincount(labels, minlength=num_classes).double()
    present = total > 0
    return float((correct[present] / total[present]).mean())


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean over classes of TP / (TP + FP + FN) from a confusion matrix; classes neither present nor
    predicted are left out of the mean."""
    from udabench.api import iou_per_class

    iou = iou_per_class(confusion)
    return float(iou.nanmean()) if (~iou.isnan()).any() else float("nan")


def pixel_accuracy(confusion: torch.Tensor) -> float:
    """Fraction of labelled pixels predicted right."""
    total = confusion.sum()
    return float(confusion.diagonal().sum().double() / total) if total else float("nan")
