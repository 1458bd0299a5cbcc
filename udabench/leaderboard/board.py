"""The board: stored runs grouped into rows under the papers' rows, with the footer that says where they come from."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from udabench.leaderboard.common import EMPTY, ORACLE_MARK, _percent
from udabench.selection import DEFAULT_RULE, get_rule
from udabench.specs import SuiteSpec

VERSION_PACKAGES = ("udabench", "torch", "python")


# --- variants ---------------------------------------------------------------------------------------


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


def _value_text(value: Any) -> str:
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
    return tuple(sorted((name, _value_text(value)) for name, value in (hparams or {}).items()
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


def _norm(text: str | None) -> str:
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())


def point_text(point: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name}={value}" for name, value in point) or "the only point"


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
        return tuple((name, _value_text(hparams.get(name))) for name in protocol.grid_names(entry["method"]))

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
        used_backbones = {_norm(run.get("backbone") or "?") for run in runs}
        # "ResNet-50" matches timm:resnet50; a paper row of another network is no comparison.
        matching = [item for item in candidates if any(_norm(item[1].backbone) in used for used in used_backbones)
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


# --- the papers' protocols --------------------------------------------------------------------------


def declared_protocol(table) -> dict[str, Any]:
    """What a paper's table states about how its numbers were made, if it states it: a ``protocol``
    mapping with ``steps`` (the training steps of the method it reports, compared with a run's
    ``steps``) and ``network``. No table of the slides records one yet, so their numbers stand beside
    the reproduced ones without a signed difference."""
    declared = getattr(table, "protocol", None)
    return dict(declared) if declared else {}


def _splits(task_spec, role: str) -> dict[str, str]:
    """The dataset split behind each size a run records for the source or target ("train", "test")."""
    if role == "source":  # the source's test split only serves model selection: not a protocol matter
        return {"train": task_spec.train_split}
    return {"train": task_spec.train_split, "test": task_spec.test_split}


def data_sizes(runs, task: str, registry) -> tuple[str, bool]:
    """The data sizes the runs on ``task`` used, in words, and whether they are the full registered sets."""
    task_spec = registry.specs["tasks"].get(task)
    if task_spec is None:
        return f"{task} is no longer registered", False
    parts, full = [], True
    for role, name in (("source", task_spec.source), ("target", task_spec.target)):
        spec = registry.specs["datasets"].get(name)
        registered = {split: (spec.sizes.get(real) if spec else None) for split, real in _splits(task_spec, role).items()}
        texts = set()
        for run in runs:
            details = (run.get("data") or {}).get(name) or {}
            sizes = details.get("sizes") or {}
            if details.get("kind") == "not loaded":
                texts.add("not loaded by source-free runs")
                continue
            if not sizes:
                texts.add("sizes not recorded")
                full = False
                continue
            pieces = []
            for split in registered:
                if split not in sizes:
                    continue
                if registered[split] is None:
                    pieces.append(f"{split} {sizes[split]} (full size not registered)")
                    full = False
                elif sizes[split] != registered[split]:
                    pieces.append(f"{split} {sizes[split]} (full: {registered[split]})")
                    full = False
                else:
                    pieces.append(f"{split} {sizes[split]} (full)")
            texts.add(", ".join(pieces))
        parts.append(f"{name} ({role}): " + " or ".join(sorted(texts)))
    return "; ".join(parts), full


def protocol_differences(table, paper, runs, task: str, registry) -> list[str]:
    """How the runs' protocol differs from the one behind ``paper``'s number, as far as is known; empty:
    the same network named, the full datasets, and a budget not smaller than the paper's."""
    declared = declared_protocol(table)
    differences = []
    network = paper.backbone or declared.get("network")
    used = sorted({run.get("backbone") or "?" for run in runs})
    if not network:
        differences.append("the paper names no network")
    elif not all(_norm(network) in _norm(backbone) for backbone in used):
        differences.append(f"the paper's network is {network}, the runs' {', '.join(used)}")
    if not data_sizes(runs, task, registry)[1]:
        differences.append("the runs did not use the full datasets")
    steps = declared.get("steps")
    fewest = min(((run.get("config") or {}).get("steps") or 0) for run in runs)
    if not steps:
        differences.append("the paper's step budget is not recorded with its table")
    elif fewest < steps:
        differences.append(f"the runs trained {fewest} steps, fewer than the paper's {steps}")
    return differences


# --- footer -----------------------------------------------------------------------------------------


def _counted(counter: Counter, unit: str = "run") -> str:
    return "; ".join(f"{key} ({count} {unit}{'s' if count != 1 else ''})" for key, count in sorted(counter.items()))


def _short_revision(revision: str | None) -> str:
    if not revision:
        return "not recorded"
    commit, dirty, _ = revision.partition("-dirty")
    return commit[:7] + ("-dirty" if dirty else "")


def data_description(name: str, details: dict[str, Any] | None, fingerprint: str | None) -> str:
    """One dataset of a run in words, from the run's data details or, for older runs, its fingerprint."""
    if details:
        kind, location = details.get("kind", "?"), details.get("location", "?")
        if kind == "hub":
            text = f"{name}: hub copy {location}@{details.get('revision')}"
        elif kind == "generated":
            text = f"{name}: generated by code (revision {details.get('revision')})"
        elif kind == "not loaded":  # a source-free run never reads its source data
            return f"{name}: not loaded (source-free: adapts a stored source model)"
        else:
            text = f"{name}: {kind} folder '{location}'"
        sizes = details.get("sizes") or {}
        if sizes:
            order = sorted(sizes, key=lambda split: (("train", "test").index(split) if split in ("train", "test")
                                                     else 2, split))
            text += " (" + ", ".join(f"{split} {sizes[split]}" for split in order) + " images)"
        return text
    if fingerprint:
        return f"{name}: fingerprint {fingerprint}, no folder name or sizes recorded"
    return f"{name}: not recorded"


def _plural(count: int, unit: str = "run") -> str:
    return f"{count} {unit}{'s' if count != 1 else ''}"


# A run whose metric rose by more than this over the end of its final phase had not converged.
STILL_RISING = 0.01


def convergence_line(runs, suite: SuiteSpec) -> str:
    """Whether the budgets were enough: the runs whose target metric still rose at their end."""
    from udabench.leaderboard.entries import TREND_SPAN

    rising: dict[tuple[str, str], list[float]] = {}
    counts: Counter = Counter()  # (method, task) -> runs measured
    for run in runs:
        trend = run.get("trend")
        if not isinstance(trend, dict) or not isinstance(trend.get("change"), (int, float)):
            continue
        counts[(run["method"], run["task"])] += 1
        if trend["change"] > STILL_RISING:
            rising.setdefault((run["method"], run["task"]), []).append(trend["change"])
    span = f"the last {TREND_SPAN:.0%} of {'its' if not rising else 'their'} final phase"
    measured = sum(counts.values())
    if not measured:
        return "Convergence: not measured (no run has two evaluation points in its final phase)."
    if not rising:
        return (f"Convergence: no run's target {suite.metric_label} rose by more than {100 * STILL_RISING:g} point "
                f"over {span} ({measured} runs measured from their evaluation points).")
    items = [f"{method} on {task} ({len(changes)} of {counts[(method, task)]} runs, "
             f"+{100 * sum(changes) / len(changes):.1f} points on average)"
             for (method, task), changes in sorted(rising.items())]
    return (f"Convergence: runs whose target {suite.metric_label} still rose by more than "
            f"{100 * STILL_RISING:g} point over {span}, so that a longer budget may change their number: "
            + "; ".join(items) + ".")


def _footer(board: Board, runs, considered, no_points, no_metric, duplicates, unchosen, comparisons, sources,
            registry) -> list[str]:
    from udabench.leaderboard.protocol import REASONS

    suite, rule, protocol, grid = board.suite, board.rule, board.protocol, board.grid_rule
    mark = f" {ORACLE_MARK}" if rule.uses_target_labels else ""
    lines = []
    if protocol is None:
        lines.append("No protocol: every stored ok run on the suite's tasks, whatever its budget, data, "
                     "hyperparameters or code, one row per variant; nothing is bold, since rows need not be "
                     "comparable. `--protocol SWEEP.toml` shows the runs of one protocol alone.")
    else:
        budgets: dict[str, list[str]] = {}
        for method in protocol.methods:
            budgets.setdefault(protocol.budgets.get(method, "?"), []).append(method)
        shared = (" Methods that start from a source model take the protocol's shared source-only run of their "
                  "task and seed." if protocol.share_source else "")
        lines.append(
            f"Protocol `{protocol.name}` ({protocol.file}): methods {', '.join(protocol.methods)} on "
            f"{', '.join(protocol.tasks)}, seeds {', '.join(str(seed) for seed in protocol.seeds)}; budgets: "
            + "; ".join(f"{', '.join(methods)}: {text}" for text, methods in budgets.items())
            + "; data: " + ", ".join(f"{name} '{where}'" for name, where in sorted(protocol.data.items()))
            + f". Only runs whose run key is one the protocol plans are used: the same method, task, seed, "
            f"hyperparameters, steps, batch size, data and code.{shared}")
        roles = Counter(protocol.runs.get(entry["run_id"]) for entry in board.runs)
        left = sum(protocol.left_out.values())
        planned_sources = sum(1 for role in protocol.runs.values() if role == "source")
        sources_text = (f", and {roles['source']} of its {planned_sources} shared source models"
                        if planned_sources else "")
        text = (f"Protocol runs: {roles['run']} of the {protocol.planned} it plans on these tasks are stored"
                f"{sources_text}; of the {protocol.considered} stored ok runs on the suite's tasks, {left} "
                f"{'were' if left != 1 else 'was'} left out")
        if left:
            text += ": " + "; ".join(f"{protocol.left_out[key]} {REASONS[key]}" for key in REASONS
                                     if protocol.left_out.get(key))
        lines.append(text + ".")
    lines.append(f"Selection rule `{rule.name}`{mark}: {rule.description}.")
    if board.grid_choices:
        grid_mark = f" {ORACLE_MARK}" if grid.uses_target_labels else ""
        what = ("the target test metric" if grid.uses_target_labels else f"the score `{grid.score.format(metric=suite.metric)}`")
        better = "highest" if grid.higher_is_better else "lowest"
        choices = []
        for choice in board.grid_choices:
            others = ", ".join(f"{point_text(point)} {'–' if score is None else f'{score:.4g}'} (n={n})"
                               for point, score, n in choice.scores)
            picked = point_text(choice.chosen) if choice.chosen is not None else "none (no scored run)"
            choices.append(f"{choice.method} on {choice.task}: {picked} [{others}]")
        lines.append(f"Grid selection `{grid.name}`{grid_mark}: one grid point per method and task, the one with "
                     f"the {better} mean over seeds of {what} at the point rule `{rule.name}` picks in each run; "
                     f"never by target test accuracy unless marked oracle. Chosen: " + "; ".join(choices) + ".")
    seeds_text = (f"; a cell with fewer than {board.min_seeds} seeds shows {EMPTY} (n=k < {board.min_seeds}) and no "
                  "number" if board.min_seeds > 1 else "")
    lines.append(
        f"Reproduced cells: mean ± sample standard deviation over seeds (n = number of seeds) of target test "
        f"{suite.metric_label} in %, at the evaluation point the rule picks{seeds_text}. \"paper X\": the number "
        f"the paper reports for that method and task; \"(+d)\" after it, the difference in points, only where the "
        f"protocols match (the same network named, the full datasets, a budget not smaller than the paper's). Rows "
        f"marked reported hold the papers' numbers alone; {EMPTY}: no number.")
    if protocol is not None:
        lines.append(f"Bold: the best reproduced mean of its column (Avg included) among the cells of this protocol "
                     f"with at least {board.min_seeds} seed{'s' if board.min_seeds != 1 else ''}; the papers' "
                     f"numbers are never bold here and never compared with reproduced ones for it.")
    if board.avg_tasks:
        lines.append(f"Avg: the mean over {', '.join(board.avg_tasks)} (the tasks with reproduced numbers here); "
                     f"{EMPTY} where a row lacks one of them.")
    else:
        lines.append(f"Avg: {EMPTY} (no reproduced numbers to average).")
    if protocol is None:
        used_text = f"Runs: {len(runs)} used of {considered} stored ok on the suite's tasks"
    else:
        shown = sum(1 for entry in board.runs if protocol.runs.get(entry["run_id"]) == "run")
        used_text = f"Runs: {len(runs)} used of the protocol's {shown} stored"
    parts = []
    if no_points:
        parts.append(f"{len(no_points)} excluded for lack of evaluation points (stored before runs recorded "
                     f"them), so rule `{rule.name}` has no number for them")
    if no_metric:
        parts.append(f"{len(no_metric)} excluded: no {suite.metric} under rule `{rule.name}`")
    if duplicates:
        parts.append(f"{duplicates} left out as a repeat of a seed already in its row (the newest run counts)")
    if unchosen:
        parts.append(f"{unchosen} of grid points not chosen")
    if not parts:
        parts.append("none excluded")
    lines.append(used_text + "; " + "; ".join(parts) + ".")
    by_task: dict[str, list[dict]] = {}
    for run in runs:
        by_task.setdefault(run["task"], []).append(run)
    for task in suite.tasks:
        if task not in by_task:
            continue
        text = f"Data on {task}: {data_sizes(by_task[task], task, registry)[0]}"
        if task in comparisons:
            differences = list(dict.fromkeys(d for _, found in comparisons[task] for d in found))
            matched = [label for label, found in comparisons[task] if not found]
            if differences:
                text += ("; the paper numbers beside them carry no signed difference"
                         + (f" (except for {', '.join(matched)})" if matched else "")
                         + ": " + "; ".join(differences))
            else:
                text += "; the protocols match: paper numbers carry the signed difference"
        lines.append(text + ".")
    if not runs:
        lines.append(f"No reproduced numbers: no usable stored run on {', '.join(suite.tasks)}.")
    else:
        source_runs: dict[str, set[str]] = {}
        for run in runs:
            source = (run.get("config") or {}).get("source_run")
            if source:
                source_runs.setdefault(source[:12], set()).add(run["method"])
        if source_runs:
            known = {**sources, **(protocol.source_methods if protocol is not None else {})}
            groups: dict[tuple[str, ...], list[str]] = {}
            for source, methods in sorted(source_runs.items()):
                groups.setdefault(tuple(sorted(methods)), []).append(
                    f"run {source} ({known.get(source, 'not stored')})")
            lines.append("Source models: " + "; ".join(f"{', '.join(methods)}: source model from "
                                                       + ", ".join(items) for methods, items in groups.items()) + ".")
        code = {}
        for run in runs:
            identity = (run.get("config") or {}).get("code") or {}
            text = (f"{identity.get('method')}, backbone {run.get('backbone')} {identity.get('backbone')}"
                    if identity else "not recorded")
            code.setdefault(run["method"], set()).add(text)
        lines.append("Code: " + "; ".join(f"{method}: {' | '.join(sorted(texts))}"
                                          for method, texts in sorted(code.items())) + ".")
        lines.append(convergence_line(runs, suite))
        lines.append(f"Devices: {_counted(Counter(run.get('device') or 'not recorded' for run in runs))}.")
        budgets = Counter(budget_of(run.get("config") or {}, registry.specs["methods"].get(run["method"]))
                          for run in runs)
        lines.append(f"Step budgets: {_counted(budgets)}.")
        lines.append(f"Seeds: {', '.join(str(seed) for seed in sorted({run['seed'] for run in runs}))}.")
        dates = sorted(run.get("created_at") or "" for run in runs)
        lines.append(f"Run dates: {dates[0]} to {dates[-1]}.")
        versions = []
        for package in VERSION_PACKAGES:
            found = sorted({(run.get("versions") or {}).get(package) or "not recorded" for run in runs})
            versions.append(f"{package} {', '.join(found)}")
        lines.append(f"Versions: {'; '.join(versions)}.")
        revisions = Counter(_short_revision(run.get("git_revision")) for run in runs)
        revision_line = f"Git revisions: {_counted(revisions)}."
        clean = all(not revision.endswith("-dirty") and revision != "not recorded" for revision in revisions)
        if len(revisions) > 1 and clean and all(len(texts) == 1 and "not recorded" not in texts
                                                for texts in code.values()):
            revision_line += (" Between these commits no method's or backbone's code changed: each method's runs "
                              "carry one hash of that source (under Code); the rest of udabench (the runner, "
                              "data loading) is not in the hash.")
        lines.append(revision_line)
        data = Counter()
        for run in runs:
            fingerprints = (run.get("config") or {}).get("data") or {}
            details = run.get("data") or {}
            for name in sorted(set(fingerprints) | set(details)):
                data[data_description(name, details.get(name), fingerprints.get(name))] += 1
        lines.append(f"Data: {_counted(data)}.")
    for table in suite.tables:
        lines.append(f"Reported: {table.title}: {table.source}.")
    return lines
