"""What a run hands back: its result, or :class:`RunFailed` with what is known when training stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from udabench.errors import UdabenchError


@dataclass
class RunResult:
    run_id: str
    key: str
    method: str
    task: str
    seed: int
    config: dict[str, Any]
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    device: str = ""
    error: str | None = None
    checkpoint: str | None = None
    # evaluations during training, the checkpoint each model-selection rule picks, data provenance
    details: dict[str, Any] = field(default_factory=dict)


class RunFailed(UdabenchError):
    """Training stopped (for instance a loss became NaN); ``result`` holds what is known."""

    def __init__(self, message: str, result: RunResult):
        super().__init__(message)
        self.result = result
