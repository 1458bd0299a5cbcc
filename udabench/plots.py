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


def plot_run(record: dict[str, Any], path: str | Path, columns: int = 4) -> Path:
    """Small multiples: one panel per logged value of each phase over its steps (their scales differ
    too much to share an axis), and a last panel with the evaluation points (target and source test
    accuracy, or mIoU for segmentation) when the run recorded them."""
    plt = _pyplot()
    history = record.get("history") or []
    if not history:
        raise UdabenchError(f"run {record['run_id']} has no training history to plot")
    series = {}  # (phase, name) -> [(step, value)]
    for entry in history:
        for name, value in entry.items():
            if name not in ("phase", "step") and isinstance(value, (int, float)) and math.isfinite(value):
                series.setdefault((entry["phase"], name), []).append((entry["step"], value))
    evaluations = (record.get("details") or {}).get("evaluations") or []
    panels = len(series) + (1 if evaluations else 0)
    columns = min(columns, panels)
    rows = math.ceil(panels / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.5 * rows), squeeze=False)
    flat = [axis for row in axes for axis in row]
    for axis, ((phase, name), points) in zip(flat, series.items()):
        axis.plot(*zip(*points), linewidth=1.2)
        axis.set_title(f"{phase}: {name}", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    if evaluations:
        axis = flat[len(series)]
        steps = [point["step"] for point in evaluations]
        metric = "accuracy" if "accuracy" in evaluations[-1] else "miou"  # segmentation runs record mIoU
        for name, label in ((metric, "target test"), (f"source_{metric}", "source test")):
            axis.plot(steps, [point[name] for point in evaluations], marker="o", label=label)
        axis.set_title(f"{evaluations[-1]['phase']}: {metric} at evaluation points", fontsize=8)
        axis.set_ylim(0, 1)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    for axis in flat[panels:]:
        axis.set_visible(False)
    figure.suptitle(f"run {record['run_id']}: {record['method']} on {record['task']}, seed {record['seed']} "
                    "(x: step of the phase)", fontsize=10)
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
    figure, axis = plt.subplots(figsize=(3.0 + 0.45 * len(rows) * len(tasks) + 3.0, 4.2))
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
        axis.bar(xs, means, width * 0.9, yerr=errors, capsize=3, label=row.label)
        for x, paper in zip(xs, papers):
            if paper is not None:
                axis.plot([x], [paper], marker="_", markersize=12, markeredgewidth=2, color="black")
    axis.set_xticks(range(len(tasks)))
    axis.set_xticklabels(tasks)
    axis.set_ylabel(f"target {board.suite.metric} (%)")
    axis.set_ylim(0, 100)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axis.set_title(f"{board.suite.title}, selection '{board.rule.name}'\nbars: mean ± std over seeds; black "
                   "dashes: the paper's number for that method", fontsize=9)
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
