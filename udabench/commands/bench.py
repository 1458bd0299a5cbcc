"""``udabench bench``: the command line of :mod:`udabench.bench`."""

from __future__ import annotations

import json

from udabench.commands import names
from udabench.errors import UdabenchError


def command_bench(args) -> int:
    from udabench.bench import BenchOptions, format_table, precision_ratios, run_bench
    from udabench.hparams import parse_assignments
    from udabench.plugins import load_registry
    from udabench.runner import RunRequest

    options = BenchOptions(steps=args.steps, warmup=args.warmup, repeats=args.repeats,
                           loader_workers=args.loader_workers)
    options.check()
    registry = load_registry()
    methods, tasks, precisions = names(args.method), names(args.task), names([args.precision])
    data = parse_assignments(args.data, "--data")
    overrides = parse_assignments(args.overrides, "--set")
    used = set()
    requests = []
    for task_name in tasks:
        task = registry.get("tasks", task_name)
        datasets = {task.source, task.target}
        used |= datasets
        for method in methods:
            for precision in precisions:
                # --steps of 'udabench run' stays at its default: it sets the phase length, not the timed steps.
                requests.append(RunRequest(
                    method=method, task=task_name, seed=args.seed, batch_size=args.batch_size, device=args.device,
                    overrides=overrides, backbone=args.backbone, data_root=args.data_root, threads=args.threads,
                    data={name: path for name, path in data.items() if name in datasets}, progress=False,
                    precision=precision, channels_last=args.channels_last, capture=args.capture))
    unused = sorted(set(data) - used)
    if unused:
        raise UdabenchError(f"--data names {', '.join(unused)}, which none of the tasks ({', '.join(tasks)}) uses")
    rows = run_bench(registry, requests, options)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
        for line in precision_ratios(rows):
            print(line)
    return 0
