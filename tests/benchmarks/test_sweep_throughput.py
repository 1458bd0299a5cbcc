"""Sweep throughput: the same small sweep on 1 local worker against N workers, in one session.

Each variant runs ``RUNS`` independent ``source-only`` runs of ``mnist-usps`` on tiny generated
data (the CPU, 1 torch thread per run) into a fresh store with ``udabench sweep``; the benchmark
times the whole command, so process start-up, data loading, training, evaluation and the store
writes all count. ``extra_info["runs_per_s"]`` holds the rate and the session ends with the ratio
N workers / 1 worker. With ``--benchmark-disable`` (the project's default) each variant runs once
with short runs, as a plain test of the same path.

    pytest tests/benchmarks/test_sweep_throughput.py -q -n 0 --benchmark-enable
"""

from __future__ import annotations

import os

import pytest

from udabench.cli import main
from udabench.store import Store

RUNS = 4
STEPS = 300  # per run when benchmarking; a few when not
QUICK_STEPS = 3
WORKERS = (1, 2)


@pytest.mark.benchmark(group="sweep-throughput-cpu", warmup=False)
@pytest.mark.parametrize("workers", WORKERS)
def test_sweep_throughput(benchmark, workers, tiny_digits, tmp_path, sweep_rates):
    enabled = not benchmark.disabled
    steps = STEPS if enabled else QUICK_STEPS
    stores = iter(range(1000))

    def sweep():
        store = tmp_path / f"store-{next(stores)}" / "results.sqlite"
        code = main(["sweep", "--method", "source-only", "--task", "mnist-usps", "--seeds", f"0-{RUNS - 1}",
                     "--steps", str(steps), "--batch-size", "32", "--device", "cpu", "--threads", "1",
                     "--eval-points", "1", "--workers", str(workers), "--store", str(store),
                     "--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}"])
        assert code == 0
        return store

    store = benchmark.pedantic(sweep, rounds=1, iterations=1)
    assert len(Store(store).query(status="ok")) == RUNS
    if enabled:
        rate = RUNS / benchmark.stats.stats.median
        benchmark.extra_info["runs_per_s"] = rate
        benchmark.extra_info["cpus"] = os.cpu_count()
        sweep_rates[workers] = rate
