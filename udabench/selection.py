"""Model selection: which of a run's evaluation points a reported number comes from.

UDA has no target labels, so choosing the checkpoint with the best target test accuracy is an
upper bound, not a result. The runner evaluates each run at a few points of its last phase and
records, per point, the target test metrics (kept for reporting only), the source test accuracy
and two scores computed from unlabelled target training images. Each rule below picks one point;
a leaderboard says which rule it used. Importing this module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from udabench.errors import UdabenchError


@dataclass(frozen=True)
class Rule:
    name: str
    score: str | None  # the evaluation field the rule ranks by, "{metric}" the task's; None: the last point
    higher_is_better: bool
    uses_target_labels: bool
    description: str


RULES = {
    rule.name: rule
    for rule in (
        Rule("last", None, True, False, "the model at the end of training (the default)"),
        Rule("source-accuracy", "source_{metric}", True, False,
             "the point with the highest accuracy (mIoU on segmentation) on the source test split "
             "(source labels only)"),
        Rule("entropy", "entropy", False, False,
             "the point with the lowest mean prediction entropy on unlabelled target training images"),
        Rule("snd", "snd", True, False,
             "the point with the highest soft neighbourhood density of the predictions on unlabelled "
             "target training images (Saito et al., ICCV 2021)"),
        Rule("oracle", "{metric}", True, True,
             "the point with the highest target test accuracy (mIoU on segmentation): uses target labels, "
             "an upper bound that is always marked as such, never a UDA result"),
    )
}
DEFAULT_RULE = "last"


def get_rule(name: str) -> Rule:
    if name not in RULES:
        raise UdabenchError(f"unknown selection rule '{name}'; known: {', '.join(RULES)}")
    return RULES[name]


def select(evaluations: Sequence[dict[str, Any]], rule: str, metric: str = "accuracy") -> dict[str, Any]:
    """The evaluation point ``rule`` picks, ``metric`` being the task's main metric; ties go to the
    later point."""
    if not evaluations:
        raise ValueError("no evaluation points to select from")
    chosen = get_rule(rule)
    if chosen.score is None:
        return evaluations[-1]
    score = chosen.score.format(metric=metric)
    sign = 1.0 if chosen.higher_is_better else -1.0
    best = None
    for point in evaluations:  # later points win ties: they saw more training
        if best is None or sign * point[score] >= sign * best[score]:
            best = point
    return best


def selections(evaluations: Sequence[dict[str, Any]], metric: str = "accuracy") -> dict[str, dict[str, Any]]:
    """For every rule, the point it picks (phase, step and the metrics stored for that point); a rule
    whose score the points lack (source accuracy of a run that had no source data) picks nothing."""
    return {name: dict(select(evaluations, name, metric)) for name, rule in RULES.items()
            if rule.score is None or all(rule.score.format(metric=metric) in point for point in evaluations)}


def evaluation_steps(steps: int, points: int) -> list[int]:
    """``points`` steps spread evenly over a phase of ``steps`` steps, ending with the last one."""
    points = max(1, min(points, steps))
    return sorted({round(steps * (i + 1) / points) for i in range(points)})


def prediction_scores(logits, temperature: float = 0.05) -> dict[str, float]:
    """Label-free scores of predictions on unlabelled target images: mean entropy and SND.

    SND: softmax outputs are L2-normalised, their pairwise cosine similarities (self excluded) divided
    by ``temperature`` go through a softmax per row, and the score is the mean entropy of those rows;
    a model whose target predictions form dense clusters scores high.
    """
    import torch

    probabilities = torch.softmax(logits.float(), dim=1)
    entropy = -(probabilities * torch.log(probabilities.clamp_min(1e-12))).sum(1).mean()
    normalised = torch.nn.functional.normalize(probabilities, dim=1)
    similarity = normalised @ normalised.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    neighbours = torch.softmax(similarity, dim=1)
    snd = -(neighbours * torch.log(neighbours.clamp_min(1e-12))).sum(1).mean()
    return {"entropy": float(entropy), "snd": float(snd)}
