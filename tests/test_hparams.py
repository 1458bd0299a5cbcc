"""Hyperparameter declarations: a spec is checked when it is made, and --set values against their range."""

from __future__ import annotations

import pytest

from udabench.errors import UdabenchError
from udabench.hparams import HParam, parse_assignments, resolve
from udabench.plugins import load_registry
from udabench.specs import MethodSpec, Phase

TRAIN = (Phase("train", frozenset({"source"})),)


def spec(**hparams) -> MethodSpec:
    return MethodSpec("mine", "x:y", "uda", TRAIN, hparams)


@pytest.mark.parametrize("declaration, message", [
    (HParam(1.0, "dropout", below=1), "method 'mine': default of hyperparameter 'knob' must be below 1 (got 1.0)"),
    (HParam(1.5, "fraction", high=1), "method 'mine': default of hyperparameter 'knob' must be at most 1 (got 1.5)"),
    (HParam(0, "width", positive=True), "method 'mine': default of hyperparameter 'knob' must be positive (got 0)"),
    (HParam(-1.0, "weight"), "method 'mine': default of hyperparameter 'knob' must not be negative"),
    (HParam("b", "mode", choices=("a", "c")), "method 'mine': default of knob must be one of a, c, not 'b'"),
    (HParam(1.0, " "), "method 'mine': hyperparameter 'knob' has no help text"),
    (0.1, "method 'mine': hyperparameter 'knob' is a bare default (0.1); declare it as HParam(default, help)"),
])
def test_a_bad_declaration_is_refused_naming_method_and_hyperparameter(declaration, message):
    with pytest.raises(ValueError) as caught:
        spec(knob=declaration)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_help_given_the_old_way_is_refused():
    with pytest.raises(ValueError, match="'knob' has its help in hparam_help; give it in its HParam"):
        MethodSpec("mine", "x:y", "uda", TRAIN, {"knob": HParam(1, "a knob")}, hparam_help={"knob": "a knob"})


def test_a_spec_reads_as_defaults_and_help():
    made = spec(knob=HParam(0.5, "a knob", below=1), low=HParam(-2, "may be negative", low=None))
    assert made.hparams == {"knob": 0.5, "low": -2} and made.hparam_help == {"knob": "a knob", "low": "may be negative"}
    assert made.hparam_specs["knob"].below == 1


@pytest.mark.parametrize("assignment, message", [
    ("knob=1", "hyperparameter 'knob' must be below 1 (got 1.0)"),
    ("part=1.5", "hyperparameter 'part' must be at most 1 (got 1.5)"),
    ("width=0", "hyperparameter 'width' must be positive (got 0)"),
    ("mode=b", "mode must be one of a, c, not 'b'"),
])
def test_set_outside_the_declared_range_is_refused(assignment, message):
    made = spec(knob=HParam(0.5, "k", below=1), part=HParam(1.0, "p", high=1), width=HParam(4, "w", positive=True),
                mode=HParam("a", "m", choices=("a", "c")))
    with pytest.raises(UdabenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve("mine", made.hparams, parse_assignments([assignment]), made.hparam_specs)
    assert resolve("mine", made.hparams, parse_assignments(["part=1", "width=1", "mode=c"]), made.hparam_specs)


def test_the_range_is_the_method_s_own():
    # dropout is a probability in the shared recipe; another method may declare a knob of that name freely
    made = spec(dropout=HParam(2.0, "not a probability here"))
    assert resolve("mine", made.hparams, parse_assignments(["dropout=3"]), made.hparam_specs)["dropout"] == 3.0


def test_every_builtin_hyperparameter_has_help_and_a_default_in_range():
    methods = load_registry(warn=False).specs["methods"]
    assert len(methods) >= 13
    for method in methods.values():
        for name, declared in method.hparam_specs.items():
            assert declared.help.strip() and declared.problem(name, declared.default) is None, (method.name, name)
