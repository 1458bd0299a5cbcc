"""How runs execute on a GPU, tested on the CPU: --workers-per-gpu (which GPU each sweep worker is
pinned to), --precision bf16 (autocast, its own run key) and --channels-last (same numbers)."""

from __future__ import annotations

import json
import math
from concurrent.futures import Future

import pytest
import torch

from datagen import digits_request
from udabench import executors
from udabench.cli import main
from udabench.executors import LocalExecutor, visible_gpus
from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, load_checkpoint, prepare, run_key
from udabench.runner.execution import use_channels_last
from udabench.sweep import Job, read_sweep_file


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


request_for = digits_request


def data_flags(tiny_digits):
    return ["--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}"]


# --workers-per-gpu


@pytest.mark.parametrize("listed, gpus", [("3,GPU-8f2a", ["3", "GPU-8f2a"]), ("", []), ("0,-1,2", ["0"]),
                                          (" 1 , 0 ", ["1", "0"])])
def test_visible_gpus_read_cuda_visible_devices(monkeypatch, listed, gpus):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", listed)
    assert visible_gpus() == gpus


def test_visible_gpus_count_what_torch_sees_without_the_variable(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert visible_gpus() == ["0", "1", "2"]


class FakePool:
    """Stands for one GPU's process pool: records what it is given and finishes it at once."""

    def __init__(self, gpu, max_workers, log):
        self.gpu, self.max_workers, self.log = gpu, max_workers, log

    def submit(self, function, request, store_path, rerun):
        self.log.append((request.seed, self.gpu))
        future = Future()
        future.set_result(f"seed {request.seed} on {self.gpu}")
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        pass


def test_workers_per_gpu_pins_a_pool_per_gpu_and_spreads_runs_round_robin(monkeypatch):
    monkeypatch.setattr(executors, "thread_share", lambda workers: 16 // workers)
    executor = LocalExecutor(gpus=["0", "1", "2"], workers_per_gpu=2)
    assert executor.workers == 6 and executor.threads == 2  # 3 GPUs x 2; the cores shared among 6 runs
    pools, log = {}, []

    def pool(max_workers, gpu):
        pools[gpu] = FakePool(gpu, max_workers, log)
        return pools[gpu]

    monkeypatch.setattr(executor, "_pool", pool)
    jobs = [Job(RunRequest(method="dann", task="mnist-usps", seed=seed), f"key{seed}") for seed in range(8)]
    outcomes = executor.run(jobs, "store.sqlite", lambda job, outcome: None)
    assert {gpu: p.max_workers for gpu, p in pools.items()} == {"0": 2, "1": 2, "2": 2}
    # Six at once (two per GPU, the least loaded first), then the last two as those finish.
    assert log == [(0, "0"), (1, "1"), (2, "2"), (3, "0"), (4, "1"), (5, "2"), (6, "0"), (7, "1")]
    assert len(outcomes) == 8


def test_a_worker_is_pinned_before_torch_sees_cuda(monkeypatch):
    monkeypatch.setattr(executors, "_die_with_parent", lambda: None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    executors._local_worker_init(2, "GPU-8f2a")
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-8f2a" and os.environ["OMP_NUM_THREADS"] == "2"


def test_a_spawned_worker_sees_its_gpu_only(monkeypatch):
    """The pool the executor starts for a GPU: its worker process sees that GPU alone."""
    import os

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    pool = LocalExecutor(threads=1, gpus=["4", "5"], workers_per_gpu=1)._pool(1, "5")
    try:
        assert pool.submit(os.getenv, "CUDA_VISIBLE_DEVICES").result(timeout=60) == "5"
    finally:
        pool.shutdown()


@pytest.mark.parametrize("extra, message", [
    (["--device", "cpu", "--workers-per-gpu", "2"], "the sweep's device is cpu; use --workers"),
    (["--workers-per-gpu", "2", "--workers", "3"], "give --workers or --workers-per-gpu, not both"),
    (["--workers-per-gpu", "2", "--executor", "ray"], "--gpus-per-run 0.25"),
    (["--workers-per-gpu", "0"], "--workers-per-gpu must be positive"),
    (["--workers-per-gpu", "2"], "--workers-per-gpu: no GPU is visible here"),
])
def test_workers_per_gpu_mistakes_are_one_line(tiny_digits, store_path, capsys, monkeypatch, extra, message):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    code = main(["sweep", "--method", "dann", "--task", "mnist-usps", "--steps", "2", "--store", str(store_path),
                 *data_flags(tiny_digits), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.strip().splitlines()[-1].startswith("udabench: error")
    assert sum(line.startswith("udabench: error") for line in err.splitlines()) == 1


def test_sweep_files_may_set_the_execution_options(tmp_path):
    file = tmp_path / "gpu.toml"
    file.write_text('methods = ["dann"]\ntasks = ["mnist-usps"]\ndevice = "cuda"\nworkers_per_gpu = 4\n'
                    'precision = "bf16"\nchannels_last = "on"\n')
    config = read_sweep_file(file)
    assert (config.workers_per_gpu, config.precision, config.channels_last) == (4, "bf16", "on")


# --precision


def test_bf16_trains_in_autocast_with_finite_losses_and_its_own_key(registry, tiny_digits, tmp_path, monkeypatch):
    from udabench_dann.method import DANN

    seen = []
    update = DANN.update

    def spying(self, phase, step, batch):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return update(self, phase, step, batch)

    monkeypatch.setattr(DANN, "update", spying)
    overrides = {"bottleneck_dim": "16", "discriminator_dim": "16"}
    fp32 = prepare(registry, request_for(tiny_digits, overrides=overrides))
    assert "precision" not in fp32.config  # fp32 runs keep the keys they had before the option
    assert fp32.key == run_key("dann", "mnist-usps", 0, fp32.config)
    request = request_for(tiny_digits, overrides=overrides, precision="bf16")
    prepared = prepare(registry, request)
    assert prepared.config["precision"] == "bf16" and prepared.key != fp32.key
    result = execute(prepared, registry, request, tmp_path)
    assert result.status == "ok" and result.config["precision"] == "bf16"
    assert seen == [torch.bfloat16] * 3
    losses = [value for record in result.history for name, value in record.items() if isinstance(value, float)]
    assert len(result.history) == 3 and losses and all(math.isfinite(value) for value in losses)
    assert 0.0 <= result.metrics["accuracy"] <= 1.0


def test_unknown_precision_is_refused(registry, tiny_digits):
    from udabench.errors import UdabenchError
    from udabench.options import PRECISIONS

    assert PRECISIONS == ("fp32", "bf16")

    with pytest.raises(UdabenchError, match="--precision must be one of fp32, bf16"):
        prepare(registry, request_for(tiny_digits, precision="fp16"))


# --channels-last


def test_channels_last_auto_is_on_for_timm_resnets_on_cuda_only():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert use_channels_last("auto", cuda, "timm:resnet50") and use_channels_last("auto", cuda, "timm:resnext50_32x4d")
    assert not use_channels_last("auto", cpu, "timm:resnet50")
    assert not use_channels_last("auto", cuda, "dann-digits") and not use_channels_last("auto", cuda, "timm:vit_tiny")
    assert use_channels_last("on", cpu, "lenet") and not use_channels_last("off", cuda, "timm:resnet50")


def test_channels_last_trains_a_timm_resnet_to_the_same_numbers(registry, tiny_digits, tmp_path):
    results = {}
    for setting in ("off", "on"):
        request = request_for(tiny_digits, backbone="timm:test_resnet", channels_last=setting,
                              overrides={"bottleneck_dim": "16", "discriminator_dim": "16"})
        prepared = prepare(registry, request)
        results[setting] = execute(prepared, registry, request, tmp_path / setting)
    off, on = results["off"], results["on"]
    assert on.key == off.key  # a memory layout, not a different run
    assert (off.details["channels_last"], on.details["channels_last"]) == (False, True)
    weights_on, weights_off = load_checkpoint(on.checkpoint), load_checkpoint(off.checkpoint)
    convolutions = [name for name, w in weights_on.items() if w.dim() == 4 and min(w.shape[:2]) > 1 and w.shape[2] > 1]
    assert convolutions and all(weights_on[name].is_contiguous(memory_format=torch.channels_last)
                                and not weights_on[name].is_contiguous() for name in convolutions)
    for name in weights_off:
        torch.testing.assert_close(weights_on[name].contiguous(), weights_off[name], rtol=1e-3, atol=1e-4)
    for a, b in zip(off.history, on.history):
        for name, value in a.items():
            if isinstance(value, float):
                assert b[name] == pytest.approx(value, rel=1e-3, abs=1e-5)
    assert on.metrics["accuracy"] == pytest.approx(off.metrics["accuracy"], abs=0.05)


def test_a_cpu_evaluation_takes_channels_last_weights_and_gives_them_back_unchanged(registry, tiny_digits):
    import contextlib

    from udabench.runner import Normalizer, build_method, load_task_data
    from udabench.runner.evaluation import cpu_evaluation_layout, predict_logits
    from udabench.runner.execution import to_channels_last

    prepared = prepare(registry, request_for(tiny_digits))
    splits = load_task_data(prepared, registry, torch.device("cpu"), progress=False)
    method = build_method(prepared, torch.device("cpu"), splits["source_train"].num_classes)
    normalize = Normalizer(prepared.task, torch.device("cpu"), False)
    images = splits["target_test"].images
    before = {name: value.clone() for name, value in method.state_dict().items()}
    plain = predict_logits(method, images, normalize, 16)
    convolutions = [p for p in method.parameters() if p.dim() == 4 and p.shape[1] > 1]
    assert convolutions and all(p.is_contiguous() for p in convolutions)
    with cpu_evaluation_layout(method):
        assert all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convolutions)
        switched = predict_logits(method, images, normalize, 16)
    torch.testing.assert_close(switched, plain, rtol=1e-4, atol=1e-5)  # float rounding at most
    assert all(p.is_contiguous() for p in convolutions)
    for name, value in method.state_dict().items():  # the weights training goes on with: bit for bit
        assert torch.equal(value, before[name]) and value.is_contiguous(), name
    to_channels_last(method)  # a channels-last run (--channels-last on) is evaluated as it is
    with cpu_evaluation_layout(method):
        assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convolutions)
    assert all(not p.is_contiguous() for p in convolutions)
    with contextlib.suppress(ValueError):  # and the weights go back even when the evaluation fails
        method.to(memory_format=torch.contiguous_format)
        with cpu_evaluation_layout(method):
            raise ValueError
    assert all(p.is_contiguous() for p in convolutions)


def test_evaluating_channels_last_changes_nothing_a_run_trains(registry, tiny_digits, tmp_path, monkeypatch):
    import contextlib

    from udabench.runner import evaluation

    request = request_for(tiny_digits, steps=6, eval_points=3)
    prepared = prepare(registry, request)
    switched = execute(prepared, registry, request, tmp_path / "switched")
    monkeypatch.setattr(evaluation, "cpu_evaluation_layout", lambda method: contextlib.nullcontext())
    plain = execute(prepared, registry, request, tmp_path / "plain")
    assert switched.history == plain.history  # the losses of every step, bit for bit
    weights, plain_weights = load_checkpoint(switched.checkpoint), load_checkpoint(plain.checkpoint)
    assert all(torch.equal(weights[name], plain_weights[name]) for name in plain_weights)
    for ours, theirs in zip(switched.details["evaluations"], plain.details["evaluations"]):
        assert ours.keys() == theirs.keys()
        for name, value in theirs.items():  # the phase's name, its step, the scores
            assert ours[name] == (pytest.approx(value, rel=1e-4, abs=1e-5) if isinstance(value, float) else value), name


def test_a_bf16_run_is_its_own_leaderboard_row():
    from udabench.leaderboard import budget_of

    fp32 = {"steps": 100, "batch_size": 8}
    assert budget_of(fp32, None) == "100 steps, batch 8"
    assert budget_of({**fp32, "precision": "bf16"}, None) == "100 steps, batch 8, bf16"


def _worker_facts() -> tuple[int, bool]:
    import os
    import sys

    return os.getpid(), "torch" in sys.modules


def test_a_cpu_worker_starts_with_torch_imported_and_dies_with_the_sweep():
    """A CPU sweep's worker forks from a server that imported torch; it dies when the sweep does,
    although its parent (the fork server) lives on."""
    import os
    import subprocess
    import time
    from concurrent.futures import ProcessPoolExecutor

    context = executors._worker_context("cpu")
    assert context.get_start_method() == "forkserver"
    assert executors._worker_context("cuda").get_start_method() == "spawn"
    sweep = subprocess.Popen(["sleep", "300"])  # stands in for the sweep process
    pool = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=executors._local_worker_init,
                               initargs=(1, None, sweep.pid))
    try:
        worker, torch_imported = pool.submit(_worker_facts).result(timeout=120)
        assert torch_imported and worker != os.getpid()
        sweep.kill()
        sweep.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the worker outlived the sweep process")
    finally:
        sweep.kill()
        pool.shutdown(wait=False, cancel_futures=True)
