"""``udabench sweep``: the flags merged into a sweep file's configuration, the plan, and the runs."""

from __future__ import annotations

import json
import sys
import time

from udabench import options
from udabench.commands import EXIT_RUN_FAILED, check_device, names
from udabench.errors import UdabenchError


def _seeds(text: str) -> list[int]:
    seeds = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise UdabenchError(f"--seeds expects integers like 0,1,2 or 0-4, got '{text}'") from None
    return seeds


def command_sweep(args) -> int:
    from udabench.plugins import load_registry
    from udabench.store import Store
    from udabench.sweep import expand

    config = sweep_config(args)
    workers = check_placement(args, config)
    if not args.dry_run:  # a plan needs no CUDA: a GPU sweep can be planned on any machine
        check_device(config.device)
    registry = load_registry()
    jobs = expand(config, registry)
    store = Store(args.store)  # opened (and created) only once the sweep's input is known to be good
    key_generator_runs(jobs, registry, store)
    state, estimates = report_plan(config, jobs, store, args.retry_failed)
    if args.dry_run:
        print_plan(jobs, state, estimates, args.json)
        return 0
    if not state.pending:
        return 0
    outcomes = run_pending(args, config, workers, state, estimates, store)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ok", "stored", "failed", "blocked")}
    print("sweep finished: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
          + f"; {len(state.done) + counts['ok'] + counts['stored']} of {len(jobs)} runs stored as ok", file=sys.stderr)
    return EXIT_RUN_FAILED if counts["failed"] or counts["blocked"] else 0


def sweep_config(args):
    """The sweep file's configuration (or the table's defaults) with the flags given laid over it, checked."""
    from udabench.hparams import parse_assignments
    from udabench.sweep import SweepConfig, read_sweep_file

    config = read_sweep_file(args.file) if args.file else SweepConfig()
    if args.method:
        config.methods = names(args.method)
    if args.task:
        config.tasks = names(args.task)
    if args.seeds:
        config.seeds = _seeds(args.seeds)
    for name, option in options.OPTIONS.items():
        value = getattr(args, name) if options.SWEEP in option.flags else None
        if value is None or value is False or value == "":  # not given: the file's value or the default stays
            continue
        setattr(config, name, options.parse_resolution(value) if name == "resolution" else value)
    config.data.update(parse_assignments(args.data, "--data"))
    config.set.update(parse_assignments(args.overrides, "--set"))
    for name, values in parse_assignments(args.grid, "--grid").items():
        config.grid[name] = [v.strip() for v in values.split(",") if v.strip()]
    return config


def check_placement(args, config) -> int:
    """Check the executor, the options and where the runs go; return the number of workers."""
    from udabench.sweep import EXECUTORS

    if args.executor not in EXECUTORS:
        raise UdabenchError(f"unknown executor '{args.executor}' (known: {', '.join(EXECUTORS)})")
    options.check(config)
    workers = 1 if args.workers is None else args.workers
    if workers <= 0:
        raise UdabenchError(f"--workers must be positive (got {workers})")
    if config.workers_per_gpu is not None:
        if args.executor != "local":
            raise UdabenchError("--workers-per-gpu is for the local executor; with Ray, --gpus-per-run 0.25 "
                                "puts four runs on a GPU")
        if config.device == "cpu":
            raise UdabenchError("--workers-per-gpu places runs on GPUs, but the sweep's device is cpu; use "
                                "--workers for CPU runs")
        if args.workers is not None:
            raise UdabenchError("give --workers or --workers-per-gpu, not both (with --workers-per-gpu N a "
                                "sweep runs N runs per visible GPU at once)")
    return workers


def key_generator_runs(jobs, registry, store) -> None:
    """Key each run with ``--set generator_from=RUN`` by the full key of RUN, looked up in the store."""
    for job in jobs:
        if job.request.overrides.get("generator_from", "none") != "none":
            from udabench.jobs import resolve_stored_runs
            from udabench.runner import prepare

            resolve_stored_runs(job.request, store)
            job.key = prepare(registry, job.request).key


def report_plan(config, jobs, store, retry_failed: bool):
    """Look the runs up in the store and say on stderr what is stored, failed and left, and how long
    that takes; return the plan and the estimated seconds of the runs left."""
    from udabench.sweep import describe_duration, estimate_seconds, plan

    state = plan(jobs, store, retry_failed)
    if config.skipped:
        pairs = ", ".join(f"{method} on {task}" for method, task in sorted(config.skipped))
        print(f"sweep: left out {len(config.skipped)} method/task pair(s) of a task kind the method does not "
              f"train on: {pairs}", file=sys.stderr)
    print(f"sweep{' ' + config.name if config.name else ''}: {len(jobs)} runs: {len(state.done)} already stored, "
          f"{len(state.failed)} stored as failed (not retried; --retry-failed), {len(state.pending)} to run",
          file=sys.stderr)
    estimates = estimate_seconds(state.pending, store) if state.pending else {}
    if estimates:
        unknown = len(state.pending) - len(estimates)
        print(f"sweep: the runs to run take {describe_duration(sum(estimates.values()))} of one worker's time, "
              f"estimated from the stored runs of their methods"
              + (f" ({unknown} of them have none and are not counted)" if unknown else ""), file=sys.stderr)
    return state, estimates


def print_plan(jobs, state, estimates, as_json: bool) -> None:
    """``--dry-run``: each run and its state, one line (or one JSON object) each."""
    done, failed = {j.key for j in state.done}, {j.key for j in state.failed}
    for job in jobs:
        status = "stored" if job.key in done else "failed" if job.key in failed else "pending"
        if as_json:
            print(json.dumps({"run_id": job.run_id, "key": job.key, "status": status, "label": job.label(),
                              "method": job.request.method, "task": job.request.task, "seed": job.request.seed,
                              "depends_on": job.depends_on, "estimated_s": estimates.get(job.key)},
                             sort_keys=True))
            continue
        after = f" (after {job.depends_on[:12]})" if job.depends_on else ""
        if job.rerun:
            after += " (stored without its weights, which runs of this sweep need: trained again first)"
        print(f"{job.run_id}  {status:7}  {job.label()}{after}")


def run_pending(args, config, workers: int, state, estimates, store) -> list:
    """Train the runs left on the executor, with a progress bar that names the runs in flight; return
    their outcomes."""
    from udabench.executors import make_executor
    from udabench.jobs import as_dict, describe
    from udabench.sweep import describe_duration, remaining_seconds

    executor = make_executor(args.executor, workers, config.threads, args.address, args.gpus_per_run,
                             config.workers_per_gpu, config.device)
    if config.workers_per_gpu is not None:
        print(f"sweep: {executor.workers} runs at once, {config.workers_per_gpu} on each of GPU(s) "
              f"{', '.join(executor.gpus)}, {executor.threads} CPU thread(s) each", file=sys.stderr)
    from tqdm.auto import tqdm

    # With estimates the bar says what is left from them: tqdm's own, the mean time of the runs done so
    # far, misleads when cheap and expensive methods share a sweep.
    parallel = (config.workers_per_gpu * len(executor.gpus) if config.workers_per_gpu is not None
                else getattr(executor, "workers", None))
    bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if estimates and parallel else None
    bar = tqdm(total=len(state.pending), desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True,
               bar_format=bar_format)
    running: dict[str, str] = {}  # key -> what the bar says of a run in flight
    started: dict[str, float] = {}  # key -> when the run in flight started
    waiting = [job.key for job in state.pending]

    def show_running():
        parts = []
        if bar_format and (waiting or started):
            left, unknown = remaining_seconds(estimates, waiting, started, parallel, time.time())
            parts.append(f"{describe_duration(left)} left" + (f" + {unknown} run(s) not estimated" if unknown else ""))
        if running:
            parts.append(f"running: {'; '.join(running.values())}")
        bar.set_postfix_str("; ".join(parts), refresh=True)

    def on_start(job):
        running[job.key] = f"{job.label()} (from {time.strftime('%H:%M')})"
        started[job.key] = time.time()
        if job.key in waiting:
            waiting.remove(job.key)
        show_running()

    def on_outcome(job, outcome):
        running.pop(job.key, None)
        started.pop(job.key, None)
        if job.key in waiting:  # finished without starting (e.g. blocked by a failed source run)
            waiting.remove(job.key)
        bar.update(1)
        bar.write(describe(outcome), file=sys.stderr)
        show_running()
        if args.json:
            print(json.dumps(as_dict(outcome), sort_keys=True), flush=True)

    show_running()
    outcomes = executor.run(state.pending, str(store.path), on_outcome, rerun=args.retry_failed, on_start=on_start)
    bar.close()
    return outcomes
