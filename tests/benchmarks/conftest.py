"""Collects the rates of the benchmarks (steps/s, sweep runs/s, images/s) and prints their ratios after the run."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

_STEP_RATES = pytest.StashKey[dict]()
_SWEEP_RATES = pytest.StashKey[dict]()
_SEGMENTATION_RATES = pytest.StashKey[dict]()


def pytest_collection_modifyitems(config, items):
    """A plain test run (benchmarking off, as the project's options set it, and this folder not named on
    the command line) skips the benchmarks: they measure speed, and as tests they would only repeat the
    training, sweeps and ``udabench bench`` calls that other tests check. Naming the folder runs them
    once each as plain tests; ``--benchmark-enable`` times them."""
    enabled = config.getoption("benchmark_enable") or not config.getoption("benchmark_disable")
    named = any(HERE == path or HERE in path.parents
                for path in (Path(arg.split("::")[0]).resolve() for arg in config.args))
    if enabled or named:
        return
    skip = pytest.mark.skip(reason="a benchmark: run them with 'pytest tests/benchmarks -n 0 --benchmark-enable'")
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def step_rates(pytestconfig) -> dict:
    """Variant name -> median training steps per second (filled only when benchmarking is enabled)."""
    return pytestconfig.stash.setdefault(_STEP_RATES, {})


@pytest.fixture(scope="session")
def sweep_rates(pytestconfig) -> dict:
    """Local workers -> sweep runs per second (filled only when benchmarking is enabled)."""
    return pytestconfig.stash.setdefault(_SWEEP_RATES, {})


@pytest.fixture(scope="session")
def segmentation_rates(pytestconfig) -> dict:
    """(network and size, method) -> median training images per second (only when benchmarking)."""
    return pytestconfig.stash.setdefault(_SEGMENTATION_RATES, {})


def pytest_terminal_summary(terminalreporter, config):
    images = config.stash.get(_SEGMENTATION_RATES, {})
    if images:
        terminalreporter.write_sep("-", "training step speed (median images/s, same session)")
        for (network, method), rate in sorted(images.items()):
            baseline = images.get((network, "source-only"))
            relative = f"{rate / baseline:.2f}x source-only" if baseline else ""
            terminalreporter.write_line(f"{network:>28} {method:>12}: {rate:9.2f} images/s  {relative}")
    sweeps = config.stash.get(_SWEEP_RATES, {})
    if 1 in sweeps and len(sweeps) > 1:
        terminalreporter.write_sep("-", "sweep throughput (runs/s, same session)")
        for workers, rate in sorted(sweeps.items()):
            terminalreporter.write_line(f"{workers:>3} worker(s): {rate:.3f} runs/s, {rate / sweeps[1]:.2f}x one worker")
    rates = config.stash.get(_STEP_RATES, {})
    if "udabench" in rates and "pil-dataloader" in rates:
        terminalreporter.write_sep("-", "DANN step speed (median steps/s, same process)")
        for name, rate in rates.items():
            terminalreporter.write_line(f"{name:>16}: {rate:7.2f} steps/s")
        terminalreporter.write_line(
            f"udabench / pil-dataloader: {rates['udabench'] / rates['pil-dataloader']:.2f}x"
        )
