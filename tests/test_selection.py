"""Model selection: the rules, the label-free scores, and the evaluation points a run records."""

from __future__ import annotations

import math

import pytest
import torch

from udabench.errors import UdabenchError
from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, prepare
from udabench.selection import RULES, evaluation_steps, get_rule, prediction_scores, select, selections

POINTS = [
    {"step": 10, "accuracy": 0.50, "source_accuracy": 0.90, "entropy": 1.0, "snd": 3.0},
    {"step": 20, "accuracy": 0.70, "source_accuracy": 0.95, "entropy": 0.4, "snd": 2.0},
    {"step": 30, "accuracy": 0.60, "source_accuracy": 0.95, "entropy": 0.5, "snd": 2.5},
]


@pytest.mark.parametrize("rule, step", [("last", 30), ("oracle", 20), ("source-accuracy", 30), ("entropy", 20),
                                        ("snd", 10)])
def test_each_rule_picks_its_point(rule, step):
    assert select(POINTS, rule)["step"] == step  # source-accuracy ties at 0.95: the later point wins


def test_only_oracle_uses_target_labels_and_unknown_rules_are_errors():
    assert [name for name, rule in RULES.items() if rule.uses_target_labels] == ["oracle"]
    with pytest.raises(UdabenchError, match="unknown selection rule 'best'.*known: last"):
        get_rule("best")
    assert set(selections(POINTS)) == set(RULES)


def test_evaluation_steps_spread_over_the_phase_and_end_at_its_last_step():
    assert evaluation_steps(100, 5) == [20, 40, 60, 80, 100]
    assert evaluation_steps(3, 5) == [1, 2, 3]
    assert evaluation_steps(7, 1) == [7]


def test_entropy_and_snd_on_known_predictions():
    n = 40
    uniform = prediction_scores(torch.zeros(n, 4))
    assert uniform["entropy"] == pytest.approx(math.log(4), rel=1e-5)
    assert uniform["snd"] == pytest.approx(math.log(n - 1), rel=1e-4)  # every neighbour equally close
    confident = torch.full((n, 4), -30.0)
    confident[torch.arange(n), torch.arange(n) % 2] = 30.0  # two tight clusters of 20
    clustered = prediction_scores(confident)
    assert clustered["entropy"] == pytest.approx(0.0, abs=1e-6)
    assert clustered["snd"] == pytest.approx(math.log(n // 2 - 1), rel=1e-3)  # neighbours: its own cluster


def test_a_run_records_its_evaluation_points_and_what_each_rule_picks(tiny_digits):
    registry = load_registry(warn=False)
    request = RunRequest(method="source-only", task="mnist-usps", steps=9, batch_size=8, device="cpu",
                         data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])},
                         progress=False, eval_points=3)
    result = execute(prepare(registry, request), registry, request)
    points = result.details["evaluations"]
    assert [p["step"] for p in points] == [3, 6, 9]
    assert all({"accuracy", "source_accuracy", "entropy", "snd", "mean_class_accuracy"} <= set(p) for p in points)
    assert result.metrics["accuracy"] == points[-1]["accuracy"]
    assert result.details["selection"]["last"] == points[-1]
    assert result.details["selection"]["oracle"]["accuracy"] == max(p["accuracy"] for p in points)
    assert result.details["data"]["usps"]["sizes"] == {"train": 48, "test": 30}
    assert result.details["data"]["mnist"]["kind"] == "parquet"
