"""Export entries: one small JSON object per stored run, with only what a leaderboard needs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from udabench.errors import UdabenchError
from udabench.selection import DEFAULT_RULE, RULES
from udabench.specs import SuiteSpec

CONFIG_KEYS = ("steps", "phase_steps", "batch_size", "hparams", "source_run", "data")
ENTRY_KEYS = ("run_id", "method", "task", "seed", "backbone", "config", "metric", "selection", "evaluation_points",
              "device", "created_at", "versions", "git_revision", "data")


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


def export_name(suite: SuiteSpec) -> str:
    return f"{suite.name}-runs.jsonl"
