"""A board's notes: the papers' protocols beside the runs', the data they read, whether they had
converged, and the footer that says where every number comes from."""

from __future__ import annotations

from collections import Counter
from typing import Any

from udabench.leaderboard.common import EMPTY, ORACLE_MARK
from udabench.leaderboard.variants import budget_of, plain_name, point_text
from udabench.specs import SuiteSpec

VERSION_PACKAGES = ("udabench", "torch", "python")


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
    elif not all(plain_name(network) in plain_name(backbone) for backbone in used):
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


def _footer(board, runs, considered, no_points, no_metric, duplicates, unchosen, comparisons, sources,
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
