"""How a stored run reads on the terminal: the summary of ``udabench run`` and its per-class lines."""

from __future__ import annotations

import json


def print_run(record: dict, as_json: bool, store, method_spec=None) -> None:
    from udabench.leaderboard.variants import budget_of

    if as_json:
        print(json.dumps({**record, "store": str(store.path)}, sort_keys=True))
        return
    metrics, timings, config = record["metrics"], record["timings"], record["config"]
    # Several phases: each one's own step count (e.g. "source 3000 + adapt 1500"); then batch size, precision.
    budget = (budget_of(config, method_spec) if len(config.get("phase_steps") or {}) > 1 else
              f"{config['steps']} steps, batch {config['batch_size']}"
              + (f", {config['precision']}" if config.get("precision", "fp32") != "fp32" else ""))
    print(f"run {record['run_id']}: {record['method']} on {record['task']}, seed {record['seed']}, {budget}, "
          f"backbone {config['backbone']}, {record['device']}")
    if record["status"] != "ok":
        print(f"  status: {record['status']}: {record['error']}")
        return
    if "miou" in metrics:
        subsets = [k for k in metrics if k.startswith("miou") and k != "miou"]
        print(f"  target test: mIoU {metrics['miou']:.4f}"
              + "".join(f", {k} {metrics[k]:.4f}" for k in subsets)
              + f", pixel accuracy {metrics.get('pixel_accuracy', float('nan')):.4f}")
        print(_source_line(metrics, "source_miou", "mIoU"))
        iou = (record.get("details") or {}).get("per_class_iou") or []
        if iou:
            print("  target IoU per class: " + ", ".join(
                f"{name} {'-' if value is None else f'{value:.3f}'}" for name, value in iou))
    else:
        print(f"  target test: accuracy {metrics['accuracy']:.4f}, mean class accuracy "
              f"{metrics.get('mean_class_accuracy', float('nan')):.4f}")
        print(_source_line(metrics, "source_accuracy", "accuracy"))
        for line in class_lines(record, full_matrix=False):
            print(line)
    print(f"  time: {timings['total_s']:.1f} s ({timings['steps_per_s']:.1f} steps/s, data {timings['load_s']:.1f} s)")
    print(f"  stored in {store.path}; artifacts in {record['artifacts']}")


def _source_line(metrics, name: str, label: str) -> str:
    if name not in metrics:
        return "  source test: not measured (a source-free run from a stored source model loads no source data)"
    return f"  source test: {label} {metrics[name]:.4f}"


# A run's summary prints the whole confusion matrix up to this many classes, its largest cells beyond.
SUMMARY_MATRIX_CLASSES = 12


def class_lines(record: dict, full_matrix: bool) -> list[str]:
    """A classification run's target accuracy per class, a warning when one class takes most of the
    predictions, and its confusion matrix (rows true classes, columns predicted ones)."""
    details = record.get("details") or {}
    accuracy, confusion = details.get("per_class_accuracy"), details.get("confusion")
    if not accuracy or not confusion:
        return []
    names = [name for name, _ in accuracy]
    lines = ["  target accuracy per class: " + ", ".join(
        f"{name} {'-' if value is None else f'{value:.3f}'}" for name, value in accuracy)]
    total = sum(map(sum, confusion))
    predicted = [sum(row[j] for row in confusion) for j in range(len(names))]
    top = max(range(len(names)), key=predicted.__getitem__)
    if total and predicted[top] * 2 >= total and predicted[top] >= 2 * sum(confusion[top]):
        lines.append(f"  predicted '{names[top]}' for {predicted[top]} of {total} target test images "
                     f"({predicted[top] / total:.0%}; {sum(confusion[top])} are '{names[top]}'): the model does not "
                     "tell the target's classes apart; look for what the target images show that the source's never "
                     "do (colour, contrast, size) before comparing methods")
    if full_matrix or len(names) <= SUMMARY_MATRIX_CLASSES:
        short = max(map(len, names)) <= 6  # long class names head their rows, numbered; columns by number
        header = names if short else [str(i) for i in range(len(names))]
        labels = names if short else [f"{i} {name}" for i, name in enumerate(names)]
        width = max(max(len(str(v)) for row in confusion for v in row), *map(len, header))
        label_width = max(map(len, labels))
        lines.append("  target confusion matrix (rows: true class, columns: predicted):")
        lines.append("    " + " " * label_width + " " + " ".join(h.rjust(width) for h in header))
        for label, row in zip(labels, confusion):
            lines.append(f"    {label.ljust(label_width)} " + " ".join(str(v).rjust(width) for v in row))
    else:
        cells = sorted(((row[j], i, j) for i, row in enumerate(confusion) for j in range(len(row)) if i != j and row[j]),
                       reverse=True)[:5]
        lines.append("  most frequent target confusions (true -> predicted): " + (", ".join(
            f"{names[i]} -> {names[j]} {n}" for n, i, j in cells) or "none")
            + f"; the full matrix: udabench results --show {record['run_id']}")
    return lines



def fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"
