"""Tasks that start from another task, and the registry mistakes a plugin author makes, in process:
each ends in one line that says what to do. (``test_dataset_plugin.py`` covers the same through
installed distributions and the command line.)"""

from __future__ import annotations

import types

import pytest

from udabench.errors import UdabenchError
from udabench.hookspecs import hookimpl
from udabench.plugins import DISABLE_VARIABLE, load_registry
from udabench.specs import DatasetSpec, ReportedResult, TaskSpec


def plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, function)
    return module


def tasks_plugin(*tasks) -> types.ModuleType:
    return plugin("tasks", udabench_tasks=hookimpl(lambda: list(tasks)))


def registry_with(*modules):
    return load_registry(extra_plugins=[(module, f"dist-{module.__name__}") for module in modules], warn=False)


# -- TaskSpec.based_on ----------------------------------------------------------------------------

def test_a_task_based_on_a_builtin_takes_its_protocol_and_not_its_numbers():
    registry = registry_with(tasks_plugin(
        TaskSpec.based_on("usps-mnist", name="usps-meter", target="meter", description="USPS -> meter",
                          hparams={"momentum": 0.5}),
    ))
    base, task = registry.get("tasks", "usps-mnist"), registry.get("tasks", "usps-meter")
    assert (task.source, task.target, task.base, task.description) == ("usps", "meter", "usps-mnist", "USPS -> meter")
    for name in ("resolution", "channels", "mean", "std", "backbone", "train_split", "test_split", "kind", "augment"):
        assert getattr(task, name) == getattr(base, name)
    assert task.hparams == {"lr": 0.1, "momentum": 0.5}  # the base's, plus its own
    assert base.reported and task.reported == () and task.suite == ""
    assert not task.pending_base and task.base_fields == {}


def test_a_base_may_itself_be_based_on_another_and_come_from_any_plugin():
    first = tasks_plugin(TaskSpec.based_on("b", name="c", channels=3))  # registered before its base
    second = plugin("second", udabench_tasks=hookimpl(lambda: [
        TaskSpec.based_on("mnist-usps", name="b", reported=(ReportedResult("x", 1.0, "paper"),))]))
    registry = registry_with(first, second)
    assert registry.get("tasks", "c").channels == 3 and registry.get("tasks", "c").source == "mnist"
    assert registry.get("tasks", "c").reported == ()  # numbers are never inherited, at any depth
    assert registry.get("tasks", "b").channels == 1


def test_an_unknown_or_circular_base_leaves_the_task_out_with_a_warning_naming_it(capsys):
    registry = load_registry(extra_plugins=[(tasks_plugin(
        TaskSpec.based_on("mnist-usp", name="typo"),
        TaskSpec.based_on("loop-b", name="loop-a"), TaskSpec.based_on("loop-a", name="loop-b"),
        TaskSpec.based_on("typo", name="after-typo"),
    ), "my-dist")])
    err = capsys.readouterr().err.splitlines()
    assert ("udabench: task 'typo' from distribution 'my-dist' is based on 'mnist-usp', which no plugin registers "
            "(did you mean 'mnist-usps'?); fix the name given to TaskSpec.based_on or install the plugin that "
            "registers it; the task is left out") in err
    assert any(line.startswith("udabench: task 'loop-b' from distribution 'my-dist' is based on 'loop-a', which is "
                               "based on it in turn") for line in err)
    assert ("udabench: task 'after-typo' from distribution 'my-dist' is based on 'typo', which is left out (see "
            "above); the task is left out") in err
    assert not {"typo", "loop-a", "loop-b", "after-typo"} & set(registry.names("tasks"))
    assert "mnist-usps" in registry.names("tasks")
    assert registry.problems["my-dist"] and len(err) == 4


def test_based_on_rejects_a_field_tasks_do_not_have():
    with pytest.raises(TypeError, match=r"unknown field\(s\) targt"):
        TaskSpec.based_on("mnist-usps", name="x", targt="meter")


# -- hooks that register nothing ------------------------------------------------------------------

def test_hooks_without_hookimpl_or_misspelt_are_one_line_each():
    def udabench_tasks():
        return []

    def udabench_dataset():
        return []

    registry = registry_with(
        plugin("forgot", udabench_tasks=udabench_tasks),
        plugin("misspelt", udabench_dataset=hookimpl(udabench_dataset)),
        plugin("half", udabench_tasks=hookimpl(lambda: []), udabench_datasets=udabench_tasks),
        plugin("empty"),
    )
    assert registry.warnings == [
        "udabench: plugin 'forgot' from 'dist-forgot' registers nothing: udabench_tasks lacks @hookimpl (from "
        "udabench.hookspecs import hookimpl, then put @hookimpl above each)",
        "udabench: plugin 'misspelt' from 'dist-misspelt' registers nothing: udabench_dataset is no udabench hook "
        "(did you mean 'udabench_datasets'?)",
        "udabench: plugin 'half' from 'dist-half': udabench_datasets lacks @hookimpl (from udabench.hookspecs "
        "import hookimpl, then put @hookimpl above each); those functions are ignored",
        "udabench: plugin 'empty' from 'dist-empty' registers nothing: module 'empty' defines none of the hooks "
        "(udabench_backbones, udabench_datasets, udabench_methods, udabench_metrics, udabench_suites, "
        "udabench_tasks); the entry point must name the plugin module",
    ]


def test_the_builtins_load_without_a_warning():
    assert load_registry(warn=False).warnings == []


# -- clashes and UDABENCH_DISABLE_PLUGINS ---------------------------------------------------------

MNIST_AGAIN = DatasetSpec("mnist", "another", None, "v1", ("train", "test"), tuple("0123456789"), (28, 28), 1)


def test_a_clashing_dataset_fails_only_what_uses_it():
    registry = registry_with(plugin("clash", udabench_datasets=hookimpl(lambda: [MNIST_AGAIN])))
    assert registry.warnings == [
        "udabench: dataset 'mnist' is registered twice: by 'udabench' and by 'dist-clash'; to use it, leave one out: "
        f"pip uninstall dist-clash, or skip it with {DISABLE_VARIABLE}=dist-clash"]
    assert registry.get("datasets", "usps").name == "usps" and registry.get("methods", "dann")
    with pytest.raises(UdabenchError, match="dataset 'mnist' is registered twice"):
        registry.get("datasets", "mnist")
    assert registry.task_problems(registry.get("tasks", "mnist-usps")) == [
        "its source dataset 'mnist': dataset 'mnist' is registered twice: by 'udabench' and by 'dist-clash'; to use "
        f"it, leave one out: pip uninstall dist-clash, or skip it with {DISABLE_VARIABLE}=dist-clash"]
    assert registry.task_problems(registry.get("tasks", "mnist-usps"), clashes=False) == []
    assert registry.task_problems(registry.get("tasks", "toy-digits-m")) == []


def test_disabled_plugins_are_skipped_and_an_unknown_name_is_one_line(monkeypatch):
    monkeypatch.setenv(DISABLE_VARIABLE, "dist-clash, toy")  # a distribution and a built-in entry point
    registry = registry_with(plugin("clash", udabench_datasets=hookimpl(lambda: [MNIST_AGAIN])))
    assert registry.warnings == [] and registry.providers["datasets"]["mnist"] == "udabench"
    assert "toy-digits-m" not in registry.names("tasks") and "udabench:toy" in registry.skipped
    monkeypatch.setenv(DISABLE_VARIABLE, "dist-clsh")
    registry = registry_with(plugin("clash", udabench_datasets=hookimpl(lambda: [MNIST_AGAIN])))
    assert registry.warnings[0].startswith(f"udabench: {DISABLE_VARIABLE} names 'dist-clsh', which is no installed "
                                           "plugin's distribution or entry-point name (did you mean 'dist-clash'?)")


def test_one_plugin_registering_a_name_twice_is_told_to_rename():
    spec = DatasetSpec("twice", "x", None, "v1", ("train",), ("a",), (8, 8), 1)
    registry = registry_with(plugin("double", udabench_datasets=hookimpl(lambda: [spec, spec])))
    assert registry.warnings == ["udabench: dataset 'twice' is registered twice by 'dist-double': give each of its "
                                 "datasets a name of its own"]
