"""Golden runs: every registered built-in method, trained briefly at a fixed seed, must give the very
same numbers as when the golden file was written.

A refactoring that should change no number (moving code, renaming a helper, restructuring a loop) is
checked here bit for bit: the final metrics, the last logged values of every phase and a SHA-256 of
every final weight and buffer. A change that alters numbers on purpose rewrites the golden file in its
own commit, saying why:

    UDABENCH_WRITE_GOLDEN=1 pytest -n 0 tests/test_golden.py

(one process: the cases write to one file).

Floating-point results depend on the torch version and the CPU's vector instructions. On the platform
the file was written on (recorded in it) the comparison is exact; elsewhere metrics and losses must
agree to a relative 1e-4 and the weight hashes are not compared.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import pytest
import torch

from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, prepare

GOLDEN_FILE = Path(__file__).parent / "golden" / "methods.json"
WRITE = os.environ.get("UDABENCH_WRITE_GOLDEN") == "1"
REGISTRY = load_registry(warn=False)
BUILT_IN = sorted(name for name in REGISTRY.names("methods") if REGISTRY.providers["methods"][name] == "udabench")

# Every built-in method on the generated digits task (the segmentation ones on generated scenes), and
# the settings that switch a method onto another code path.
CASES: list[tuple[str, str, dict[str, str]]] = [
    *[(method, "toy-digits-m", {}) for method in BUILT_IN
      if "classification" in REGISTRY.get("methods", method).kinds],
    *[(method, "toy-scenes", {}) for method in BUILT_IN
      if "segmentation" in REGISTRY.get("methods", method).kinds],
    ("source-only", "toy-2d", {}),
    ("dann", "toy-2d", {}),
    ("3cgan", "toy-digits-m", {"classifier_warmup": "0", "generated_gate": "0", "target_statistics_steps": "1"}),
    ("3cgan", "toy-digits-m", {"non_saturating": "false", "adapt_batch_stats": "false", "classifier_warmup": "0"}),
    ("cycada", "toy-digits-m", {"semantic_classifier": "frozen", "semantic_batch_norm": "running",
                                "semantic_true_labels": "true", "task_from_source": "true"}),
    ("label2image", "toy-digits-m", {"conditional_discriminator": "false", "semantic_start": "1"}),
    ("shot", "toy-digits-m", {"beta": "0", "head_weight_norm": "false"}),
    ("shot", "toy-digits-m", {"memory_size": "0", "cluster_rounds": "2"}),
    ("suit-avgw", "toy-digits-m", {"content_weight": "0"}),
]


def case_id(case) -> str:
    method, task, overrides = case
    settings = ",".join(f"{name}={value}" for name, value in sorted(overrides.items()))
    return f"{method}@{task}" + (f"[{settings}]" if settings else "")


def platform() -> dict[str, str]:
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every entry's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def golden_run(case, tmp_path) -> dict:
    """A short CPU run of ``case``: two steps of each phase, batch 8, seed 0, one thread."""
    method, task, overrides = case
    spec = REGISTRY.get("methods", method)
    steps = {phase.steps_param: "2" for phase in spec.phases if phase.steps_param}
    request = RunRequest(method=method, task=task, seed=0, steps=2, batch_size=8, device="cpu", threads=1,
                         overrides={**steps, **overrides}, progress=False, log_every=1, eval_points=2,
                         snapshots=1, channels_last="off", capture="off")
    result = execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path / "artifacts")
    state = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    last = {}
    for record in result.history:
        last[record["phase"]] = {k: v for k, v in record.items() if k != "phase"}
    return {"metrics": dict(sorted(result.metrics.items())), "last_logs": last,
            "evaluations": result.details["evaluations"],
            "weights_sha256": weights_digest(state)}


def _load() -> dict:
    return json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {"platform": platform(), "runs": {}}


def _close(expected, actual, path=""):
    """Numbers within a relative 1e-4 (exactly equal for everything else), recursively."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), f"{path}: keys differ"
        for key in expected:
            _close(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{path}: lengths differ"
        for index, (a, b) in enumerate(zip(expected, actual)):
            _close(a, b, f"{path}[{index}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert math.isclose(expected, actual, rel_tol=1e-4, abs_tol=1e-6), f"{path}: {expected} -> {actual}"
    else:
        assert expected == actual, f"{path}: {expected} -> {actual}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_golden_run_is_unchanged(case, tmp_path):
    golden = _load()
    actual = json.loads(json.dumps(golden_run(case, tmp_path)))  # through JSON, as it is stored
    if WRITE:
        assert "PYTEST_XDIST_WORKER" not in os.environ, "write the golden file from one process: pytest -n 0"
        golden["platform"] = platform()
        golden["runs"][case_id(case)] = actual
        golden["runs"] = dict(sorted(golden["runs"].items()))
        GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_FILE.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    assert case_id(case) in golden["runs"], (
        f"no golden record for {case_id(case)}: write one with UDABENCH_WRITE_GOLDEN=1 (in its own commit)")
    expected = golden["runs"][case_id(case)]
    if golden["platform"] == platform():
        assert actual == expected, (
            f"{case_id(case)} changed: metrics {expected['metrics']} -> {actual['metrics']}, weights "
            f"{expected['weights_sha256'][:12]} -> {actual['weights_sha256'][:12]}")
    else:
        expected = {k: v for k, v in expected.items() if k != "weights_sha256"}
        actual = {k: v for k, v in actual.items() if k != "weights_sha256"}
        _close(expected, actual, case_id(case))


def test_every_built_in_method_has_a_golden_run():
    covered = {case[0] for case in CASES}
    assert covered == set(BUILT_IN)
    if not WRITE:
        assert set(_load()["runs"]) >= {case_id(case) for case in CASES}
