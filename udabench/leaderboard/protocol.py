"""Protocols: the sweep file that says which stored runs a comparable leaderboard may hold.

A leaderboard under a protocol shows only the stored runs whose run key is one that expanding the
sweep file plans now (``udabench.sweep.expand``). A run key hashes the method, task, seed, every
hyperparameter (grid points included), the step budget, the batch size, the data (the fingerprints
of its folders), the source model it started from and the code that trains it, so a page under a
protocol means: these runs, made by the current code, under this protocol. Runs of shorter trials,
of other settings or of older code are left out, and the page counts them by reason.

Shared source models (``share_source``) are runs of the protocol too: the runs that start from them
name them by key. They are kept for provenance and shown as rows only where the sweep also asks for
them as runs of one of its methods.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from udabench.errors import UdabenchError

RUN, SOURCE = "run", "source"  # the roles of a protocol's run ids
# Why a stored run on the suite's tasks is not on the page, in the order they are tested.
REASONS = {
    "scope": "another method, task or seed than the protocol's",
    "code": "older code (its method's or backbone's source changed since, or was not recorded)",
    "trial": "trial or shorter runs (fewer steps than the protocol's)",
    "config": "another configuration (hyperparameters, batch size, budget, data or source model)",
}


@dataclass
class Protocol:
    """A sweep file as a leaderboard's protocol, and what applying it to the stored runs left out."""

    name: str
    file: str  # the file's name, as a page prints it (never a machine's path)
    methods: list[str]
    tasks: list[str]  # the suite's tasks among the sweep's
    seeds: list[int]
    budgets: dict[str, str]  # method -> its declared budget in words
    grids: dict[str, dict[str, list[str]]]  # method -> hyperparameter -> the values the sweep tries
    data: dict[str, str]  # dataset -> the folder's name, or "hub"
    share_source: bool
    runs: dict[str, str]  # run id -> RUN (a run the sweep asks for) or SOURCE (a shared source model only)
    steps: dict[str, int] = field(default_factory=dict)  # method -> the fewest steps it plans
    recorded: bool = False  # read from an export's header: its entries are this protocol's already
    considered: int = 0  # stored ok runs on the suite's tasks
    left_out: dict[str, int] = field(default_factory=dict)  # reason (a key of REASONS) -> runs
    source_methods: dict[str, str] = field(default_factory=dict)  # run id -> method, of every source model used

    @property
    def planned(self) -> int:
        return sum(1 for role in self.runs.values() if role == RUN)

    def grid_names(self, method: str) -> list[str]:
        """The hyperparameters the protocol tries more than one value of for ``method``."""
        return sorted(name for name, values in self.grids.get(method, {}).items() if len(values) > 1)

    def header(self) -> dict[str, Any]:
        """What an export file records of the protocol, so that its page can be written again."""
        return {"name": self.name, "file": self.file, "methods": self.methods, "tasks": self.tasks,
                "seeds": self.seeds, "budgets": self.budgets, "grids": self.grids, "data": self.data,
                "share_source": self.share_source, "runs": self.runs, "steps": self.steps,
                "considered": self.considered, "left_out": self.left_out, "source_methods": self.source_methods}

    @classmethod
    def from_header(cls, header: dict[str, Any], where: str) -> "Protocol":
        try:
            return cls(header["name"], header["file"], list(header["methods"]), list(header["tasks"]),
                       list(header["seeds"]), dict(header["budgets"]), dict(header["grids"]), dict(header["data"]),
                       bool(header["share_source"]), dict(header["runs"]), dict(header["steps"]), True,
                       int(header["considered"]), dict(header["left_out"]), dict(header["source_methods"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise UdabenchError(f"{where}: the protocol header is incomplete ({exc}); write the export again with "
                                "'udabench publish --protocol FILE'") from None

    def select(self, entries: Sequence[dict[str, Any]], registry) -> list[dict[str, Any]]:
        """The entries of the protocol's runs (shown rows and shared source models), counting the rest."""
        chosen = [entry for entry in entries if entry["run_id"] in self.runs]
        if self.recorded:  # the export holds the protocol's runs; the counts describe the store it came from
            return chosen
        self.considered = len(entries)
        self.left_out = {}
        for entry in entries:
            if entry["run_id"] not in self.runs:
                reason = self.why_left_out(entry, registry)
                self.left_out[reason] = self.left_out.get(reason, 0) + 1
        by_id = {entry["run_id"]: entry["method"] for entry in entries}
        self.source_methods = {}
        for entry in chosen:
            source = (entry.get("config") or {}).get("source_run")
            if source:
                self.source_methods[source[:12]] = by_id.get(source[:12], "not stored")
        return chosen

    def why_left_out(self, entry: dict[str, Any], registry) -> str:
        from udabench.code import code_status

        if entry["method"] not in self.methods or entry["task"] not in self.tasks or entry["seed"] not in self.seeds:
            return "scope"
        config = entry.get("config") or {}
        record = {"method": entry["method"], "config": {"code": config.get("code"), "backbone": entry.get("backbone")}}
        if code_status(record, registry) != "current":
            return "code"
        steps = config.get("steps")
        if isinstance(steps, int) and steps < self.steps.get(entry["method"], 0):
            return "trial"
        return "config"


def _budget_text(steps: int, batch_size: int, values: dict[str, str]) -> str:
    text = f"{steps} steps, batch {batch_size}"
    return text + "".join(f", {name}={value}" for name, value in sorted(values.items()))


def load_protocol(path: str | os.PathLike, registry, suite) -> Protocol:
    """The sweep file at ``path`` as a protocol for ``suite``: its runs on the suite's tasks, planned now.

    Its data must be reachable as the file names it: the data's fingerprints are part of the run keys.
    """
    from udabench.sweep import expand, read_sweep_file

    file = Path(path)
    config = read_sweep_file(file)
    name = config.name or file.stem
    tasks = [task for task in config.tasks if task in suite.tasks]
    if not tasks:
        raise UdabenchError(f"protocol {file.name}: none of its tasks ({', '.join(config.tasks) or 'none'}) is a "
                            f"task of suite '{suite.name}' ({', '.join(suite.tasks)})")
    config.tasks = tasks  # the suite's tasks alone: the others' data need not be at hand
    jobs = expand(config, registry)
    runs = {job.run_id: SOURCE if job.shared_source else RUN for job in jobs}
    steps: dict[str, int] = {}
    for job in jobs:
        method = job.request.method
        steps[method] = min(steps.get(method, job.request.steps), job.request.steps)
    budgets, grids = {}, {}
    for method in config.methods:
        spec = registry.get("methods", method)
        extra = config.per_method.get(method, {})
        values = {**{k: v for k, v in config.set.items() if k in spec.hparams}, **extra.get("set", {})}
        budgets[method] = _budget_text(extra.get("steps", config.steps), extra.get("batch_size", config.batch_size),
                                       values)
        grid = {**{k: v for k, v in config.grid.items() if k in spec.hparams}, **extra.get("grid", {})}
        if grid:
            grids[method] = grid
    datasets = sorted({name for task in tasks for name in (registry.get("tasks", task).source,
                                                           registry.get("tasks", task).target)})
    data = {name: Path(config.data[name]).name if name in config.data else
            "default location (data root or hub)" for name in datasets}
    return Protocol(name, file.name, list(config.methods), tasks, list(config.seeds), budgets, grids, data,
                    config.share_source, runs, steps)
