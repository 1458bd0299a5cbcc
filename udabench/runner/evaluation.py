"""Evaluation: test-split metrics and the unlabelled target scores that model selection ranks points by."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from udabench.specs import TaskSpec, load_object


# Images per evaluation batch: on the CPU a small batch stays in the caches (128 images gave about
# twice the images/s of 1,024 for the digit network, one thread); a GPU wants large ones.
CPU_EVAL_BATCH, EVAL_BATCH = 128, 1024


def default_eval_batch_size(requested: int | None, device) -> int:
    """``requested`` if given, else the evaluation batch for ``device`` (a ``torch.device``)."""
    return requested or (CPU_EVAL_BATCH if device.type == "cpu" else EVAL_BATCH)


@contextlib.contextmanager
def cpu_evaluation_layout(method):
    """Evaluate a network held on the CPU in the default (NCHW) order with its convolution weights in
    channels-last order, and give them back in NCHW afterwards, values unchanged.

    On the CPU, oneDNN's convolutions take channels-last weights at about twice the images per second
    (see the README's speed section); predictions change by float rounding at most. Training keeps its
    layout: a run's numbers and its key stay what they were. A network already channels-last (``--channels-last on``),
    on another device, or without convolutions is left as it is.
    """
    import torch

    weights = [p for p in method.parameters() if p.dim() == 4]
    switch = bool(weights) and weights[0].device.type == "cpu" and all(
        p.is_contiguous() for p in weights) and any(not p.is_contiguous(memory_format=torch.channels_last)
                                                    for p in weights)
    if switch:
        method.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if switch:
            method.to(memory_format=torch.contiguous_format)


def predict_logits(method, images, normalize, batch_size: int):
    """``method``'s logits for uint8 ``images``, in eval mode and batches, on the CPU."""
    import torch

    method.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size].to(normalize.scale.device, non_blocking=True)
            outputs.append(method.predict(normalize(chunk)).float().cpu())
    method.train()
    return torch.cat(outputs)


def evaluate(method, split, normalize, metrics, num_classes, batch_size: int):
    """The metrics of ``method`` on ``split`` and its confusion matrix (on the CPU).

    ``metrics`` maps names to ``(MetricSpec, function)``. Class predictions are kept for metrics of
    predicted and true labels; dense predictions never are: their counts go into a confusion matrix
    on the device, batch by batch.
    """
    import torch

    from udabench import confusion as confusion_module

    if split.labels.dim() == 1:  # one label per image
        predicted = predict_logits(method, split.images, normalize, batch_size).argmax(1)
        labels = split.labels.cpu()
        confusion = confusion_module.empty(num_classes, "cpu")
        confusion_module.add(confusion, labels, predicted)
    else:
        device = normalize.scale.device
        confusion = confusion_module.empty(num_classes, device)
        method.eval()
        with torch.inference_mode():
            for start in range(0, len(split), batch_size):
                images = split.images[start:start + batch_size].to(device, non_blocking=True)
                labels = split.labels[start:start + batch_size].to(device, non_blocking=True)
                confusion_module.add(confusion, labels, method.predict(normalize(images)).argmax(1))
        method.train()
        confusion = confusion.cpu()
    values = {}
    for name, (spec, function) in metrics.items():
        values[name] = (float(function(confusion)) if spec.input == "confusion"
                        else function(predicted, labels, num_classes))
    return values, confusion


# Unlabelled target training images scored at each evaluation point (entropy, SND); for segmentation
# fewer images, and SND over pixels sampled from them.
SELECTION_SAMPLES = 1000
DENSE_SELECTION_SAMPLES = 100
# Pixels of a segmentation batch at evaluation (a 1024x512 image has 2**19): bounds the logits in memory.
DENSE_EVAL_PIXELS = 2 ** 21


def main_metric(task: TaskSpec) -> str:
    """The metric model selection ranks by and leaderboards show by default."""
    return "miou" if task.kind == "segmentation" else "accuracy"


class Evaluator:
    """Evaluates a run at the points of its last phase that model selection chooses among."""

    def __init__(self, method, splits, normalize, registry, task: TaskSpec, class_names, batch_size: int,
                 seed: int):
        import torch

        self.method, self.splits, self.normalize = method, splits, normalize
        self.task, self.class_names = task, tuple(class_names)
        self.num_classes = len(self.class_names)
        self.dense = task.kind == "segmentation"
        height, width = task.size
        self.batch_size = max(1, min(batch_size, DENSE_EVAL_PIXELS // (height * width))) if self.dense else batch_size
        self.metrics = {name: (spec, load_object(spec.function))
                        for name, spec in registry.specs["metrics"].items() if task.kind in spec.kinds}
        target = splits["target_train"]
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(target), generator=generator)
        samples = DENSE_SELECTION_SAMPLES if self.dense else SELECTION_SAMPLES
        self.unlabelled = target.images[order[:samples].to(target.images.device)]
        # The pixels of each unlabelled image whose predictions SND compares (segmentation).
        per_image = -(-SELECTION_SAMPLES // len(self.unlabelled))
        self.pixels = torch.randint(height * width, (len(self.unlabelled), per_image), generator=generator)
        self.points: list[dict[str, Any]] = []
        self.confusion = None

    def __call__(self, phase: str, step: int) -> dict[str, Any]:
        with cpu_evaluation_layout(self.method):
            return self._evaluate(phase, step)

    def _evaluate(self, phase: str, step: int) -> dict[str, Any]:
        target, self.confusion = evaluate(self.method, self.splits["target_test"], self.normalize, self.metrics,
                                          self.num_classes, self.batch_size)
        source = {}  # absent for a source-free run that never loaded source data
        if "source_test" in self.splits:
            source, _ = evaluate(self.method, self.splits["source_test"], self.normalize, self.metrics,
                                 self.num_classes, self.batch_size)
        if self.dense:
            target.update(self.subset_ious(self.confusion))
        point = {"phase": phase, "step": step, **target, **{f"source_{k}": v for k, v in source.items()},
                 **self.unlabelled_scores()}
        self.points.append(point)
        return point

    def subset_ious(self, confusion) -> dict[str, float]:
        """The mean IoU over each of the task's class subsets (e.g. SYNTHIA's 13 classes)."""
        from udabench.confusion import iou_per_class

        iou = iou_per_class(confusion)
        values = {}
        for name, classes in self.task.class_subsets.items():
            chosen = iou[[self.class_names.index(c) for c in classes]]
            values[name] = float(chosen.nanmean()) if (~chosen.isnan()).any() else float("nan")
        return values

    def per_class_iou(self) -> list[list]:
        """The last evaluation's ``[class, IoU]`` pairs in class order (IoU ``None`` for a class neither
        present nor predicted)."""
        from udabench.confusion import iou_per_class

        return [[name, None if math.isnan(value) else value]
                for name, value in zip(self.class_names, iou_per_class(self.confusion).tolist())]

    def per_class_accuracy(self) -> list[list]:
        """The last evaluation's ``[class, accuracy]`` pairs in class order (accuracy ``None`` for a class
        with no test image); with the confusion matrix, what a classification run did class by class."""
        confusion = self.confusion.double()
        totals = confusion.sum(1)
        return [[name, None if totals[index] == 0 else float(confusion[index, index] / totals[index])]
                for index, name in enumerate(self.class_names)]

    def unlabelled_scores(self) -> dict[str, float]:
        """Mean entropy and SND of the predictions on unlabelled target training images; for
        segmentation the entropy of every pixel and the SND of a fixed sample of pixels."""
        import torch

        from udabench.selection import prediction_scores

        if not self.dense:
            return prediction_scores(predict_logits(self.method, self.unlabelled, self.normalize, self.batch_size))
        device = self.normalize.scale.device
        entropy, count, sampled = 0.0, 0, []
        self.method.eval()
        with torch.inference_mode():
            for start in range(0, len(self.unlabelled), self.batch_size):
                images = self.unlabelled[start:start + self.batch_size].to(device, non_blocking=True)
                logits = self.method.predict(self.normalize(images)).float().flatten(2)  # (B, K, pixels)
                log_p = torch.log_softmax(logits, dim=1)
                entropy += float(-(log_p.exp() * log_p).sum(1).sum())
                count += log_p.shape[0] * log_p.shape[2]
                pixels = self.pixels[start:start + len(images)].to(device)
                sampled.append(torch.gather(logits, 2, pixels[:, None, :].expand(-1, logits.shape[1], -1))
                               .transpose(1, 2).reshape(-1, logits.shape[1]).cpu())
        self.method.train()
        scores = prediction_scores(torch.cat(sampled)[:SELECTION_SAMPLES])
        scores["entropy"] = entropy / count
        return scores
