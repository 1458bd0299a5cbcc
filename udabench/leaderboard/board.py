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
    bold: bool = False  # the best reproduced mean of its column

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def diff(self) -> float | None:
        if self.mean is None or self.reported is None:
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


@dataclass
class Board:
    suite: SuiteSpec
    rule: Any
    rows: list[Row]
    footer: list[str]


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


def build(suite: SuiteSpec, entries: Sequence[dict[str, Any]], rule_name: str, registry) -> Board:
    """The leaderboard of ``suite`` from export entries, under the selection rule ``rule_name``."""
    rule = get_rule(rule_name)
    tasks = list(suite.tasks)
    used, no_points, no_metric = _selected([e for e in entries if e["task"] in set(tasks)], rule_name)

    # one number per (variant, task, seed): the newest run's
    chosen: dict[tuple[Variant, str, int], tuple[dict, float]] = {}
    duplicates = 0
    for entry, value in used:
        slot = (variant_of(entry, registry), entry["task"], entry["seed"])
        if slot in chosen:
            duplicates += 1
            if (entry["created_at"] or "", entry["run_id"]) <= (chosen[slot][0]["created_at"] or "",
                                                                 chosen[slot][0]["run_id"]):
                continue
        chosen[slot] = (entry, value)
    runs_used = [entry for entry, _ in chosen.values()]

    variants: dict[Variant, dict[str, list[float]]] = {}
    backbones: dict[Variant, set[str]] = {}
    for (variant, task, seed), (entry, value) in sorted(chosen.items(), key=lambda item: (item[0][1], item[0][2])):
        variants.setdefault(variant, {}).setdefault(task, []).append(100.0 * value)
        backbones.setdefault(variant, set()).add(entry.get("backbone") or "?")

    paper_rows = [(table, row) for table in suite.tables for row in table.rows]

    def reported_for(variant: Variant, task: str):
        candidates = [row for _, row in paper_rows if row.udabench_method == variant.method and task in row.cells]
        used_backbones = {_norm(b) for b in backbones[variant]}
        # "ResNet-50" matches timm:resnet50; a paper row of another network is no comparison.
        matching = [row for row in candidates if any(_norm(row.backbone) in used for used in used_backbones)]
        unnamed = [row for row in candidates if not row.backbone]
        pick = (matching or unnamed or [None])[0]
        return pick.cells[task] if pick is not None else None

    def reproduced_row(variant: Variant) -> Row:
        cells = {}
        for task in tasks:
            values = variants[variant].get(task, [])
            cells[task] = Cell(values, reported_for(variant, task) if values else None)
        return Row("reproduced", variant.label, ", ".join(sorted(backbones[variant])), variant.budget,
                   method=variant.method, cells=cells)

    by_method: dict[str, list[Variant]] = {}
    for variant in sorted(variants, key=Variant.order):
        by_method.setdefault(variant.method, []).append(variant)

    rows: list[Row] = []
    placed: set[str] = set()
    for table in suite.tables:
        shown = [row for row in table.rows if any(task in row.cells for task in tasks)]
        if not shown:
            continue
        rows.append(Row("heading", table.title, table=table.name))
        group = ""
        for paper in shown:
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

    metric_spec = registry.specs["metrics"].get(suite.metric)
    pick_best = max if metric_spec is None or metric_spec.higher_is_better else min
    for task in tasks:
        means = [row.cells[task].mean for row in rows if row.kind == "reproduced" and row.cells[task].values]
        if means:
            best = _percent(pick_best(means))
            for row in rows:
                if row.kind == "reproduced" and row.cells[task].values and _percent(row.cells[task].mean) == best:
                    row.cells[task].bold = True

    footer = _footer(suite, rule, runs_used, len(entries), no_points, no_metric, duplicates, registry)
    return Board(suite, rule, rows, footer)


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


def _footer(suite, rule, runs, considered, no_points, no_metric, duplicates, registry) -> list[str]:
    mark = f" {ORACLE_MARK}" if rule.uses_target_labels else ""
    lines = [
        f"Selection rule `{rule.name}`{mark}: {rule.description}.",
        f"Reproduced cells: mean ± sample standard deviation over seeds (n = number of seeds) of target test "
        f"{suite.metric_label} in %, at the evaluation point the rule picks; \"paper X (+d)\": the number the paper "
        f"reports for that method and task, and the difference in points; bold: best reproduced mean of its "
        f"task. Rows marked reported hold the papers' numbers alone; {EMPTY}: no number.",
    ]
    excluded = len(no_points) + len(no_metric)
    used_text = f"Runs: {len(runs)} used of {considered} stored ok on the suite's tasks"
    parts = []
    if no_points:
        parts.append(f"{len(no_points)} excluded for lack of evaluation points (stored before runs recorded "
                     f"them), so rule `{rule.name}` has no number for them")
    if no_metric:
        parts.append(f"{len(no_metric)} excluded: no {suite.metric} under rule `{rule.name}`")
    if duplicates:
        parts.append(f"{duplicates} left out as a repeat of a seed already in its row (the newest run counts)")
    if not excluded:
        parts.insert(0, "none excluded")
    lines.append(used_text + "; " + "; ".join(parts) + ".")
    if not runs:
        lines.append(f"No reproduced numbers: no usable stored run on {', '.join(suite.tasks)}.")
    else:
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
        lines.append(f"Git revisions: {_counted(Counter(_short_revision(run.get('git_revision')) for run in runs))}.")
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
