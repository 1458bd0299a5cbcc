"""The board: stored runs grouped into rows under the papers' rows (its notes are :mod:`udabench.leaderboard.notes`)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

from udabench.leaderboard.common import _percent
from udabench.leaderboard.notes import _footer, protocol_differences
from udabench.leaderboard.variants import Variant, budget_of, plain_name, value_text, variant_of
from udabench.selection import DEFAULT_RULE, get_rule
from udabench.specs import SuiteSpec

# --- the board --------------------------------------------------------------------------------------


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)  # percent, one per seed
    reported: tuple[float, float | None] | None = None
    bold: bool = False  # the best reproduced mean of its column, among rows that may be compared
    min_seeds: int = 1  # fewer seeds than this: no number is shown
    comparable: bool = False  # the paper's protocol is known to match the runs': the difference is shown

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def shown(self) -> bool:
        """Whether the cell shows its mean: it has at least ``min_seeds`` seeds."""
        return self.n >= max(1, self.min_seeds)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def diff(self) -> float | None:
        """Reproduced minus reported, only where the protocols match and the cell shows its mean."""
        if not self.shown or self.reported is None or not self.comparable:
            return None
        return self.mean - self.reported[0]


@dataclass
class Row:
    kind: str  # "heading", "reported" or "reproduced"
    label: str
    backbone: str = ""
    budget: str = ""
    table: str = ""
    group: str = ""
    method: str | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    avg: float | None = None  # the mean over the board's Avg tasks, where the row has all of them
    avg_bold: bool = False


@dataclass
class GridChoice:
    """The grid point a rule chose for one method on one task, and the score of every point."""

    method: str
    task: str
    chosen: tuple[tuple[str, str], ...] | None  # None: no grid point has a score
    scores: list[tuple[tuple[tuple[str, str], ...], float | None, int]]  # point, mean score, seeds scored


@dataclass
class Board:
    suite: SuiteSpec
    rule: Any
    rows: list[Row]
    footer: list[str]
    protocol: Any = None  # udabench.leaderboard.protocol.Protocol, or None: every stored run
    min_seeds: int = 1
    grid_rule: Any = None
    avg_tasks: list[str] = field(default_factory=list)
    grid_choices: list[GridChoice] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # the entries behind the page (a protocol's: its runs)
    pictures: list[dict[str, str]] = field(default_factory=list)  # a published page's: {"file", "caption"}


def _selected(entries, rule_name):
    """(used entries with their value, excluded entries grouped by reason)."""
    used, no_points, no_metric = [], [], []
    for entry in entries:
        value = (entry.get("selection") or {}).get(rule_name)
        if value is not None:
            used.append((entry, value))
        elif not entry.get("evaluation_points") and rule_name != DEFAULT_RULE:
            no_points.append(entry)
        else:
            no_metric.append(entry)
    return used, no_points, no_metric


def grid_score(entry: dict[str, Any], value: float, rule_name: str, grid_rule) -> float | None:
    """The score ``grid_rule`` gives one run: its ranking field at the point ``rule_name`` picked."""
    field_name = grid_rule.score.format(metric=entry["metric"])
    if field_name == entry["metric"]:  # oracle: the target metric itself
        return value
    score = ((entry.get("scores") or {}).get(rule_name) or {}).get(field_name)
    return float(score) if score is not None else None


def _choose_point(method, task, points, rule_name, grid_rule, min_seeds) -> GridChoice:
    """The grid point with the best mean score over its seeds (among those with at least ``min_seeds``
    scored seeds, if any has), ties to the first in order."""
    scores = []
    for point in sorted(points):
        found = [grid_score(entry, value, rule_name, grid_rule) for entry, value in points[point].values()]
        found = [score for score in found if score is not None]
        scores.append((point, statistics.fmean(found) if found else None, len(found)))
    eligible = [item for item in scores if item[1] is not None and item[2] >= min_seeds] or [
        item for item in scores if item[1] is not None]
    sign = 1.0 if grid_rule.higher_is_better else -1.0
    chosen = None
    for point, score, _ in eligible:
        if chosen is None or sign * score > sign * chosen[1]:
            chosen = (point, score)
    return GridChoice(method, task, chosen[0] if chosen else None, scores)


def build(suite: SuiteSpec, entries: Sequence[dict[str, Any]], rule_name: str, registry, protocol=None,
          min_seeds: int = 1, grid_rule: str | None = None) -> Board:
    """The leaderboard of ``suite`` from export entries, under the selection rule ``rule_name``.

    With a ``protocol`` (``udabench.leaderboard.protocol.Protocol``) only its runs count, one row per
    method, the values of its hyperparameter grids chosen per task by ``grid_rule`` (default:
    ``rule_name``), and bold marks the best mean of a column among cells with ``min_seeds`` seeds or
    more. Without one every run counts, one row per variant, and nothing is bold.
    """
    from udabench.errors import UdabenchError

    rule = get_rule(rule_name)
    grid = get_rule(grid_rule or rule_name)
    tasks = list(suite.tasks)
    entries = [entry for entry in entries if entry["task"] in set(tasks)]
    if protocol is not None:
        gridded = [method for method in protocol.methods if protocol.grid_names(method)]
        if gridded and grid.score is None:
            method = gridded[0]
            raise UdabenchError(f"protocol {protocol.file} tries several values of {method}'s "
                                f"{', '.join(protocol.grid_names(method))}; choose them with a rule that scores runs: "
                                f"--grid-selection entropy, snd, source-accuracy or oracle ('{grid.name}' has no score)")
        chosen_entries = protocol.select(entries, registry)
        sources = {entry["run_id"]: entry["method"] for entry in chosen_entries}
        shown = [entry for entry in chosen_entries if protocol.runs.get(entry["run_id"]) == "run"]
    else:
        sources = {entry["run_id"]: entry["method"] for entry in entries}
        shown = entries
    used, no_points, no_metric = _selected(shown, rule_name)

    def row_key(entry) -> Variant:
        if protocol is None:
            return variant_of(entry, registry)
        return Variant(entry["method"], "", "", ())

    def grid_point(entry) -> tuple[tuple[str, str], ...]:
        if protocol is None:
            return ()
        hparams = (entry.get("config") or {}).get("hparams") or {}
        return tuple((name, value_text(hparams.get(name))) for name in protocol.grid_names(entry["method"]))

    # one number per (row, task, grid point, seed): the newest run's
    chosen: dict[tuple, tuple[dict, float]] = {}
    duplicates = 0
    for entry, value in used:
        slot = (row_key(entry), entry["task"], grid_point(entry), entry["seed"])
        if slot in chosen:
            duplicates += 1
            if (entry["created_at"] or "", entry["run_id"]) <= (chosen[slot][0]["created_at"] or "",
                                                                 chosen[slot][0]["run_id"]):
                continue
        chosen[slot] = (entry, value)

    # per row and task: the grid points, each with its runs by seed; then one point per row and task
    points: dict[Variant, dict[str, dict[tuple, dict[int, tuple[dict, float]]]]] = {}
    for (variant, task, point, seed), item in chosen.items():
        points.setdefault(variant, {}).setdefault(task, {}).setdefault(point, {})[seed] = item
    grid_choices: list[GridChoice] = []
    cells_runs: dict[Variant, dict[str, list[tuple[dict, float]]]] = {}
    for variant in points:
        for task in tasks:
            by_point = points[variant].get(task)
            if not by_point:
                continue
            if protocol is not None and protocol.grid_names(variant.method):
                choice = _choose_point(variant.method, task, by_point, rule_name, grid, min_seeds)
                grid_choices.append(choice)
                picked = by_point.get(choice.chosen, {}) if choice.chosen is not None else {}
            else:
                picked = next(iter(by_point.values()))
            cells_runs.setdefault(variant, {})[task] = [picked[seed] for seed in sorted(picked)]
    runs_used = [entry for row in cells_runs.values() for items in row.values() for entry, _ in items]

    def shown_text(values: set[str]) -> str:
        return "; ".join(sorted(values))

    paper_rows = [(table, row) for table in suite.tables for row in table.rows]

    def reported_for(variant: Variant, task: str, runs):
        candidates = [(table, row) for table, row in paper_rows
                      if row.udabench_method == variant.method and task in row.cells]
        used_backbones = {plain_name(run.get("backbone") or "?") for run in runs}
        # "ResNet-50" matches timm:resnet50; a paper row of another network is no comparison.
        matching = [item for item in candidates if any(plain_name(item[1].backbone) in used for used in used_backbones)
                    if item[1].backbone]
        unnamed = [item for item in candidates if not item[1].backbone]
        return (matching or unnamed or [None])[0]

    comparisons: dict[str, list[tuple[str, list[str]]]] = {}  # task -> (row label, differences) per paper cell

    def reproduced_row(variant: Variant) -> Row:
        label = variant.label
        if protocol is not None and protocol.grid_names(variant.method):
            label = f"{variant.method} (grid {', '.join(protocol.grid_names(variant.method))} by `{grid.name}`)"
        cells, all_runs = {}, []
        for task in tasks:
            items = cells_runs.get(variant, {}).get(task, [])
            runs = [entry for entry, _ in items]
            all_runs += runs
            cell = Cell([100.0 * value for _, value in items], min_seeds=min_seeds)
            found = reported_for(variant, task, runs) if runs else None
            if found is not None:
                table, paper = found
                cell.reported = paper.cells[task]
                differences = protocol_differences(table, paper, runs, task, registry)
                cell.comparable = not differences
                if cell.shown:
                    comparisons.setdefault(task, []).append((label, differences))
            cells[task] = cell
        backbone = shown_text({run.get("backbone") or "?" for run in all_runs})
        budget = variant.budget if protocol is None else shown_text(
            {budget_of(run.get("config") or {}, registry.specs["methods"].get(run["method"])) for run in all_runs})
        return Row("reproduced", label, backbone, budget, method=variant.method, cells=cells)

    by_method: dict[str, list[Variant]] = {}
    for variant in sorted(cells_runs, key=Variant.order):
        by_method.setdefault(variant.method, []).append(variant)

    rows: list[Row] = []
    placed: set[str] = set()
    for table in suite.tables:
        shown_rows = [row for row in table.rows if any(task in row.cells for task in tasks)]
        if not shown_rows:
            continue
        rows.append(Row("heading", table.title, table=table.name))
        group = ""
        for paper in shown_rows:
            if paper.group and paper.group != group:
                rows.append(Row("heading", paper.group, table=table.name, group=paper.group))
            group = paper.group
            cells = {task: Cell(reported=paper.cells.get(task)) for task in tasks}
            rows.append(Row("reported", paper.printed_label, paper.backbone or "", table=table.name,
                            group=paper.group, method=paper.udabench_method, cells=cells))
            method = paper.udabench_method
            if method and method in by_method and method not in placed:
                placed.add(method)
                rows.extend(reproduced_row(variant) for variant in by_method[method])
    rest = [variant for method in sorted(by_method) if method not in placed for variant in by_method[method]]
    if rest:
        rows.append(Row("heading", "Reproduced with udabench, no row in the papers' tables"))
        rows.extend(reproduced_row(variant) for variant in rest)

    # Avg: over the tasks that some reproduced row shows, for rows that have every one of them
    avg_tasks = [task for task in tasks if any(row.kind == "reproduced" and row.cells[task].shown for row in rows)]
    for row in rows:
        if row.kind == "reproduced" and avg_tasks and all(row.cells[task].shown for task in avg_tasks):
            row.avg = statistics.fmean(row.cells[task].mean for task in avg_tasks)
        elif row.kind == "reported" and avg_tasks and all(row.cells[task].reported for task in avg_tasks):
            row.avg = statistics.fmean(row.cells[task].reported[0] for task in avg_tasks)

    # bold: only on a page of one protocol, among reproduced cells with enough seeds
    if protocol is not None:
        metric_spec = registry.specs["metrics"].get(suite.metric)
        pick_best = max if metric_spec is None or metric_spec.higher_is_better else min
        reproduced = [row for row in rows if row.kind == "reproduced"]
        for task in tasks:
            means = [row.cells[task].mean for row in reproduced if row.cells[task].shown]
            if means:
                best = _percent(pick_best(means))
                for row in reproduced:
                    if row.cells[task].shown and _percent(row.cells[task].mean) == best:
                        row.cells[task].bold = True
        averages = [row.avg for row in reproduced if row.avg is not None]
        if averages:
            best = _percent(pick_best(averages))
            for row in reproduced:
                row.avg_bold = row.avg is not None and _percent(row.avg) == best

    board = Board(suite, rule, rows, [], protocol, min_seeds, grid, avg_tasks, grid_choices,
                  chosen_entries if protocol is not None else entries)
    unchosen = len(used) - duplicates - len(runs_used)  # runs of grid points that were not chosen
    board.footer = _footer(board, runs_used, len(entries), no_points, no_metric, duplicates, unchosen, comparisons,
                           sources, registry)
    return board
