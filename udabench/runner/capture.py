"""Whole-step capture (``--capture``): a method's static step compiled, with a fallback to eager.

A method whose training step is static defines ``static_update`` (see :class:`udabench.method.Method`).
:meth:`Capture.install` replaces it on the method object with a compiled version: ``torch.compile``
with ``mode="reduce-overhead"`` on CUDA (the step replayed as a CUDA graph) and inductor's default
mode elsewhere. Settings:

* ``auto`` (the default): capture on CUDA; eager on the CPU, where ``udabench bench`` timed DANN's
  compiled mnist-usps step at 4.88 steps/s against 5.04 eager (2-core CPU, one thread, batch 64),
  after more than a minute of compiling;
* ``on``: capture on any device;
* ``off``: always eager.

If the first compiled call of a phase raises (where compiling and capturing happen), or a later
one raises a compiler error (a recompilation), the run continues eagerly and says so in its details
(``capture``); an error of the method itself then raises again from the eager step. A failure at
the first call restores the method's parameters, buffers, optimiser states and random number
generators from just before it, so that a partly run compiled step (a forward pass whose backward
failed to compile) leaves no trace. Capture is not part of a run's key: the compiled step computes
the same arithmetic (up to the order of floating-point sums, as CUDA kernels choose anyway), as
``channels_last`` is not.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

STATIC_STEP = "static_update"  # the attribute a method with a static step defines
NOT_STATIC = "eager: the method's step is not static (it has no static_update)"

# The torch.compile backend and options; tests swap the backend for a cheaper one.
BACKEND = "inductor"


def wanted(setting: str, device) -> bool:
    """Whether ``setting`` asks for capture on ``device`` (``auto``: CUDA only)."""
    if setting == "auto":
        return device.type == "cuda"
    return setting == "on"


def has_static_step(method_class) -> bool:
    """Whether instances of ``method_class`` (a :class:`~udabench.method.Method` subclass) have a
    static step, without building one."""
    return callable(getattr(method_class, STATIC_STEP, None))


def static_step_of(method):
    """The method's own (eager) static step, bound to it, or ``None`` when its step is not static."""
    step = getattr(type(method), STATIC_STEP, None)
    return step.__get__(method) if callable(step) else None


def _remove(method) -> None:
    """Drop an installed step from the method object, so that its class's own applies again."""
    if STATIC_STEP in vars(method):
        delattr(method, STATIC_STEP)


def _compile(function, device):
    import torch

    if BACKEND == "inductor":
        return torch.compile(function, mode="reduce-overhead" if device.type == "cuda" else None)
    return torch.compile(function, backend=BACKEND)


def _is_compile_error(error: BaseException) -> bool:
    """Errors raised by torch's compiler stack (dynamo, AOT autograd, inductor), not by the method."""
    module = type(error).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor", "torch._functorch", "torch.fx"))


class Capture:
    """The capture state of one run: what was asked, what happened (:attr:`status`)."""

    def __init__(self, setting: str, device):
        self.setting = setting
        self.device = device
        self.status = "eager"  # "captured", "eager", or "eager: <why>"
        self._method = None

    def install(self, method) -> None:
        """Compile ``method``'s static step if capture is wanted and the step is static; call once
        per phase, after ``begin_phase`` (each phase's first compiled call is the guarded one)."""
        if not wanted(self.setting, self.device):
            return
        if self.status.startswith("eager:"):
            return  # fell back earlier in this run: stay eager
        eager = static_step_of(method)
        if eager is None:
            self.status = NOT_STATIC
            return
        self._method = method
        compiled = _compile(eager, self.device)
        import torch

        # On CUDA each call starts a new step of the CUDA-graph trees (the previous outputs are read).
        mark_step = torch.compiler.cudagraph_mark_step_begin if self.device.type == "cuda" else None
        first = [True]
        capture = self

        def step(*args, **kwargs):
            state = _state(method) if first[0] else None
            first[0] = False
            try:
                if mark_step is not None:
                    mark_step()
                return compiled(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - see below which errors fall back
                # A phase's first compiled call (state saved) falls back on any error: compiling and
                # capturing happen there, and an error of the method itself raises again eagerly. Later
                # calls fall back only on the compiler's errors (a recompilation that fails).
                if state is None and not _is_compile_error(error):
                    raise
                capture._fall_back(method, error, state)
                return eager(*args, **kwargs)

        setattr(method, STATIC_STEP, step)
        self.status = "captured"

    def _fall_back(self, method, error: BaseException, state) -> None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        self.status = f"eager: the compiled step failed ({type(error).__name__}: {reason[:200]})"
        print(f"udabench: {self.status}; continuing without capture", file=sys.stderr)
        if state is not None:
            _restore(method, state)
        _remove(method)

    def uninstall(self) -> None:
        """Put the method's eager step back (before it is saved or handed on)."""
        if self._method is not None:
            _remove(self._method)


def _state(method) -> dict[str, Any]:
    """A copy of everything a step changes: the method's training state and torch's (and NumPy's and
    Python's) random number generators, from which dropout draws."""
    from udabench.runner import resume

    return {**copy.deepcopy(resume.training_state(method)), "random": resume.random_states({})}


def _restore(method, state) -> None:
    from udabench.runner import resume

    resume.load_training_state(method, state)
    resume.set_random_states(state["random"], {})
