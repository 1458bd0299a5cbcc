"""``udabench list``: what the installed plugins register, with the details of each."""

from __future__ import annotations

import dataclasses
import sys

from udabench.errors import UdabenchError

# Fields a task made with TaskSpec.based_on never takes from its base (and the bookkeeping ones).
_NOT_INHERITED = ("name", "description", "suite", "reported", "base", "base_fields")


def command_list(args) -> int:
    from tabulate import tabulate

    from udabench.plugins import load_registry

    registry = load_registry(warn=False)
    kind = args.kind
    clashes = registry.conflicts[kind]
    for line in registry.warnings:  # a clash of this kind is the error below, said once
        if not any(line.startswith(f"udabench: {kind[:-1]} '{name}' is registered") for name in clashes):
            print(line, file=sys.stderr)
    if clashes:
        raise UdabenchError(registry.conflict_message(kind, sorted(clashes)[0]))
    if (args.data or args.data_root) and kind != "datasets":
        raise UdabenchError("--data and --data-root apply to 'udabench list datasets'")
    if kind == "datasets":
        import os

        from udabench.data.inventory import hub_label, inventory
        from udabench.hparams import parse_assignments

        data = parse_assignments(args.data, "--data")
        unknown = sorted(set(data) - set(registry.names("datasets")))
        if unknown:
            raise UdabenchError(f"--data names {', '.join(unknown)}, which no plugin registers")
        data_root = args.data_root or os.environ.get("UDABENCH_DATA")
        found = {name: inventory(registry.specs[kind][name], data.get(name), data_root)
                 for name in registry.names(kind)}
    rows = []
    for name in registry.names(kind):
        spec = registry.specs[kind][name]
        provider = registry.providers[kind][name]
        if kind == "methods":
            rows.append([name, spec.setting, " -> ".join(p.name for p in spec.phases), provider, spec.description])
        elif kind == "tasks":
            height, width = spec.size
            problems = registry.task_problems(spec, clashes=False)  # a clash has had its own warning
            if problems:
                print(f"udabench: task '{name}' from '{provider}' cannot run: {'; '.join(problems)}; fix the name "
                      "in its TaskSpec, or install the plugin that registers it", file=sys.stderr)
            flag = {n: n if registry.resolves(k, n) else f"{n} (registered twice)" if n in registry.conflicts[k]
                    else f"{n} (not registered)"  # marked in the table
                    for k, n in (("datasets", spec.source), ("datasets", spec.target), ("backbones", spec.backbone))}
            rows.append([name, f"{flag[spec.source]} -> {flag[spec.target]}", f"{width}x{height}x{spec.channels}",
                         flag[spec.backbone], provider, spec.description])
        elif kind == "datasets":
            rows.append([name, hub_label(spec), found[name].origin, found[name].images_cell(spec),
                         f"{spec.image_size[1]}x{spec.image_size[0]}x{spec.channels}", spec.num_classes, provider])
        elif kind == "suites":
            rows.append([name, ", ".join(spec.tasks), ", ".join(t.name for t in spec.tables), provider])
        else:
            rows.append([name, provider, spec.description])
    headers = {
        "methods": ["method", "setting", "phases", "provided by", "description"],
        "tasks": ["task", "source -> target", "input", "backbone", "provided by", "description"],
        "datasets": ["dataset", "hub id@revision", "data from", "images", "image", "classes", "provided by"],
        "backbones": ["backbone", "provided by", "description"],
        "metrics": ["metric", "provided by", "description"],
        "suites": ["suite", "tasks", "tables", "provided by"],
    }[kind]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    if args.verbose:
        for name in registry.names(kind):
            _print_details(kind, registry.specs[kind][name], registry)
            if kind == "datasets" and found[name].problem:
                print(f"  a run stops: {found[name].problem}")
    return 0


def _print_details(kind: str, spec, registry) -> None:
    if kind == "methods":
        print(f"\n{spec.name} hyperparameters (--set NAME=VALUE):")
        for hp_name, default in spec.hparams.items():
            help_text = spec.hparam_help.get(hp_name, "")
            print(f"  {hp_name} = {default!r}  {help_text}".rstrip())
    elif kind == "tasks":
        height, width = spec.size
        print(f"\n{spec.name}: {spec.source} -> {spec.target} at {width}x{height}, {spec.channels} channel(s), "
              f"normalised with mean {', '.join(map(str, spec.mean))} and std {', '.join(map(str, spec.std))}; "
              f"backbone {spec.backbone}; splits {spec.train_split} (train) and {spec.test_split} (test)")
        if spec.base:
            base = registry.specs["tasks"].get(spec.base)
            own = [f.name for f in dataclasses.fields(spec) if base is not None and f.name not in _NOT_INHERITED
                   and getattr(spec, f.name) != getattr(base, f.name)]
            print(f"  based on {spec.base}; its own values: {', '.join(own) or 'none'}")
        print("  protocol hyperparameters (replace method defaults; --set wins): "
              + (", ".join(f"{k}={v!r}" for k, v in spec.hparams.items()) or "none"))
        if spec.kind == "segmentation":
            subsets = "".join(f"; {name} over {len(names)} of them" for name, names in spec.class_subsets.items())
            print(f"  segmentation at {width}x{height} (--resolution changes it), "
                  f"{len(spec.classes)} classes ({', '.join(spec.classes)}){subsets}; training batches: "
                  f"{', '.join(spec.augment) or 'as stored'} (image and label map together)")
        elif spec.augment or spec.stored_resolution != spec.resolution:
            print(f"  images kept at {spec.stored_resolution}x{spec.stored_resolution}; training "
                  f"batches: {', '.join(spec.augment) or 'centre crop'} to {width}x{height} "
                  f"(on the device); evaluation: centre {width}x{height} crop")
        if spec.reported:
            print("  reported in the papers (%):")
        for row in spec.reported:
            std = f" +- {row.std}" if row.std is not None else ""
            print(f"    {row.method}: {row.value}{std}  [{row.source}]")
    elif kind == "suites":
        print(f"\n{spec.name}: {spec.title}; metric {spec.metric}; {spec.description}")
        for table in spec.tables:
            print(f"  {table.name}: {table.title}  [{table.source}]")
    elif kind == "datasets":
        from udabench.data.inventory import revision_line

        print(f"\n{spec.name}: {spec.description}; homepage {spec.homepage or '-'}"
              + (f"; official archive reader {spec.local_loader}" if spec.local_loader else ""))
        print(f"  revision: {revision_line(spec)}")
        if spec.sizes:
            print(f"  nominal sizes (spec): {', '.join(f'{s} {n:,}' for s, n in spec.sizes.items())}")
        print(f"  image_size {spec.image_size[1]}x{spec.image_size[0]}, {spec.channels} channel(s): "
              + ("every image's size; a local copy of another size is refused" if spec.fixed_size
                 else "nominal (images may vary; runs resize them)"))
