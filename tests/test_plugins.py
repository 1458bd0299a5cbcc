"""The registry: discovery of the built-ins, name resolution, duplicates and broken plugins."""

from __future__ import annotations

import types

import pytest

from udabench.errors import UdabenchError
from udabench.hookspecs import hookimpl
from udabench.plugins import load_registry
from udabench.specs import DatasetSpec, MethodSpec, Phase


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def test_builtins_are_discovered_through_entry_points():
    registry = load_registry(warn=False)
    assert {"source-only", "dann"} <= set(registry.names("methods"))
    assert {"mnist", "usps", "mnistm", "svhn", "syndigits"} <= set(registry.names("datasets"))
    assert {"mnist-usps", "usps-mnist", "mnist-mnistm", "svhn-mnist", "mnist-svhn", "syndigits-svhn"} <= set(
        registry.names("tasks"))
    assert {"accuracy", "mean_class_accuracy"} <= set(registry.names("metrics"))
    assert registry.providers["methods"]["dann"] == "udabench"


def test_unknown_name_lists_known_names_and_the_closest():
    registry = load_registry(warn=False)
    with pytest.raises(UdabenchError) as error:
        registry.get("methods", "dnn")
    assert "did you mean 'dann'" in str(error.value) and "source-only" in str(error.value)


def test_family_backbone_resolves_model_names():
    registry = load_registry(warn=False)
    assert registry.get("backbones", "timm:resnet18").name == "timm:"
    with pytest.raises(UdabenchError, match="unknown backbone"):
        registry.get("backbones", "resnet18")


def test_two_plugins_registering_one_name_is_an_error_naming_both():
    spec = MethodSpec("dann", "x:y", "uda", (Phase("train", frozenset({"source"})),), {})
    clash = plugin_module("clash", udabench_methods=lambda: [spec])
    registry = load_registry(extra_plugins=[(clash, "my-dist")], warn=False)
    assert "source-only" in registry.names("methods") and "dann" not in registry.names("methods")
    with pytest.raises(UdabenchError, match="method 'dann' is registered twice: by 'udabench' and by 'my-dist'"):
        registry.get("methods", "dann")


def test_a_failing_hook_is_a_warning_and_the_rest_keeps_working(capsys):
    def broken():
        raise RuntimeError("boom")

    extra = DatasetSpec("extra", "extra", None, "main", ("train",), ("a", "b"), (8, 8), 1)
    registry = load_registry(extra_plugins=[
        (plugin_module("broken", udabench_methods=broken), "broken-dist"),
        (plugin_module("fine", udabench_datasets=lambda: [extra]), "fine-dist"),
    ])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["udabench: plugin from distribution 'broken-dist' failed in udabench_methods: RuntimeError: boom"]
    assert registry.providers["datasets"]["extra"] == "fine-dist"
    assert "dann" in registry.names("methods")


def test_source_free_methods_may_not_see_source_after_their_first_phase():
    with pytest.raises(ValueError, match="source-free"):
        MethodSpec("bad", "x:y", "source-free",
                   (Phase("source", frozenset({"source"})), Phase("adapt", frozenset({"source", "target"}))), {})
    with pytest.raises(ValueError, match="setting must be one of"):
        MethodSpec("bad", "x:y", "semi", (Phase("train", frozenset({"source"})),), {})


def test_a_hook_returning_the_wrong_kind_is_a_warning(capsys):
    dataset = DatasetSpec("odd", "odd", None, "main", ("train",), ("a",), (8, 8), 1)
    registry = load_registry(extra_plugins=[(plugin_module("odd", udabench_methods=lambda: [dataset]), "odd-dist")])
    assert "returned DatasetSpec from udabench_methods, expected MethodSpec" in capsys.readouterr().err
    assert "odd" not in registry.names("methods") and "odd" not in registry.names("datasets")
