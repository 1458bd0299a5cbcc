"""Where a sweep's runs execute: ``local`` worker processes, or a Ray cluster.

Both share one scheduler: a run starts as soon as a worker is free and the shared source run it
depends on (if any) has finished. Workers train and write their row to the store themselves
(:func:`udabench.jobs.run_job`), so the sweep process only hands out work and reports.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from udabench.errors import UdabenchError
from udabench.machine import thread_share


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the sweep process dies, so no orphan keeps training."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


# What a CPU sweep's workers import before their first run, once, in the server they fork from.
CPU_WORKER_PRELOAD = ("torch", "torch._dynamo", "udabench.jobs")


def _worker_context(device: str):
    """How a local pool starts its workers. A CPU sweep's workers fork from one server process that
    has imported torch once (multiprocessing's "forkserver" with a preload), instead of each paying
    the 5-10 CPU-seconds of ``import torch`` again; every torch optimizer step imports
    ``torch._dynamo``, so it is preloaded too. The server only imports and runs no torch operation
    before it forks (PyTorch's DataLoader forks its workers from a process that has done far more);
    each worker sets its own thread count from its run. Any other device spawns fresh interpreters,
    so that nothing touches CUDA before a worker is pinned to its GPU."""
    import multiprocessing

    if device == "cpu" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(CPU_WORKER_PRELOAD))  # no effect once the server runs
        return context
    return multiprocessing.get_context("spawn")


def _die_with(pid: int) -> None:
    """The worker kills itself when process ``pid`` (the sweep) ends. A forked CPU worker's parent is
    the fork server, which outlives the sweep while any of its children live, so the parent-death
    signal alone would leave it training; a daemon thread waits on the sweep instead (a pidfd on
    Linux, else a check every second)."""
    import signal
    import threading

    def wait_for_exit():
        import select
        import time

        try:
            handle = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfd here: look every second
            handle = None
        if handle is not None:
            select.select([handle], [], [])
        else:
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    pass
                time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    if pid != os.getpid():
        threading.Thread(target=wait_for_exit, name="udabench-sweep-watch", daemon=True).start()


def _local_worker_init(threads: int, gpu: str | None = None, sweep_pid: int | None = None) -> None:
    """Runs first in each worker, before any run: ``gpu`` pins the worker to that one GPU
    (``CUDA_VISIBLE_DEVICES``), which its runs then see as ``cuda:0``. A spawned worker has not
    imported torch yet; a forked CPU worker has, and takes its thread count from the run. The worker
    dies with process ``sweep_pid``."""
    _die_with_parent()
    if sweep_pid is not None:
        _die_with(sweep_pid)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries a worker can be pinned to:
    that variable's entries where it is set (indices, ``GPU-`` UUIDs or MIG names; CUDA ignores an
    entry starting with ``-`` and all after it), else ``0 .. torch.cuda.device_count() - 1``."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        gpus = []
        for entry in (part.strip() for part in listed.split(",")):
            if not entry or entry.startswith("-"):
                break
            gpus.append(entry)
        return gpus
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def schedule(jobs, submit: Callable, wait_any: Callable, on_outcome: Callable, capacity: int,
             on_start: Callable | None = None) -> list:
    """Run ``jobs`` through ``submit(job) -> handle`` / ``wait_any(handles) -> [(handle, outcome)]``.

    At most ``capacity`` runs are in flight; a job waits until the job it depends on (by key) has
    finished, whatever its outcome (a worker records a job whose source failed as blocked).
    ``on_start(job)`` is called when a job is handed to a worker, ``on_outcome(job, outcome)`` when
    it ends.
    """
    keys = {job.key for job in jobs}
    waiting = list(jobs)
    finished: set[str] = set()
    running: dict = {}
    outcomes = []
    while waiting or running:
        ready = [job for job in waiting if job.depends_on is None or job.depends_on not in keys
                 or job.depends_on in finished]
        for job in ready[:max(0, capacity - len(running))]:
            waiting.remove(job)
            running[submit(job)] = job
            if on_start is not None:
                on_start(job)
        if not running:  # cannot happen with acyclic dependencies; guard against a silent hang
            raise UdabenchError("sweep: jobs wait for runs that are not part of it")
        for handle, outcome in wait_any(list(running)):
            job = running.pop(handle)
            finished.add(job.key)
            outcomes.append(outcome)
            on_outcome(job, outcome)
    return outcomes


class LocalExecutor:
    """``workers`` runs at once in worker processes on this machine (one GPU can hold several).

    With ``gpus`` (``CUDA_VISIBLE_DEVICES`` entries) and ``workers_per_gpu`` N instead, up to
    ``len(gpus) * N`` runs at once: N worker processes per GPU, each pinned to its GPU, and each run
    handed to the GPU with the fewest runs in flight (the first such in ``gpus`` order), so runs
    spread round-robin. Threads per worker: ``threads``, else an equal share of the cores.
    ``device`` is the sweep's: ``cpu`` workers fork from a preloaded server (:func:`_worker_context`).
    """

    name = "local"

    def __init__(self, workers: int = 1, threads: int | None = None, gpus: list[str] | None = None,
                 workers_per_gpu: int | None = None, device: str = "auto"):
        if workers <= 0:
            raise UdabenchError(f"--workers must be positive (got {workers})")
        if workers_per_gpu is not None:
            if workers_per_gpu <= 0:
                raise UdabenchError(f"--workers-per-gpu must be positive (got {workers_per_gpu})")
            if not gpus:
                raise UdabenchError("--workers-per-gpu: no GPU is visible here (torch.cuda.device_count() is 0 "
                                    "or CUDA_VISIBLE_DEVICES is empty); use --workers")
            workers = len(gpus) * workers_per_gpu
        self.gpus = list(gpus) if workers_per_gpu is not None else None
        self.workers_per_gpu = workers_per_gpu
        self.workers = workers
        self.threads = threads or thread_share(workers)
        self.device = "cuda" if workers_per_gpu is not None else device

    def _pool(self, max_workers: int, gpu: str | None):
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=max_workers, mp_context=_worker_context(self.device),
                                   initializer=_local_worker_init, initargs=(self.threads, gpu, os.getpid()))

    def run(self, jobs, store_path: str, on_outcome, rerun: bool = False, on_start=None) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        from udabench.jobs import run_job

        if self.gpus is None:
            pools = {None: self._pool(self.workers, None)}
        else:  # one pool per GPU, so that a worker process never moves to another GPU
            pools = {gpu: self._pool(self.workers_per_gpu, gpu) for gpu in self.gpus}
        in_flight = {gpu: 0 for gpu in pools}
        gpu_of = {}

        def submit(job):
            gpu = min(in_flight, key=in_flight.get)  # the least loaded; ties: the first in order
            in_flight[gpu] += 1
            future = pools[gpu].submit(run_job, _with_threads(job.request, self.threads), store_path,
                                       rerun or getattr(job, "rerun", False))
            gpu_of[future] = gpu
            return future

        def wait_any(futures):
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                in_flight[gpu_of.pop(future)] -= 1
            return [(future, future.result()) for future in done]

        try:
            return schedule(jobs, submit, wait_any, on_outcome, self.workers, on_start)
        finally:
            for pool in pools.values():
                pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Runs on a Ray cluster (``--address``; none starts a local instance). Each run asks Ray for
    ``cpus`` CPUs and ``gpus`` GPUs, so Ray decides how many fit on each node."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus: float = 1.0, gpus: float = 0.0,
                 threads: int | None = None, max_in_flight: int | None = None):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UdabenchError("--executor ray needs Ray: pip install 'udabench[ray]'") from None
        self.address, self.cpus, self.gpus = address, cpus, gpus
        self.threads = threads or max(1, int(cpus))
        self.max_in_flight = max_in_flight

    def run(self, jobs, store_path: str, on_outcome, rerun: bool = False, on_start=None) -> list:
        import ray

        from udabench.jobs import run_job

        started_here = not ray.is_initialized()
        if started_here:
            # Ray lowers its workers' priority (niceness 15) by default; here the workers do the sweep's
            # real work, so a local instance started for it keeps them at normal priority.
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR")
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(_ray_job)
        capacity = self.max_in_flight or max(1, int(ray.cluster_resources().get("CPU", 1) // max(self.cpus, 1e-9)))

        def submit(job):
            return remote.remote(_with_threads(job.request, self.threads), store_path,
                                 rerun or getattr(job, "rerun", False))

        def wait_any(refs):
            done, _ = ray.wait(refs, num_returns=1)
            return [(ref, ray.get(ref)) for ref in done]

        try:
            return schedule(jobs, submit, wait_any, on_outcome, capacity, on_start)
        finally:
            if started_here:
                ray.shutdown()


def _ray_job(request, store_path: str, rerun: bool):
    from udabench.jobs import run_job

    return run_job(request, store_path, rerun)


def _with_threads(request, threads: int):
    from dataclasses import replace

    return replace(request, threads=request.threads or threads, progress=False)


def make_executor(name: str, workers: int, threads: int | None, address: str | None, gpus: float,
                  workers_per_gpu: int | None = None, device: str = "auto"):
    if name == "local":
        if workers_per_gpu is not None:
            return LocalExecutor(threads=threads, gpus=visible_gpus(), workers_per_gpu=workers_per_gpu)
        return LocalExecutor(workers, threads, device=device)
    if name == "ray":
        return RayExecutor(address, cpus=float(threads or 1), gpus=gpus, threads=threads,
                           max_in_flight=workers if workers > 1 else None)
    raise UdabenchError(f"unknown executor '{name}' (known: local, ray)")
