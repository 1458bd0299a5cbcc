"""Pictures of results (matplotlib, PNG): a suite's accuracy per method and task with error bars,
and the training curves of one run. matplotlib is the ``plot`` extra: ``pip install 'udabench[plot]'``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from udabench.errors import UdabenchError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UdabenchError("plots need matplotlib: pip install 'udabench[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(record: dict[str, Any], path: str | Path) -> Path:
    """One panel per phase with every logged value over its steps, and a panel of the evaluations
    (target and source test accuracy) when the run recorded them."""
    plt = _pyplot()
    history = record.get("history") or []
    if not history:
        raise UdabenchError(f"run {record['run_id']} has no training history to plot")
    phases = list(dict.fromkeys(entry["phase"] for entry in history))
    evaluations = (record.get("details") or {}).get("evaluations") or []
    panels = len(phases) + (1 if evaluations else 0)
    figure, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.6), squeeze=False)
    for axis, phase in zip(axes[0], phases):
        entries = [entry for entry in history if entry["phase"] == phase]
        names = sorted({k for entry in entries for k in entry if k not in ("phase", "step")})
        for name in names:
            points = [(entry["step"], entry[name]) for entry in entries
                      if name in entry and math.isfinite(entry[name])]
            if points:
                axis.plot(*zip(*points), label=name, linewidth=1.2)
        axis.set_title(f"phase '{phase}'")
        axis.set_xlabel("step")
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    if evaluations:
        axis = axes[0][-1]
        steps = [point["step"] for point in evaluations]
        for name, label in (("accuracy", "target test accuracy"), ("source_accuracy", "source test accuracy")):
            axis.plot(steps, [point[name] for point in evaluations], marker="o", label=label)
        axis.set_title(f"evaluations (phase '{evaluations[-1]['phase']}')")
        axis.set_xlabel("step")
        axis.set_ylim(0, 1)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.suptitle(f"run {record['run_id']}: {record['method']} on {record['task']}, seed {record['seed']}")
    figure.tight_layout()
    return _save(figure, plt, path)


def plot_board(board, path: str | Path) -> Path:
    """Grouped bars: one group per task, one bar per reproduced row (mean over seeds, error bar one
    standard deviation, n in the legend), with the paper's number as a marker where the row has one."""
    plt = _pyplot()
    rows = [row for row in board.rows if row.kind == "reproduced" and any(cell.n for cell in row.cells.values())]
    if not rows:
        raise UdabenchError(f"no reproduced runs to plot for suite '{board.suite.name}'")
    tasks = [task for task in board.suite.tasks if any(row.cells.get(task) and row.cells[task].n for row in rows)]
    width = 0.8 / len(rows)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.6 * len(tasks) * max(1, len(rows)) ** 0.5 + 3), 4.2))
    for index, row in enumerate(rows):
        xs, means, errors, papers = [], [], [], []
        for position, task in enumerate(tasks):
            cell = row.cells.get(task)
            if cell is None or not cell.n:
                continue
            xs.append(position - 0.4 + width * (index + 0.5))
            means.append(cell.mean)  # cells hold percent
            errors.append(cell.std or 0.0)
            papers.append(cell.reported[0] if cell.reported else None)
        bars = axis.bar(xs, means, width * 0.9, yerr=errors, capsize=3, label=row.label)
        for x, paper in zip(xs, papers):
            if paper is not None:
                axis.plot([x], [paper], marker="_", markersize=14, markeredgewidth=2,
                          color=bars.patches[0].get_facecolor(), alpha=0.9)
    axis.set_xticks(range(len(tasks)))
    axis.set_xticklabels(tasks)
    axis.set_ylabel(f"target {board.suite.metric} (%)")
    axis.set_ylim(0, 100)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    axis.set_title(f"{board.suite.title}: selection '{board.rule.name}' (bars: mean ± std over seeds; "
                   "dashes: the paper's number)", fontsize=9)
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
