"""Whole-step capture (--capture), tested on the CPU with torch.compile's cheapest backends: the
compiled DANN step trains to the eager step's numbers without a recompile per step, a method without
a static step stays eager, and a step that fails to compile falls back to eager, leaving no trace of
the failed attempt."""

from __future__ import annotations

import pytest
import torch

from datagen import digits_request
from udabench.api import schedule_tensor_lr, tensor_lr
from udabench.cli import main
from udabench.api import schedule_lr
from udabench.plugins import load_registry
from udabench.runner import execute, load_checkpoint, prepare
from udabench.runner import capture as capture_module


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


def request_for(tiny_digits, **kwargs):
    return digits_request(tiny_digits, **{"steps": 6, **kwargs})


def train(registry, request, folder):
    return execute(prepare(registry, request), registry, request, folder)


@pytest.mark.parametrize("schedule", ["dann", "poly", "none"])
def test_tensor_learning_rates_follow_the_float_schedule(schedule):
    hparams = {"lr_schedule": schedule}
    layers = [torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)]
    floats = torch.optim.SGD([{"params": layers[0].parameters(), "lr": 0.01},
                              {"params": layers[1].parameters(), "lr": 0.001}], lr=0.01)
    tensors = tensor_lr(torch.optim.SGD([{"params": layers[0].parameters(), "lr": 0.01},
                                         {"params": layers[1].parameters(), "lr": 0.001}], lr=0.01))
    rates = [group["lr"] for group in tensors.param_groups]
    assert all(isinstance(rate, torch.Tensor) and rate.dim() == 0 for rate in rates)
    for progress in (0.0, 0.3, 0.9):
        schedule_lr(floats, hparams, progress)
        schedule_tensor_lr(tensors, hparams, progress)
        for float_group, tensor_group, rate in zip(floats.param_groups, tensors.param_groups, rates):
            assert tensor_group["lr"] is rate  # written in place: a compiled step keeps reading it
            assert float(rate) == pytest.approx(float_group["lr"], rel=1e-6)
    assert float(rates[1]) < float(rates[0])  # the groups keep their own rates


def test_capture_is_on_for_cuda_only_by_default():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert capture_module.wanted("auto", cuda) and not capture_module.wanted("auto", cpu)
    assert capture_module.wanted("on", cpu) and not capture_module.wanted("off", cuda)


def test_a_captured_dann_step_trains_to_the_eager_numbers_without_recompiling(registry, tiny_digits, tmp_path,
                                                                               monkeypatch):
    from torch._dynamo.utils import counters

    monkeypatch.setattr(capture_module, "BACKEND", "aot_eager")  # dynamo and AOT autograd, no C++ build
    torch._dynamo.reset()
    counters.clear()
    off = train(registry, request_for(tiny_digits, capture="off"), tmp_path / "off")
    on = train(registry, request_for(tiny_digits, capture="on"), tmp_path / "on")
    assert off.details["capture"] == "eager" and on.details["capture"] == "captured"
    assert on.key == off.key  # how the step executes, not a different run
    # Six steps with a learning rate and a GRL coefficient that change every step: compiled once, then
    # replayed (a recompile per step would show as recompiles here).
    assert counters["stats"]["unique_graphs"] >= 1 and not counters["recompiles"]
    weights_on, weights_off = load_checkpoint(on.checkpoint), load_checkpoint(off.checkpoint)
    for name in weights_off:
        torch.testing.assert_close(weights_on[name], weights_off[name], rtol=1e-4, atol=1e-5)
    for a, b in zip(off.history, on.history):
        for name, value in a.items():
            if isinstance(value, float):
                assert b[name] == pytest.approx(value, rel=1e-4, abs=1e-6)
    assert on.metrics == pytest.approx(off.metrics, abs=1e-6)


def test_a_method_without_a_static_step_runs_eagerly(registry, tiny_digits, tmp_path):
    result = train(registry, request_for(tiny_digits, method="source-only", steps=2, capture="on"), tmp_path)
    assert result.details["capture"].startswith("eager: the method's step is not static")


def _compiler_error():
    from torch._dynamo.exc import BackendCompilerFailed

    return BackendCompilerFailed(lambda *a: None, RuntimeError("no compiler for this graph"), None)


@pytest.mark.parametrize("error, name", [
    (_compiler_error, "BackendCompilerFailed"),
    # What capturing a step as a CUDA graph raises when the step does something a graph cannot hold.
    (lambda: RuntimeError("operation not permitted when stream is capturing"), "RuntimeError"),
])
def test_a_first_step_that_fails_compiled_falls_back_to_eager_and_leaves_no_trace(registry, tiny_digits, tmp_path,
                                                                                   monkeypatch, capsys, error, name):
    def broken_compile(function, device):
        def compiled(batch):
            function(batch)  # the step runs (weights, batch-norm statistics, optimiser move) ...
            raise error()  # ... then fails
        return compiled

    eager = train(registry, request_for(tiny_digits, capture="off"), tmp_path / "eager")
    monkeypatch.setattr(capture_module, "_compile", broken_compile)
    fallen = train(registry, request_for(tiny_digits, capture="on"), tmp_path / "fallen")
    assert fallen.details["capture"].startswith(f"eager: the compiled step failed ({name}")
    assert "continuing without capture" in capsys.readouterr().err
    # The failed attempt was undone: the run equals one that never tried.
    weights_eager, weights_fallen = load_checkpoint(eager.checkpoint), load_checkpoint(fallen.checkpoint)
    for name in weights_eager:
        torch.testing.assert_close(weights_fallen[name], weights_eager[name])
    assert fallen.metrics == eager.metrics


def test_errors_of_the_method_itself_are_not_swallowed(registry, tiny_digits, tmp_path, monkeypatch):
    from udabench_dann.method import DANN

    def broken(self, batch):
        raise ValueError("a bug in the method")

    monkeypatch.setattr(capture_module, "_compile", lambda function, device: function)
    monkeypatch.setattr(DANN, "static_update", broken)
    with pytest.raises(ValueError, match="a bug in the method"):  # compiled, then eagerly: raised both times
        train(registry, request_for(tiny_digits, capture="on"), tmp_path)


def test_after_the_first_step_only_the_compilers_errors_fall_back(registry, tiny_digits, tmp_path, monkeypatch):
    def fails_at_the_third_step(function, device):
        calls = [0]

        def compiled(batch):
            calls[0] += 1
            if calls[0] == 3:
                raise RuntimeError("an error of the step, not of the compiler")
            return function(batch)
        return compiled

    monkeypatch.setattr(capture_module, "_compile", fails_at_the_third_step)
    with pytest.raises(RuntimeError, match="not of the compiler"):
        train(registry, request_for(tiny_digits, capture="on"), tmp_path)


def test_capture_is_a_run_and_sweep_option(tiny_digits, store_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--method", "dann", "--task", "mnist-usps", "--capture", "sometimes", "--store", str(store_path)])
    assert exit_.value.code == 2 and "argument --capture: invalid choice: 'sometimes'" in capsys.readouterr().err
    from udabench.sweep import read_sweep_file

    store_path.parent.mkdir(parents=True, exist_ok=True)
    sweep = store_path.parent / "s.toml"
    sweep.write_text('methods = ["dann"]\ntasks = ["mnist-usps"]\ncapture = "off"\n')
    assert read_sweep_file(sweep).capture == "off"
