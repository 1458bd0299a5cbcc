"""Every registered task and dataset, built-in or installed, must be sound as registered: a new data
plugin is covered here without new test code, in well under a second (no data is loaded; ``udabench
check PLUGIN --data NAME=PATH`` loads a plugin's own data too).

Each task's datasets, backbone and base resolve; its splits exist in its datasets; its mean and std
fit its channels; a classification task's two datasets share one label space. Each dataset names its
classes (once each), a usable size and channel count, a revision, and importable readers.
"""

from __future__ import annotations

import pytest

from udabench.check import static_dataset_problems, static_task_problems
from udabench.plugins import load_registry
from udabench.specs import DatasetSpec, TaskSpec

REGISTRY = load_registry(warn=False)


def test_no_plugin_of_this_environment_warns():
    assert REGISTRY.warnings == []


@pytest.mark.parametrize("task", REGISTRY.names("tasks"))
def test_task_resolves_and_fits_its_datasets(task):
    assert static_task_problems(REGISTRY, REGISTRY.get("tasks", task)) == []


@pytest.mark.parametrize("dataset", REGISTRY.names("datasets"))
def test_dataset_spec_is_sound(dataset):
    assert static_dataset_problems(REGISTRY.get("datasets", dataset)) == []


def test_check_names_what_a_task_gets_wrong_and_what_to_do():
    registry = load_registry(warn=False)
    registry.add("datasets", DatasetSpec("signs43", "signs", None, "v1", ("train", "test"),
                                         tuple(str(i) for i in range(43)), (40, 40), 3), "t")
    task = TaskSpec("mnist-signs", "mnist", "signs43", 28, 3, "dann-digit", mean=(0.5, 0.5), train_split="training")
    assert static_task_problems(registry, task) == [
        "its backbone 'dann-digit' is not registered (did you mean 'dann-digits'?): fix the name in its TaskSpec or "
        "install the plugin that registers it",
        "mean has 2 values for 3 channel(s): give one per channel",
        "dataset 'mnist' has no split training (its splits: train, test); set train_split/test_split of the task",
        "dataset 'signs43' has no split training (its splits: train, test); set train_split/test_split of the task",
        "source 'mnist' has 10 classes and target 'signs43' 43: a classification task needs one label space (same "
        "classes, in the same order)",
    ]
