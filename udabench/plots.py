"""Pictures of results (matplotlib, PNG): a suite's accuracy per method and task with error bars,
the training curves of one run, the decision regions of a run on a task of 2-D points, and a run's
features before and after adaptation. matplotlib is the ``plot`` extra: ``pip install
'udabench[plot]'`` (which also brings scikit-learn for t-SNE; without it, PCA).
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


# A standard deviation over seeds above this many points is flagged on suite plots.
LARGE_SPREAD = 10.0


def _seeds_text(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return f"n={low}" if low == high else f"n={low}-{high}"


def plot_board(board, path: str | Path) -> Path:
    """Grouped bars: one group per task, one bar per reproduced row (mean over seeds), labelled in
    the legend with its seeds (n) and step budget. An error bar of one standard deviation where a
    cell has two seeds or more (none for n=1); a bar whose standard deviation exceeds
    ``LARGE_SPREAD`` points is hatched and marked "!". The paper's number for the row's method is a
    white diamond with a black edge, which no error bar resembles."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = [row for row in board.rows if row.kind == "reproduced" and any(cell.n for cell in row.cells.values())]
    if not rows:
        raise UdabenchError(f"no reproduced runs to plot for suite '{board.suite.name}'")
    tasks = [task for task in board.suite.tasks if any(row.cells.get(task) and row.cells[task].n for row in rows)]
    width = 0.8 / len(rows)
    figure, axis = plt.subplots(figsize=(3.0 + 0.45 * len(rows) * len(tasks) + 3.8, 4.4))
    any_paper = any_spread = False
    for index, row in enumerate(rows):
        xs, means, errors, papers, spreads, counts = [], [], [], [], [], []
        for position, task in enumerate(tasks):
            cell = row.cells.get(task)
            if cell is None or not cell.n:
                continue
            xs.append(position - 0.4 + width * (index + 0.5))
            means.append(cell.mean)  # cells hold percent
            errors.append(cell.std)  # None for one seed
            papers.append(cell.reported[0] if cell.reported else None)
            spreads.append(cell.std is not None and cell.std > LARGE_SPREAD)
            counts.append(cell.n)
        label = f"{row.label} ({_seeds_text(counts)}; {row.budget})" if row.budget else \
            f"{row.label} ({_seeds_text(counts)})"
        bars = axis.bar(xs, means, width * 0.9, label=label)
        spread = [(x, m, e) for x, m, e in zip(xs, means, errors) if e is not None]
        if spread:
            axis.errorbar([x for x, _, _ in spread], [m for _, m, _ in spread], yerr=[e for _, _, e in spread],
                          fmt="none", ecolor="black", elinewidth=1.0, capsize=3)
        for patch, x, mean, error, large in zip(bars.patches, xs, means, errors, spreads):
            if large:
                any_spread = True
                patch.set_hatch("///")
                patch.set_edgecolor("black")
                axis.annotate("!", (x, min(mean + error, 100)), xytext=(0, 3), textcoords="offset points",
                              ha="center", va="bottom", fontsize=9, fontweight="bold", color="firebrick")
        for x, paper in zip(xs, papers):
            if paper is not None:
                any_paper = True
                axis.plot([x], [paper], marker="D", markersize=6, markerfacecolor="white", markeredgecolor="black",
                          markeredgewidth=1.2, linestyle="none", zorder=5)
    axis.set_xticks(range(len(tasks)))
    axis.set_xticklabels(tasks)
    axis.set_ylabel(f"target {board.suite.metric} (%)")
    axis.set_ylim(0, 105)
    axis.grid(axis="y", alpha=0.3)
    handles, _ = axis.get_legend_handles_labels()
    if any_paper:
        handles.append(Line2D([], [], marker="D", linestyle="none", markerfacecolor="white", markeredgecolor="black",
                              markersize=6, label="the paper's number for that method"))
    if any_spread:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///",
                             label=f"! std over seeds > {LARGE_SPREAD:g} points"))
    axis.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axis.set_title(f"{board.suite.title}, selection '{board.rule.name}'\nbars: mean over seeds (n), error bars: "
                   "one std where n > 1", fontsize=9)
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


# --- pictures of points in the plane ----------------------------------------------------------------

PANEL_INCHES = 2.6  # side of one decision-region panel
LEGEND_INCHES = 1.9  # the legend's column beside the panels
POINT_DPI = 100


def class_colours(count: int) -> list:
    """One colour per class: matplotlib's tab10, then tab20 beyond ten classes."""
    import matplotlib

    name = "tab10" if count <= 10 else "tab20"
    palette = matplotlib.colormaps[name]
    return [palette(i % palette.N) for i in range(count)]


def plot_point_panels(panels: list[dict[str, Any]], class_names, path: str | Path, title: str) -> Path:
    """One panel per snapshot of a run on a task of 2-D points, in a row: the decision regions (the
    predicted class over the plane, lightly shaded, the boundaries as black lines), source test
    points (filled circles) and target test points (crosses) coloured by their true class, and a
    method's samples (diamonds with a black edge, coloured by the class they were generated for;
    grey where a grid has no classes, e.g. translations). Each panel's title gives the phase, the
    step and the target test accuracy at that point."""
    plt = _pyplot()
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    count = len(panels)
    colours = class_colours(len(class_names))
    width = PANEL_INCHES * count + LEGEND_INCHES
    figure, axes = plt.subplots(1, count, figsize=(width, PANEL_INCHES + 0.5), squeeze=False, dpi=POINT_DPI)
    shade = ListedColormap([(*colour[:3], 0.22) for colour in colours])
    has_samples = has_other_samples = False
    for axis, panel in zip(axes[0], panels):
        limit = float(panel["limit"])
        regions = panel["regions"]
        extent = (-limit, limit, -limit, limit)
        axis.imshow(regions, origin="lower", extent=extent, cmap=shade, vmin=-0.5, vmax=len(colours) - 0.5,
                    interpolation="nearest")
        if len(np.unique(regions)) > 1:
            axis.contour(np.linspace(-limit, limit, regions.shape[1]), np.linspace(-limit, limit, regions.shape[0]),
                         regions, levels=np.arange(len(colours) - 1) + 0.5, colors="black", linewidths=0.8)
        for role, marker, size in (("source", "o", 7), ("target", "x", 9)):
            if f"{role}_points" in panel:
                points, labels = panel[f"{role}_points"], panel[f"{role}_labels"]
                axis.scatter(points[:, 0], points[:, 1], s=size, marker=marker,
                             c=[colours[int(k)] for k in labels], linewidths=0.7,
                             alpha=0.55 if role == "source" else 0.9)
        samples, labels = panel["samples"], panel["sample_labels"]
        if len(samples):
            classed = labels >= 0
            if classed.any():
                has_samples = True
                axis.scatter(samples[classed, 0], samples[classed, 1], s=16, marker="D",
                             c=[colours[int(k)] for k in labels[classed]], edgecolors="black", linewidths=0.6)
            if (~classed).any():
                has_other_samples = True
                axis.scatter(samples[~classed, 0], samples[~classed, 1], s=14, marker="D", c="0.6",
                             edgecolors="black", linewidths=0.5)
        axis.set_xlim(-limit, limit)
        axis.set_ylim(-limit, limit)
        axis.set_aspect("equal")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(f"{panel['phase']}, step {int(panel['step'])}\ntarget accuracy {float(panel['accuracy']):.3f}",
                       fontsize=8)
    handles = [Patch(facecolor=colour, alpha=0.5, label=name) for colour, name in zip(colours, class_names)]
    handles += [Line2D([], [], marker="o", linestyle="", color="0.3", markersize=4, label="source (test)"),
                Line2D([], [], marker="x", linestyle="", color="0.3", markersize=5, label="target (test)")]
    if has_samples:
        handles.append(Line2D([], [], marker="D", linestyle="", color="0.6", markeredgecolor="black", markersize=4,
                              label="generated, by class"))
    if has_other_samples:
        handles.append(Line2D([], [], marker="D", linestyle="", color="0.6", markeredgecolor="black", markersize=4,
                              label="method's samples"))
    handles.append(Line2D([], [], color="black", linewidth=0.8, label="decision boundary"))
    figure.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=9)
    figure.subplots_adjust(left=0.1 / width * PANEL_INCHES, right=1 - LEGEND_INCHES / width, top=0.8, bottom=0.03,
                           wspace=0.08)
    return _save(figure, plt, path, dpi=POINT_DPI)


# --- features before and after adaptation -----------------------------------------------------------

EMBEDDINGS = ("tsne", "pca")


def embed(features, embedding: str = "tsne", seed: int = 0):
    """2-D coordinates of the rows of ``features`` (numpy ``(N, D)``) and a note, or ``None``.

    ``tsne``: scikit-learn's t-SNE (PCA initialisation, after a PCA to 50 dimensions where there are
    more); without scikit-learn, PCA instead, and the note says so. ``pca``: the first two principal
    components (numpy).
    """
    import numpy as np

    if embedding not in EMBEDDINGS:
        raise UdabenchError(f"--embedding must be one of {', '.join(EMBEDDINGS)} (got '{embedding}')")
    features = np.asarray(features, dtype=np.float64)
    note = None
    if embedding == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            embedding = "pca"
            note = "t-SNE needs scikit-learn (pip install 'udabench[plot]'): PCA instead"
        else:
            reduced = _pca(features, 50) if features.shape[1] > 50 else features
            perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
            points = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(reduced)
            return points, note, "t-SNE"
    return _pca(features, 2), note, "PCA"


def _pca(features, components: int):
    import numpy as np

    centred = features - features.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:components].T
    if points.shape[1] < components:  # fewer dimensions than asked for: pad with zeros
        points = np.pad(points, ((0, 0), (0, components - points.shape[1])))
    return points


FEATURE_PANEL_INCHES = 4.2
MAX_LEGEND_CLASSES = 12


def plot_features(panels: list[dict[str, Any]], class_names, path: str | Path, title: str,
                  embedding: str = "tsne") -> tuple[Path, str | None]:
    """Side by side, one panel per model (before adaptation, after): a 2-D embedding (``embedding``,
    computed per panel) of the features of source and target test images, coloured by true class,
    source as filled circles, target as crosses. Returns the path and a note (a fallback to PCA)."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    colours = class_colours(len(class_names))
    count = len(panels)
    figure, axes = plt.subplots(1, count, figsize=(FEATURE_PANEL_INCHES * count + 1.8, FEATURE_PANEL_INCHES + 0.7),
                                squeeze=False, dpi=POINT_DPI)
    note, used = None, embedding
    for axis, panel in zip(axes[0], panels):
        points, note_here, used = embed(panel["features"], embedding)
        note = note or note_here
        for domain, marker, size, alpha in ((0, "o", 9, 0.5), (1, "x", 12, 0.9)):
            chosen = panel["domains"] == domain
            axis.scatter(points[chosen, 0], points[chosen, 1], s=size, marker=marker, alpha=alpha, linewidths=0.7,
                         c=[colours[int(k)] for k in panel["labels"][chosen]])
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(f"{panel['title']}\n{panel['network']}.features, target accuracy {panel['accuracy']:.3f} "
                       "on these", fontsize=8)
    handles = [Line2D([], [], marker="o", linestyle="", color=colour, markersize=5, label=name)
               for colour, name in list(zip(colours, class_names))[:MAX_LEGEND_CLASSES]]
    if len(class_names) > MAX_LEGEND_CLASSES:
        handles.append(Line2D([], [], linestyle="", label=f"(colour: one of {len(class_names)} classes)"))
    handles += [Line2D([], [], marker="o", linestyle="", color="0.3", markersize=5, label="source (test)"),
                Line2D([], [], marker="x", linestyle="", color="0.3", markersize=6, label="target (test)")]
    figure.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    suptitle = f"{title}\n{used} of the features" + (f" ({note})" if note else "")
    figure.suptitle(suptitle, fontsize=9)
    width = FEATURE_PANEL_INCHES * count + 1.8
    figure.subplots_adjust(left=0.15 / width * FEATURE_PANEL_INCHES, right=1 - 1.8 / width, top=0.8, bottom=0.03,
                           wspace=0.08)
    return _save(figure, plt, path, dpi=POINT_DPI), note
