"""Leaderboards: the runs stored with udabench on a suite's tasks, beside the numbers the papers report.

A suite (``udabench.specs.SuiteSpec``) names its tasks and the seed's tables (``ReportedTable``). A
leaderboard lists the tables' rows in paper order and, under the paper row of the same udabench
method, one row per reproduced variant (method, backbone, step budget, non-default hyperparameters):
mean ± sample standard deviation over seeds of the number a model-selection rule picks from each run.

The leaderboard is computed from *export entries*, one small JSON object per run with only what it
needs, so that a published table can be regenerated from its ``<suite>-runs.jsonl`` without the
results store, byte for byte. Importing this module never imports torch or pandas.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from udabench.errors import UdabenchError
from udabench.selection import DEFAULT_RULE, RULES, get_rule
from udabench.specs import ReportedTable, SuiteSpec

FORMATS = ("markdown", "csv", "latex")
EMPTY = "–"  # a leaderboard cell with no number
ABSENT = "-"  # a cell the paper leaves empty, printed as the seed prints it
ORACLE_MARK = "(oracle: uses target labels)"
CONFIG_KEYS = ("steps", "phase_steps", "batch_size", "hparams", "source_run", "data")
ENTRY_KEYS = ("run_id", "method", "task", "seed", "backbone", "config", "metric", "selection", "evaluation_points",
              "device", "created_at", "versions", "git_revision", "data")
VERSION_PACKAGES = ("udabench", "torch", "python")

Segment = tuple[str, bool]  # text, bold


# --- validation -------------------------------------------------------------------------------------


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise UdabenchError(f"unknown format '{name}' (known: {', '.join(FORMATS)})")
    return name


def get_suite(registry, name: str) -> SuiteSpec:
    """The registered suite ``name``; an unknown name is a one-line error listing the known ones."""
    return registry.get("suites", name)


def all_tables(registry, suite: SuiteSpec | None = None) -> list[ReportedTable]:
    """The tables of ``suite``, or of every registered suite (suites by name, each table once)."""
    suites = [suite] if suite is not None else [registry.specs["suites"][name] for name in registry.names("suites")]
    tables, seen = [], set()
    for spec in suites:
        for table in spec.tables:
            if table.name not in seen:
                seen.add(table.name)
                tables.append(table)
    return tables


# --- numbers as printed -----------------------------------------------------------------------------


def number(value: float) -> str:
    """A reported number as the paper prints it (96.01, 73.0, 0.03)."""
    return repr(float(value))


def reported_text(value: float, std: float | None) -> str:
    return f"{number(value)} ± {number(std)}" if std is not None else number(value)


def _percent(value: float) -> str:
    return f"{value:.1f}"


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return "+0.0" if text == "-0.0" else text


# --- export entries ---------------------------------------------------------------------------------


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def export_entry(record: dict[str, Any], metric: str) -> dict[str, Any]:
    """What a leaderboard needs of one stored run, with ``metric`` under every selection rule.

    A run stored with evaluation points has a number per rule (``details["selection"]``); an older
    run without them has the final metrics only, which is the number of the rule ``last``.
    """
    config = record.get("config") or {}
    details = record.get("details") or {}
    selection = details.get("selection") or {}
    values = {}
    for rule in RULES:
        if selection:
            value = (selection.get(rule) or {}).get(metric)
        elif rule == DEFAULT_RULE:
            value = (record.get("metrics") or {}).get(metric)
        else:
            value = None
        values[rule] = _finite(value)
    entry = {
        "run_id": record["run_id"], "method": record["method"], "task": record["task"], "seed": record["seed"],
        "backbone": config.get("backbone"),
        "config": {key: config[key] for key in CONFIG_KEYS if key in config},
        "metric": metric, "selection": values, "evaluation_points": bool(selection),
        "device": record.get("device"), "created_at": record.get("created_at"),
        "versions": record.get("versions") or {}, "git_revision": record.get("git_revision"),
        "data": details.get("data") or {},
    }
    return json.loads(json.dumps(entry, sort_keys=True))  # exactly what a round trip through the file gives


def _entry_order(entry: dict[str, Any]):
    return (entry["task"], entry["method"], entry["seed"], entry["created_at"] or "", entry["run_id"])


def export_entries(records: Iterable[dict[str, Any]], suite: SuiteSpec) -> list[dict[str, Any]]:
    """Export entries of the ``ok`` runs on the suite's tasks, sorted."""
    tasks = set(suite.tasks)
    entries = [export_entry(record, suite.metric_of(record.get("task"))) for record in records
               if record.get("status") == "ok" and record.get("task") in tasks]
    return sorted(entries, key=_entry_order)


def entries_from_store(store_path: str | None, suite: SuiteSpec) -> list[dict[str, Any]]:
    from udabench.store import Store, default_store_path

    path = Path(store_path).expanduser() if store_path else default_store_path()
    if not path.is_file():
        raise UdabenchError(f"no results store at {path}; pass --store PATH, or --reported-only for the papers' "
                            "tables alone")
    return export_entries(Store(path).query(status="ok"), suite)


def export_text(entries: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n" for entry in entries)


def read_export(path: str | Path, suite: SuiteSpec) -> list[dict[str, Any]]:
    """The entries of a ``<suite>-runs.jsonl`` export, checked, sorted, restricted to the suite's tasks."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UdabenchError(f"cannot read the export {path}: {exc.strerror or exc}") from None
    entries = []
    for number_, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UdabenchError(f"{path} line {number_} is not JSON ({exc.msg}); is it a udabench export?") from None
        missing = [key for key in ENTRY_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise UdabenchError(f"{path} line {number_} lacks {', '.join(missing)}; is it a udabench export?")
        entries.append(entry)
    tasks = set(suite.tasks)
    chosen = [entry for entry in entries if entry["task"] in tasks]
    if entries and not chosen:
        held = ", ".join(sorted({entry["task"] for entry in entries}))
        raise UdabenchError(f"{path} holds no runs on the tasks of suite '{suite.name}' (it holds: {held})")
    wrong = [entry for entry in chosen if entry["metric"] != suite.metric_of(entry["task"])]
    if wrong:
        raise UdabenchError(f"{path} records the metric '{wrong[0]['metric']}' for {wrong[0]['task']}, suite "
                            f"'{suite.name}' shows '{suite.metric_of(wrong[0]['task'])}'")
    return sorted(chosen, key=_entry_order)


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


# --- rendering helpers ------------------------------------------------------------------------------


def _md_cell(segments: Sequence[Segment]) -> str:
    text = "".join(f"**{part}**" if bold and part else part for part, bold in segments)
    return text.replace("|", "\\|")


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "→": r"$\rightarrow$", "·": r"$\cdot$", "–": "--", "↓": r"$\downarrow$"}


def latex_escape(text: str) -> str:
    """Text for LaTeX: special characters escaped, ±, →, ·, – as LaTeX, `code` in typewriter type."""
    import re

    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for char, replacement in _LATEX_UNICODE.items():
        out = out.replace(char, replacement)
    return re.sub(r"`([^`]*)`", r"\\texttt{\1}", out)


def _latex_cell(segments: Sequence[Segment]) -> str:
    return "".join(f"\\textbf{{{latex_escape(part)}}}" if bold and part else latex_escape(part)
                   for part, bold in segments)


def _markdown_table(header: Sequence[Sequence[Segment]], body: Sequence[Sequence[Sequence[Segment]]]) -> str:
    from tabulate import tabulate

    return tabulate([[_md_cell(cell) for cell in row] for row in body], headers=[_md_cell(c) for c in header],
                    tablefmt="github", disable_numparse=True)


def _latex_table(header, body, headings: set[int]) -> str:
    width = len(header)
    lines = ["\\begin{tabular}{" + "l" * width + "}", "\\hline",
             " & ".join(_latex_cell(cell) for cell in header) + " \\\\", "\\hline"]
    for index, row in enumerate(body):
        if index in headings:
            lines.append(f"\\multicolumn{{{width}}}{{l}}{{\\textit{{{_latex_cell(row[0])}}}}} \\\\")
        else:
            lines.append(" & ".join(_latex_cell(cell) for cell in row) + " \\\\")
    lines += ["\\hline", "\\end{tabular}"]
    return "\n".join(lines)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _plain(text: str) -> list[Segment]:
    return [(text, False)]


# --- the papers' tables as printed ------------------------------------------------------------------


def _reported_cell(row, key) -> list[Segment]:
    if key not in row.cells:
        return _plain(ABSENT)
    value, std = row.cells[key]  # the paper bolds the value, not its ± std
    return [(number(value), key in row.bold)] + ([(f" ± {number(std)}", False)] if std is not None else [])


def _first_of_block(rows) -> list[str]:
    """Each row's backbone where a block of rows with the same backbone starts, else "" (merged cells)."""
    shown, previous = [], object()
    for row in rows:
        shown.append((row.backbone or "") if row.backbone != previous else "")
        previous = row.backbone
    return shown


def reported_grid(table: ReportedTable):
    """(header, body, indices of group-heading rows) of a table laid out as the seed prints it."""
    backbones = _first_of_block(table.rows)
    if table.transposed:
        header = [_plain("Method")] + [_plain(row.printed_label) for row in table.rows]
        body = []
        if table.backbone_label:
            body.append([_plain(table.backbone_label)] + [_plain(b) for b in backbones])
        for key, label in table.columns:
            body.append([_plain(label)] + [_reported_cell(row, key) for row in table.rows])
        return header, body, set()
    header = [_plain("Method")] + ([_plain(table.backbone_label)] if table.backbone_label else []) + [
        _plain(label) for _, label in table.columns]
    body, headings, group = [], set(), ""
    for row, backbone in zip(table.rows, backbones):
        if row.group and row.group != group:
            headings.add(len(body))
            body.append([[(row.group, False)]] + [_plain("")] * (len(header) - 1))
        group = row.group
        body.append([_plain(row.printed_label)] + ([_plain(backbone)] if table.backbone_label else [])
                    + [_reported_cell(row, key) for key, _ in table.columns])
    return header, body, headings


def render_reported(tables: Sequence[ReportedTable], fmt: str, level: int = 2) -> str:
    """The tables as the seed shows them: title, source, columns as printed, "-", "±", bold, groups."""
    if fmt == "csv":
        keys = list(dict.fromkeys(key for table in tables for key, _ in table.columns))
        header = ["table", "group", "label", "backbone", "udabench_method", "bold"]
        header += [part for key in keys for part in (key, f"{key} std")]
        rows = []
        for table in tables:
            for row in table.rows:
                line = [table.name, row.group, row.printed_label, row.backbone or "", row.udabench_method or "",
                        ";".join(key for key, _ in table.columns if key in row.bold)]
                for key in keys:
                    value, std = row.cells.get(key, (None, None))
                    line += [number(value) if value is not None else "", number(std) if std is not None else ""]
                rows.append(line)
        return _csv_text(header, rows)
    blocks = []
    for table in tables:
        header, body, headings = reported_grid(table)
        if fmt == "markdown":
            for index in headings:
                body[index][0] = [(f"*{body[index][0][0][0]}*", False)]
            blocks.append(f"{'#' * level} {table.title}\n\nSource: {table.source}.\n\n"
                          f"{_markdown_table(header, body)}\n")
        else:
            blocks.append(f"\\noindent\\textbf{{{latex_escape(table.title)}}}\\\\\nSource: "
                          f"{latex_escape(table.source)}.\n\n{_latex_table(header, body, headings)}\n")
    return "\n".join(blocks)


# --- the leaderboard --------------------------------------------------------------------------------


def heading_of(board: Board) -> str:
    mark = f" {ORACLE_MARK}" if board.rule.uses_target_labels else ""
    return f"{board.suite.name} leaderboard: {board.suite.title}, selection rule `{board.rule.name}`{mark}"


def _reproduced_segments(cell: Cell) -> list[Segment]:
    if not cell.values:
        return _plain(EMPTY)
    core = _percent(cell.mean) + (f" ± {_percent(cell.std)}" if cell.std is not None else "")
    segments = [(core, cell.bold), (f" (n={cell.n})", False)]
    if cell.reported is not None:
        segments.append((f" · paper {reported_text(*cell.reported)} ({_signed(cell.diff)})", False))
    return segments


def board_grid(board: Board):
    tasks = list(board.suite.tasks)
    header = [_plain(text) for text in ("method", "numbers", "backbone", "budget", *tasks)]
    body, headings = [], set()
    for row in board.rows:
        if row.kind == "heading":
            headings.add(len(body))
            body.append([_plain(row.label)] + [_plain("")] * (len(header) - 1))
            continue
        if row.kind == "reported":
            cells = [_plain(reported_text(*row.cells[t].reported)) if row.cells[t].reported else _plain(EMPTY)
                     for t in tasks]
        else:
            cells = [_reproduced_segments(row.cells[t]) for t in tasks]
        body.append([_plain(row.label), _plain(row.kind), _plain(row.backbone or EMPTY),
                     _plain(row.budget or EMPTY), *cells])
    return header, body, headings


def _csv_number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_board(board: Board, fmt: str, level: int = 2) -> str:
    if fmt == "csv":
        tasks = list(board.suite.tasks)
        header = ["numbers", "table", "group", "label", "udabench_method", "backbone", "budget"]
        header += [f"{task} {part}" for task in tasks for part in ("mean", "std", "n", "reported", "reported std",
                                                                  "diff")]
        rows = []
        for row in board.rows:
            if row.kind == "heading":
                continue
            line = [row.kind, row.table, row.group, row.label, row.method or "", row.backbone, row.budget]
            for task in tasks:
                cell = row.cells[task]
                value, std = cell.reported if cell.reported else (None, None)
                line += [_csv_number(cell.mean), _csv_number(cell.std), str(cell.n) if cell.values else "",
                         number(value) if value is not None else "", number(std) if std is not None else "",
                         _csv_number(cell.diff)]
            rows.append(line)
        return _csv_text(header, rows)
    header, body, headings = board_grid(board)
    if fmt == "markdown":
        for index in headings:
            body[index][0] = [(f"*{body[index][0][0][0]}*", False)]
        footer = "\n".join(f"- {line}" for line in board.footer)
        return f"{'#' * level} {heading_of(board)}\n\n{_markdown_table(header, body)}\n\n{footer}\n"
    items = "\n".join(f"\\item {latex_escape(line)}" for line in board.footer)
    return (f"\\noindent\\textbf{{{latex_escape(heading_of(board))}}}\n\n{_latex_table(header, body, headings)}\n\n"
            f"\\begin{{itemize}}\n{items}\n\\end{{itemize}}\n")


def footer_comments(board: Board) -> str:
    """The footer as ``#`` lines, for stderr beside a CSV that holds the numbers alone."""
    return "".join(f"# {line}\n" for line in board.footer)


# --- publishing -------------------------------------------------------------------------------------


def export_name(suite: SuiteSpec) -> str:
    return f"{suite.name}-runs.jsonl"


def publication(board: Board) -> str:
    """The Markdown page of a published leaderboard: heading, what it shows, the board, the papers' tables."""
    suite = board.suite
    rule = board.rule
    mark = f" {ORACLE_MARK}" if rule.uses_target_labels else ""
    intro = (f"Target test {suite.metric_label} (%) of the runs stored with udabench on the tasks of the `{suite.name}` "
             f"suite ({', '.join(suite.tasks)}): mean ± standard deviation over seeds of the number the "
             f"model-selection rule `{rule.name}`{mark} picks from each run, under the matching rows of the papers' "
             f"tables, which follow for reference. The runs behind it are listed in `{export_name(suite)}`; "
             f"`udabench publish --suite {suite.name} --selection {rule.name} "
             f"--from-export {export_name(suite)} --out .`, "
             f"run in this folder, writes this page again from that file.")
    parts = [f"# {suite.title}: the `{suite.name}` leaderboard\n", intro + "\n", render_board(board, "markdown", 2),
             "## The papers' tables\n", render_reported(suite.tables, "markdown", 3)]
    return "\n".join(parts)


def publish(board: Board, entries: Sequence[dict[str, Any]], out_dir: str | Path,
            write_export: bool = True) -> tuple[Path, Path]:
    """Write ``<suite>.md`` and (unless ``write_export`` is false) ``<suite>-runs.jsonl`` into ``out_dir``."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        page = out / f"{board.suite.name}.md"
        runs = out / export_name(board.suite)
        page.write_text(publication(board), encoding="utf-8")
        if write_export:
            runs.write_text(export_text(entries), encoding="utf-8")
    except OSError as exc:
        raise UdabenchError(f"cannot write the leaderboard into {out}: {exc.strerror or exc}") from None
    return page, runs


# --- the commands -----------------------------------------------------------------------------------


def _load(args, registry, suite):
    if args.store and args.from_export:
        raise UdabenchError("give --store or --from-export, not both")
    if args.from_export:
        return read_export(args.from_export, suite)
    return entries_from_store(args.store, suite)


def command_leaderboard(args) -> int:
    """``udabench leaderboard``: see ``udabench leaderboard --help``."""
    import sys

    from udabench.plugins import load_registry

    fmt = check_format(args.format)
    rule = get_rule(args.selection or DEFAULT_RULE)
    registry = load_registry()
    suite = get_suite(registry, args.suite) if args.suite else None
    if args.reported_only:
        if args.store or args.from_export or args.selection:
            raise UdabenchError("--reported-only prints the papers' tables alone; --store, --from-export and "
                                "--selection do not apply")
        tables = all_tables(registry, suite)
        if not tables:
            raise UdabenchError("no registered suite has reported tables")
        sys.stdout.write(render_reported(tables, fmt))
        return 0
    if suite is None:
        raise UdabenchError(f"leaderboard needs --suite NAME (known: {', '.join(registry.names('suites'))}), or "
                            "--reported-only for the papers' tables")
    board = build(suite, _load(args, registry, suite), rule.name, registry)
    sys.stdout.write(render_board(board, fmt))
    if fmt == "csv":
        sys.stderr.write(footer_comments(board))
    if args.plot:
        from udabench.plots import plot_board

        print(f"plot: {plot_board(board, args.plot)}", file=sys.stderr)
    return 0


def board_for(args) -> Board:
    """The board of ``args.suite`` under ``args.selection``, from the store or ``args.from_export``."""
    from udabench.plugins import load_registry

    rule = get_rule(args.selection or DEFAULT_RULE)
    registry = load_registry()
    suite = get_suite(registry, args.suite)
    return build(suite, _load(args, registry, suite), rule.name, registry)


def command_publish(args) -> int:
    """``udabench publish``: see ``udabench publish --help``."""
    import sys

    from udabench.plugins import load_registry

    rule = get_rule(args.selection or DEFAULT_RULE)
    registry = load_registry()
    if not args.suite:
        raise UdabenchError(f"publish needs --suite NAME (known: {', '.join(registry.names('suites'))})")
    suite = get_suite(registry, args.suite)
    entries = _load(args, registry, suite)
    board = build(suite, entries, rule.name, registry)
    out = Path(args.out)
    target = out / export_name(suite)
    same_file = bool(args.from_export) and target.exists() and target.resolve() == Path(args.from_export).resolve()
    page, runs = publish(board, entries, out, write_export=not same_file)
    print(f"udabench: wrote {page} and {runs} ({len(entries)} run(s))" if not same_file
          else f"udabench: wrote {page} from {runs} ({len(entries)} run(s))", file=sys.stderr)
    return 0
