"""Metric functions: ``(predictions, labels, num_classes) -> float`` on integer label tensors."""

import torch


def accuracy(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    return float((predictions == labels).double().mean())


def mean_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    correct = torch.bincount(labels[predictions == labels], minlength=num_classes).double()
    total = torch.bincount(labels, minlength=num_classes).double()
    present = total > 0
    return float((correct[present] / total[present]).mean())
