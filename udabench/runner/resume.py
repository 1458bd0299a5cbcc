"""Resuming a run where it stopped: what a checkpoint holds, written atomically and read back.

A resume checkpoint is everything the step loop's future depends on: the method's weights and
buffers, the state of every optimiser the method keeps as an attribute, every random generator the
run draws from (torch's, NumPy's, Python's, the batch samplers' and the augmenter's), the samplers'
positions in their shuffled passes, the losses summed since the last log record, the history and
the evaluation points so far. On the CPU a resumed run therefore ends with the same numbers as an
uninterrupted one. The file names the run's key, so a checkpoint is never taken up by another run.
"""

from __future__ import annotations

import os
import pickle
import random
import sys
import time
from pathlib import Path
from typing import Any

RESUME_FILE = "resume.pt"


def optimizers_of(method) -> dict[str, Any]:
    """The optimisers a method holds as attributes (``self.optimizer``, ``self.generator_optimizer`` ...)."""
    import torch

    return {name: value for name, value in vars(method).items() if isinstance(value, torch.optim.Optimizer)}


def training_state(method) -> dict[str, Any]:
    """What training changes in a method: its weights and buffers (``method``) and the state of each
    optimiser it holds (``optimizers``), as references, not copies."""
    return {"method": method.state_dict(),
            "optimizers": {name: optimizer.state_dict() for name, optimizer in optimizers_of(method).items()}}


def load_training_state(method, state: dict[str, Any]) -> None:
    """Put back what :func:`training_state` took (optimisers the method no longer holds are skipped)."""
    method.load_state_dict(state["method"])
    optimizers = optimizers_of(method)
    for name, saved in state["optimizers"].items():
        if name in optimizers:
            optimizers[name].load_state_dict(saved)


def random_states(generators: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import torch

    # NumPy's state as a tensor and plain numbers, so that the checkpoint loads without pickle (load).
    algorithm, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = (algorithm, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss),
                   float(cached_gaussian))
    states = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate(),
              "generators": {name: generator.get_state() for name, generator in generators.items()}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any], generators: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(states["torch"])
    algorithm, keys, position, has_gauss, cached_gaussian = states["numpy"]
    np.random.set_state((algorithm, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    random.setstate(states["python"])
    for name, generator in generators.items():
        generator.set_state(states["generators"][name])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` through a temporary file renamed over it: a kill at any moment
    leaves the previous checkpoint or the new one, never half of one."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load(path: Path, key: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it belongs to the run ``key`` and can be read; else ``None``, with
    one line on standard error saying why the run starts afresh.

    It is read with ``weights_only=True``: tensors and plain Python values only, so a file planted in
    a run's folder cannot run code when it is read (a pickled object is refused, not built)."""
    import torch

    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # what weights_only refuses to build
        reason = "it holds objects other than tensors and plain values"
    except Exception as exc:  # damaged, cut off, or from another version
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    else:
        reason = None
    if reason is not None:
        print(f"udabench: the resume checkpoint {path} cannot be read ({reason[:200]}); the run starts afresh",
              file=sys.stderr)
        return None
    if not isinstance(state, dict) or state.get("key") != key:
        print(f"udabench: the resume checkpoint {path} belongs to another run; the run starts afresh", file=sys.stderr)
        return None
    return state



class Checkpointing:
    """Resume checkpoints around a run's steps. Before a phase, the phase a checkpoint stopped in is
    restored (once the method has begun it, so that the optimisers it creates there take their
    saved state); after a step, a checkpoint is written at the end of each phase and at least every
    ``every`` seconds. ``run`` is the runner's :class:`~udabench.runner.loop.Training`."""

    def __init__(self, path: Path, run, every: float):
        self.path, self.run, self.every = path, run, every
        self.saved = load(path, run.prepared.key)
        self.last = time.perf_counter()
        if self.saved is not None:
            run.bar.write(f"udabench: resuming run {run.prepared.run_id} at step {self.saved['step']} of phase "
                          f"'{run.phases[self.saved['phase']].name}' from its last checkpoint", file=sys.stderr)

    @property
    def first_phase(self) -> int:
        """The index of the phase the run starts in: the phases before it are done."""
        return self.saved["phase"] if self.saved is not None else 0

    def before_phase(self, index: int) -> None:
        saved, run = self.saved, self.run
        if saved is None:
            return
        run.start_step, run.done, run.eval_time = saved["step"], saved["done"], saved["eval_time"]
        run.losses.load_state(saved)
        load_training_state(run.method, saved)
        for role, state in saved["samplers"].items():
            if role in run.batches.samplers:
                run.batches.samplers[role].load_state(state)
        set_random_states(saved["random"], run.batches.generators)
        run.result.history[:] = saved["history"]
        run.evaluator.points[:] = saved["evaluations"]
        run.evaluator.confusion = saved["confusion"]
        run.snapshotter.saved[:] = saved["snapshots"]
        run.bar.update(run.done)
        self.saved = None

    def after_step(self, index: int, step: int, steps: int) -> None:
        """After ``step`` steps of phase ``index``: everything the rest of the run depends on."""
        if step != steps and time.perf_counter() - self.last < self.every:
            return
        run = self.run
        save(self.path, {
            "key": run.prepared.key, "phase": index, "step": step, "done": run.done, "eval_time": run.eval_time,
            **run.losses.state(),
            **training_state(run.method),
            "random": random_states(run.batches.generators),
            "samplers": {role: sampler.state() for role, sampler in run.batches.samplers.items()},
            "history": run.result.history, "evaluations": run.evaluator.points, "confusion": run.evaluator.confusion,
            "snapshots": run.snapshotter.saved,
        })
        self.last = time.perf_counter()

    def after_run(self) -> None:
        """Nothing yet: the last checkpoint stays until the run's result is recorded (:meth:`discard`)."""

    def discard(self) -> None:
        """The run is over (complete, or diverged, where resuming would diverge again)."""
        self.path.unlink(missing_ok=True)
