"""Export entries: one small JSON object per stored run, with only what a leaderboard needs.

An export file (``<suite>-runs.jsonl``) holds one entry per line. A published one starts with a
header line, ``{"protocol": {...}}``: the protocol the page was computed under and what the page
says about the store it came from (how many runs were left out, and why), so that the page can be
written again from the file alone. Files written before protocols have no header.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from udabench.errors import UdabenchError
from udabench.selection import DEFAULT_RULE, RULES
from udabench.specs import SuiteSpec

CONFIG_KEYS = ("steps", "phase_steps", "batch_size", "hparams", "source_run", "data", "code", "precision")
ENTRY_KEYS = ("run_id", "method", "task", "seed", "backbone", "config", "metric", "selection", "evaluation_points",
              "device", "created_at", "versions", "git_revision", "data")
HEADER_KEY = "protocol"
# The label-free scores of an evaluation point that selection rules rank by ({metric}: the task's).
SCORE_FIELDS = ("entropy", "snd", "source_{metric}")


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


# The part of a run's final phase over which the leaderboard measures whether it had converged.
TREND_SPAN = 0.4


def final_trend(evaluations: Sequence[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """How ``metric`` moved over the last ``TREND_SPAN`` of a run's final phase: ``{"phase", "from_step",
    "to_step", "change"}``, from the latest evaluation point at or before that span's start (the
    phase's first one where none is) to the last; None where the phase has fewer than two points."""
    points = [point for point in evaluations or () if isinstance(point, dict) and isinstance(point.get("step"), int)
              and _finite(point.get(metric)) is not None]
    if not points:
        return None
    phase = points[-1].get("phase")
    points = [point for point in points if point.get("phase") == phase]
    if len(points) < 2:
        return None
    last = points[-1]
    start = (1 - TREND_SPAN) * last["step"]
    before = [point for point in points[:-1] if point["step"] <= start] or points[:1]
    return {"phase": phase, "from_step": before[-1]["step"], "to_step": last["step"],
            "change": float(last[metric]) - float(before[-1][metric])}


def export_entry(record: dict[str, Any], metric: str) -> dict[str, Any]:
    """What a leaderboard needs of one stored run, with ``metric`` under every selection rule.

    A run stored with evaluation points has a number per rule (``details["selection"]``); an older
    run without them has the final metrics only, which is the number of the rule ``last``.
    ``scores`` holds, per rule, the label-free scores of the point the rule picks (what a grid of
    hyperparameters is chosen by).
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
    fields = [field.format(metric=metric) for field in SCORE_FIELDS]
    scores = {rule: {name: _finite((selection.get(rule) or {}).get(name)) for name in fields}
              for rule in RULES if selection}
    entry = {
        "run_id": record["run_id"], "method": record["method"], "task": record["task"], "seed": record["seed"],
        "backbone": config.get("backbone"),
        "config": {key: config[key] for key in CONFIG_KEYS if key in config},
        "metric": metric, "selection": values, "evaluation_points": bool(selection),
        "device": record.get("device"), "created_at": record.get("created_at"),
        "versions": record.get("versions") or {}, "git_revision": record.get("git_revision"),
        "data": details.get("data") or {}, "scores": scores,
        "trend": final_trend(details.get("evaluations") or [], metric),
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


def export_text(entries: Sequence[dict[str, Any]], header: dict[str, Any] | None = None) -> str:
    """The export file: the header line (if any), then one entry per line."""
    lines = [{HEADER_KEY: header}] if header is not None else []
    return "".join(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n" for line in [*lines, *entries])


def read_export(path: str | Path, suite: SuiteSpec) -> list[dict[str, Any]]:
    """The entries of a ``<suite>-runs.jsonl`` export, checked, sorted, restricted to the suite's tasks."""
    return read_export_file(path, suite)[1]


def read_export_file(path: str | Path, suite: SuiteSpec) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the header, or None for a file written before protocols; the entries as ``read_export`` gives them)."""
    path = Path(path)
    header = None
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
        if number_ == 1 and isinstance(entry, dict) and set(entry) == {HEADER_KEY}:
            if not isinstance(entry[HEADER_KEY], dict):
                raise UdabenchError(f"{path} line 1: the protocol header is not an object; is it a udabench export?")
            header = entry[HEADER_KEY]
            continue
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
    return header, sorted(chosen, key=_entry_order)


def export_name(suite: SuiteSpec) -> str:
    return f"{suite.name}-runs.jsonl"
