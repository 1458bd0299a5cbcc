"""Collects the steps/s of the step-speed benchmarks and prints their ratio after the run."""

from __future__ import annotations

import pytest

_STEP_RATES = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def step_rates(pytestconfig) -> dict:
    """Variant name -> median training steps per second (filled only when benchmarking is enabled)."""
    return pytestconfig.stash.setdefault(_STEP_RATES, {})


def pytest_terminal_summary(terminalreporter, config):
    rates = config.stash.get(_STEP_RATES, {})
    if "udabench" in rates and "pil-dataloader" in rates:
        terminalreporter.write_sep("-", "DANN step speed (median steps/s, same process)")
        for name, rate in rates.items():
            terminalreporter.write_line(f"{name:>16}: {rate:7.2f} steps/s")
        terminalreporter.write_line(
            f"udabench / pil-dataloader: {rates['udabench'] / rates['pil-dataloader']:.2f}x"
        )
