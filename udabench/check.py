"""``udabench check PLUGIN``: the project's checks, run against one installed plugin's registrations.

For a plugin author: are its specs sound, does every task it registers resolve its datasets, backbone
and base, does each of its datasets load (from a generator, a local folder given with ``--data`` or a
data root, or with ``--hub`` its hub copy) with labels in range of its classes, and does a sample of
each split convert to the size and channels of every task that uses the dataset. Only a sample of
each split is decoded where the layout allows it, so a check takes seconds. Methods are checked as
specs and importable classes; the conformance test trains them (see CONTRIBUTING.md).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from udabench.errors import UdabenchError
from udabench.plugins import Registry
from udabench.specs import DatasetSpec, TaskSpec, load_object

# Images decoded from each split for the conversion check.
SAMPLE_IMAGES = 64


@dataclass
class Item:
    """The outcome for one registered name: what was found, and what is wrong (each says what to do)."""

    kind: str
    name: str
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plugin_distribution(registry: Registry, plugin: str) -> str:
    """The distribution that ``plugin`` (a distribution or entry-point name) names."""
    if plugin in registry.entry_points:
        return plugin
    for distribution, labels in registry.entry_points.items():
        if plugin in labels:
            return distribution
    known = sorted(registry.entry_points)
    raise UdabenchError(f"no installed plugin is called '{plugin}' (installed distributions: {', '.join(known)}); "
                        "install yours into this environment first (pip install -e PATH)")


def static_task_problems(registry: Registry, task: TaskSpec) -> list[str]:
    """What is wrong with ``task`` that the registry alone shows: names it uses, its protocol values."""
    unregistered = registry.task_problems(task, clashes=False)
    problems = [f"{problem}: fix the name in its TaskSpec or install the plugin that registers it"
                for problem in unregistered]
    problems += [p for p in registry.task_problems(task) if p not in unregistered]  # clashes say what to do
    for name, values in (("mean", task.mean), ("std", task.std)):
        if len(values) not in (1, task.channels):
            problems.append(f"{name} has {len(values)} values for {task.channels} channel(s): give one per channel")
    if any(value <= 0 for value in task.std):
        problems.append("std must be positive")
    if task.channels <= 0:
        problems.append(f"channels is {task.channels}: give the number of channels the task's input has")
    datasets = {name: registry.specs["datasets"][name] for name in (task.source, task.target)
                if name in registry.specs["datasets"]}
    for name, spec in datasets.items():
        test = (task.source_test_split or task.test_split) if name == task.source else task.test_split
        missing = sorted({task.train_split, test} - set(spec.splits))
        if missing:
            problems.append(f"dataset '{name}' has no split {', '.join(missing)} (its splits: {', '.join(spec.splits)}); "
                            "set train_split/test_split of the task")
    if task.kind == "classification" and len(datasets) == 2 and task.source != task.target:
        source, target = datasets[task.source], datasets[task.target]
        if source.num_classes != target.num_classes:
            problems.append(f"source '{source.name}' has {source.num_classes} classes and target '{target.name}' "
                            f"{target.num_classes}: a classification task needs one label space (same classes, "
                            "in the same order)")
    return problems


def static_task_notes(registry: Registry, task: TaskSpec) -> list[str]:
    source = registry.specs["datasets"].get(task.source)
    target = registry.specs["datasets"].get(task.target)
    if task.kind == "classification" and source and target and source.num_classes == target.num_classes \
            and source.classes != target.classes:
        differ = [f"{a}/{b}" for a, b in zip(source.classes, target.classes) if a != b]
        return [f"class names differ between source and target ({', '.join(differ[:5])}"
                f"{', ...' if len(differ) > 5 else ''}); labels are matched by index and runs report the "
                "source's names"]
    return []


def static_dataset_problems(spec: DatasetSpec) -> list[str]:
    problems = []
    if not spec.classes:
        problems.append("classes is empty: name the classes in label order")
    elif len(set(spec.classes)) != len(spec.classes):
        problems.append("classes holds a name twice: each label needs its own name")
    if spec.channels <= 0:
        problems.append(f"channels is {spec.channels}: give the number of channels of the images")
    if len(spec.image_size) != 2 or any(not isinstance(v, int) or v <= 0 for v in spec.image_size):
        problems.append(f"image_size is {spec.image_size!r}: give (height, width) in pixels")
    if not spec.splits:
        problems.append("splits is empty: name the splits the data has (train, test)")
    if not spec.revision:
        problems.append("revision is empty: give the hub revision, or a version label of the files (e.g. 'v1')")
    unknown = sorted(set(spec.sizes) - set(spec.splits))
    if unknown:
        problems.append(f"sizes names split(s) {', '.join(unknown)} that splits does not list")
    for attribute in ("local_loader", "generator"):
        path = getattr(spec, attribute)
        if path:
            try:
                load_object(path)
            except Exception as exc:
                problems.append(f"{attribute} '{path}' cannot be imported: {type(exc).__name__}: {exc}")
    return problems


def check_dataset_data(spec: DatasetSpec, source, tasks: list[TaskSpec], item: Item, samples: int) -> None:
    """Load a sample of each split of ``spec`` from ``source`` and check it against the spec and the tasks."""
    import numpy as np

    from udabench.data import integrity
    from udabench.data.loading import check_label_maps, read_sample, to_protocol

    sizes = []
    for split in spec.splits:
        where = f"split '{split}'"
        try:
            images, labels = read_sample(spec, source, split, samples)
        except UdabenchError as exc:
            item.problems.append(str(exc))
            continue
        count = len(labels)
        sizes.append(f"{split} {count}")
        if len(images) == 0:
            item.problems.append(f"{where} holds no images")
            continue
        if labels.ndim == 1 and source.kind != "generated":
            try:  # what a run refuses: a copy whose classes, channels or fixed size do not fit the spec
                integrity.check_source(spec, source, split)
                integrity.check_images(spec, source.location, images, split)
            except UdabenchError as exc:
                item.problems.append(str(exc))
        if labels.ndim != 1:  # label maps of a segmentation dataset
            try:
                check_label_maps(labels[:samples], spec.num_classes, f"{where}")
            except UdabenchError as exc:
                item.problems.append(f"{exc}: the classes of the spec must name every label")
        else:
            bad = labels[(labels < 0) | (labels >= spec.num_classes)]
            if len(bad):
                item.problems.append(f"{where}: label {int(bad[0])} is outside the {spec.num_classes} classes "
                                     f"(0..{spec.num_classes - 1}): the classes of the spec must name every label")
            used = len(np.unique(labels))
            if used < spec.num_classes and not len(bad):
                item.notes.append(f"{where}: labels use {used} of the {spec.num_classes} classes")
        if spec.sizes.get(split) not in (None, count):
            item.notes.append(f"{where} has {count} images; the spec's sizes says {spec.sizes[split]}")
        shapes = {tuple(image.shape[:2]) for image in images}
        if tuple(spec.image_size) not in shapes:
            seen = ", ".join(f"{w}x{h}" for h, w in sorted(shapes)[:3])
            item.notes.append(f"{where}: images are {seen}{', ...' if len(shapes) > 3 else ''} px; the spec's "
                              f"image_size says {spec.image_size[1]}x{spec.image_size[0]} (shown by 'udabench list "
                              "datasets' only; runs resize to the task's size)")
        for task in tasks:
            if task.kind != "classification" or split not in (task.train_split, task.test_split,
                                                                task.source_test_split):
                continue
            try:
                to_protocol(images, task.stored_resolution, task.channels, f"{source.describe()} {where}")
            except UdabenchError as exc:
                item.problems.append(f"for task '{task.name}': {exc}")
    if sizes:
        where = "" if source.kind == "generated" else f" from {source.location}"
        item.summary += f"; loaded{where}: {', '.join(sizes)} images"


def check_plugin(registry: Registry, plugin: str, data: dict[str, str], data_root: str | None, hub: bool,
                 samples: int = SAMPLE_IMAGES) -> tuple[str, list[Item]]:
    from udabench.data.loading import HUB, resolve_source

    distribution = plugin_distribution(registry, plugin)
    items = [Item("plugin", distribution, problems=[line.removeprefix("udabench: ")
                                                    for line in registry.problems.get(distribution, [])])]
    skipped = [name for name in registry.skipped if name.split(":")[0] == distribution]
    if skipped:
        items[0].notes.append(f"skipped by UDABENCH_DISABLE_PLUGINS: {', '.join(skipped)}")
    mine = {kind: [name for name in registry.names(kind) if registry.providers[kind][name] == distribution]
            for kind in ("datasets", "tasks", "methods", "backbones", "metrics", "suites")}
    counts = ", ".join(f"{len(names)} {kind if len(names) != 1 else kind[:-1]}" for kind, names in mine.items() if names)
    items[0].summary = f"entry points {', '.join(registry.entry_points[distribution])}; registers {counts or 'nothing'}"
    tasks = [registry.specs["tasks"][name] for name in registry.names("tasks")]

    for name in mine["tasks"]:
        task = registry.specs["tasks"][name]
        height, width = task.size
        item = Item("task", name, f"{task.source} -> {task.target}, {width}x{height}x{task.channels}, backbone "
                                  f"{task.backbone}" + (f", based on {task.base}" if task.base else ""))
        item.problems += static_task_problems(registry, task)
        item.notes += static_task_notes(registry, task)
        items.append(item)

    root = data_root or os.environ.get("UDABENCH_DATA")
    unknown = sorted(set(data) - set(registry.specs["datasets"]))
    if unknown:
        raise UdabenchError(f"--data names {', '.join(unknown)}, which no plugin registers")
    for name in sorted(set(mine["datasets"]) | set(data)):
        spec = registry.specs["datasets"][name]
        origin = "" if name in mine["datasets"] else f" (from '{registry.providers['datasets'][name]}')"
        where = ("generated by " + spec.generator if spec.generator else f"hub {spec.hub_id}@{spec.revision}"
                 if spec.hub_id else "local files only")
        item = Item("dataset", name + origin, f"{spec.num_classes} classes, {len(spec.splits)} splits, {where}")
        item.problems += static_dataset_problems(spec)
        items.append(item)
        if item.problems:
            continue
        in_root = root and any((Path(root) / folder).is_dir() for folder in (name, *spec.root_folders))
        if name not in data and not in_root and not spec.generator and not (hub and spec.hub_id):
            how = f"--data {name}=PATH" + (" or --hub" if spec.hub_id else "")
            item.notes.append(f"data not loaded: no local copy given ({how} checks it too)")
            continue
        try:
            # --hub for a dataset the data root lacks: the hub copy, asked for by name
            folder = data.get(name) or (HUB if root and not in_root and not spec.generator else None)
            source = resolve_source(spec, folder, root)
        except UdabenchError as exc:
            item.problems.append(str(exc))
            continue
        check_dataset_data(spec, source, [t for t in tasks if name in (t.source, t.target)], item, samples)

    for name in mine["methods"]:
        spec = registry.specs["methods"][name]
        item = Item("method", name, f"{spec.setting}, phases {' -> '.join(p.name for p in spec.phases)}")
        try:
            from udabench.method import Method

            factory = load_object(spec.factory)
            if not (isinstance(factory, type) and issubclass(factory, Method)):
                item.problems.append(f"factory '{spec.factory}' is not a subclass of udabench.method.Method")
        except Exception as exc:
            item.problems.append(f"factory '{spec.factory}' cannot be imported: {type(exc).__name__}: {exc}")
        item.notes.append(f"to train it on tiny generated tasks: pytest tests/test_conformance.py -k {name} "
                          "(from a udabench checkout)")
        items.append(item)
    for name in mine["backbones"]:
        spec = registry.specs["backbones"][name]
        item = Item("backbone", name, spec.factory)
        try:
            load_object(spec.factory)
        except Exception as exc:
            item.problems.append(f"factory '{spec.factory}' cannot be imported: {type(exc).__name__}: {exc}")
        items.append(item)
    return distribution, items


def command_check(args) -> int:
    from udabench.hparams import parse_assignments
    from udabench.plugins import load_registry

    if args.samples <= 0:
        raise UdabenchError(f"--samples must be positive (got {args.samples})")
    registry = load_registry(warn=False)
    distribution = plugin_distribution(registry, args.plugin)
    for line in registry.warnings:  # this plugin's own warnings are part of the report below
        if line not in registry.problems.get(distribution, []):
            print(line, file=sys.stderr)
    data = {name: str(Path(path).expanduser()) for name, path in parse_assignments(args.data, "--data").items()}
    _, items = check_plugin(registry, args.plugin, data, args.data_root, args.hub, args.samples)
    problems = 0
    for item in items:
        state = "ok" if not item.problems else f"{len(item.problems)} problem(s)"
        print(f"{item.kind} {item.name}: {state}" + (f" ({item.summary})" if item.summary else ""))
        for problem in item.problems:
            print(f"  problem: {problem}")
        for note in item.notes:
            print(f"  note: {note}")
        problems += len(item.problems)
    print(f"{distribution}: {problems} problem(s)" if problems else f"{distribution}: no problems found")
    return 1 if problems else 0
