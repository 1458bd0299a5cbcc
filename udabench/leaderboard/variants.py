"""What makes stored runs one row of a board: method, backbone, budget and non-default hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Variant:
    """What makes reproduced runs one row: method, backbone, step budget, non-default hyperparameters."""

    method: str
    backbone: str  # "" when every run used its task's default backbone
    budget: str
    hparams: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        if not self.hparams:
            return self.method
        return f"{self.method} ({', '.join(f'{name}={value}' for name, value in self.hparams)})"

    def order(self):
        return (bool(self.hparams), self.label, self.backbone, self.budget)


def value_text(value: Any) -> str:
    """A hyperparameter value as a row label writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return value == default


def budget_of(config: dict[str, Any], method_spec) -> str:
    """Steps per phase in the method's phase order, batch size, and whether the source model was reused."""
    phase_steps = config.get("phase_steps") or {}
    if phase_steps:
        order = [phase.name for phase in method_spec.phases] if method_spec is not None else []
        names = sorted(phase_steps, key=lambda name: (order.index(name) if name in order else len(order), name))
        text = " + ".join(f"{name} {phase_steps[name]}" for name in names)
    elif "steps" in config:
        text = f"{config['steps']} steps"
    else:
        text = "steps not recorded"
    if "batch_size" in config:
        text += f", batch {config['batch_size']}"
    if config.get("source_run"):
        text += ", source from a stored run"
    if config.get("precision", "fp32") != "fp32":  # a bf16 run is its own row, never averaged with fp32 seeds
        text += f", {config['precision']}"
    return text


def non_default_hparams(hparams: dict[str, Any], method_spec, task_spec) -> tuple[tuple[str, str], ...]:
    """The resolved values that differ from the method's defaults after the task's protocol values.

    A method or task that is no longer registered has no known defaults: every value counts as
    default. Step counts of phases are left out (the budget shows them), as are names the method
    no longer has.
    """
    if method_spec is None or task_spec is None:
        return ()
    defaults = {**method_spec.hparams,
                **{name: value for name, value in task_spec.hparams.items() if name in method_spec.hparams}}
    steps_params = {phase.steps_param for phase in method_spec.phases if phase.steps_param}
    return tuple(sorted((name, value_text(value)) for name, value in (hparams or {}).items()
                        if name in defaults and name not in steps_params and not _same(value, defaults[name])))


def variant_of(entry: dict[str, Any], registry) -> Variant:
    method_spec = registry.specs["methods"].get(entry["method"])
    task_spec = registry.specs["tasks"].get(entry["task"])
    backbone = entry.get("backbone") or ""
    if task_spec is not None and backbone == task_spec.backbone:
        backbone = ""
    config = entry.get("config") or {}
    return Variant(entry["method"], backbone, budget_of(config, method_spec),
                   non_default_hparams(config.get("hparams") or {}, method_spec, task_spec))


def plain_name(text: str | None) -> str:
    """``text`` lower-cased with only its letters and digits, to compare names as a paper and a spec write them."""
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())


def point_text(point: tuple[tuple[str, str], ...]) -> str:
    """A grid point as ``name=value, ...``."""
    return ", ".join(f"{name}={value}" for name, value in point) or "the only point"
