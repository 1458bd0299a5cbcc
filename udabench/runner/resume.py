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
import random
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

    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
              "generators": {name: generator.get_state() for name, generator in generators.items()}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any], generators: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
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
    """The checkpoint at ``path`` if it belongs to the run ``key`` and can be read; else ``None``."""
    import torch

    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a file from another version, or damaged: start the run afresh
        return None
    return state if isinstance(state, dict) and state.get("key") == key else None

