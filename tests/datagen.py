"""Test helpers: tiny generated datasets in the Hugging Face parquet layout, and the CLI as a subprocess
or as a process forked from the test's own."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(buffer, format="PNG")
    return buffer.getvalue()


def digit_images(n: int, size: int, channels: int, seed: int, num_classes: int = 10):
    """Images whose class is readable from the position of a bright bar, so a tiny model can learn."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    images = rng.integers(0, 40, size=(n, size, size, channels), dtype=np.uint8)
    for image, label in zip(images, labels):
        row = int(label * size / num_classes)
        image[row:row + max(1, size // num_classes), :, :] = 230
    return images, labels


def write_parquet_split(folder: Path, split: str, images, labels, num_classes: int = 10) -> Path:
    import datasets

    features = datasets.Features({
        "image": datasets.Image(),
        "label": datasets.ClassLabel(num_classes=num_classes),
    })
    table = datasets.Dataset.from_dict(
        {"image": [{"bytes": png_bytes(a), "path": None} for a in images], "label": [int(x) for x in labels]},
        features=features,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}-00000-of-00001.parquet"
    table.to_parquet(str(path))
    return path


def make_hub_folder(folder: Path, size: int, channels: int, seed: int, n_train: int = 48, n_test: int = 30,
                    num_classes: int = 10) -> Path:
    for split, n, offset in (("train", n_train, 0), ("test", n_test, 1000)):
        images, labels = digit_images(n, size, channels, seed + offset, num_classes)
        write_parquet_split(folder, split, images, labels, num_classes)
    return folder


def digits_request(tiny_digits, method="dann", **kwargs):
    """A quick CPU run request for mnist-usps on the ``tiny_digits`` folders (3 steps, batch 8, one
    thread, one evaluation point, no pictures); ``kwargs`` override any field."""
    from udabench.runner import RunRequest

    defaults = dict(method=method, task="mnist-usps", steps=3, batch_size=8, device="cpu", threads=1,
                    data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])},
                    progress=False, log_every=1, eval_points=1, snapshots=0)
    defaults.update(kwargs)
    return RunRequest(**defaults)


def run_cli(*args, env_extra=None, timeout=300) -> subprocess.CompletedProcess:
    """``udabench ARGS`` as a user runs it, in a subprocess."""
    # PYTHONSAFEPATH keeps the checkout's own folder off sys.path, so plugin discovery sees the
    # installed distribution's entry points and not a stale egg-info left in the source tree.
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONSAFEPATH": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "udabench.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=REPO)


class ForkedCli:
    """``udabench ARGS`` in a child process forked from the test's own, for tests whose point is a
    process (killed with SIGKILL, or two of them racing for a lock) but not a new interpreter.

    The child has its own pid, exit status, stdout and stderr (file descriptors 1 and 2, as a
    subprocess's), and starts in milliseconds: torch is already imported, where a new interpreter
    spends 5-10 CPU-seconds importing it. What is read once at import time (``HF_*`` variables, the
    plugin registry) comes from the test process; tests about those use :func:`run_cli`.

    The child computes with one torch thread, and a command that trains gets ``--threads 1`` unless
    it names its threads: OpenMP's thread pool does not survive a fork, so a forked process that
    asks it for several threads waits forever for threads that only its parent had. Not for
    ``sweep``: its workers would fork from this process's worker server, outside the child.
    """

    def __init__(self, *args, env_extra=None):
        if args and args[0] == "sweep":
            raise ValueError("ForkedCli does not run sweeps; use run_cli or a subprocess")
        self._out, self._err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            self._child([str(arg) for arg in args], env_extra or {})
        self.returncode = None

    def _child(self, args, env_extra):  # never returns
        code = 1
        try:
            import torch

            torch.set_num_threads(1)
            if args and args[0] in ("run", "bench") and "--threads" not in args:
                args = [*args, "--threads", "1"]
            os.environ.update(env_extra)
            os.dup2(self._out.fileno(), 1)
            os.dup2(self._err.fileno(), 2)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            from udabench.cli import main

            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float = 300):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.send_signal(signal.SIGKILL)
                self.wait()
                raise TimeoutError(f"udabench did not finish within {timeout} s")
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signal_number: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal_number)

    def communicate(self, timeout: float = 300) -> tuple[str, str]:
        self.wait(timeout)
        texts = []
        for file in (self._out, self._err):
            file.seek(0)
            texts.append(file.read().decode(errors="replace"))
            file.close()
        return texts[0], texts[1]

    def completed(self, timeout: float = 300) -> subprocess.CompletedProcess:
        out, err = self.communicate(timeout)
        return subprocess.CompletedProcess(["udabench"], self.returncode, out, err)


def forked_cli(*args, env_extra=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``udabench ARGS`` in a forked child (:class:`ForkedCli`), finished: for tests of what a command
    prints and returns (one error line, exit 2) that need no new interpreter."""
    return ForkedCli(*args, env_extra=env_extra).completed(timeout)


def make_office_domain(root: Path, domain: str, size=(40, 32), per_class: int = 2, seed: int = 0,
                       classes=None, nested: bool = True) -> Path:
    """An Office-31 domain in the official layout, ``root/<domain>/images/<class>/frame_NNNN.jpg``.

    Every class folder of ``classes`` (default: the 31 Office-31 classes) gets ``per_class`` JPEG
    images of ``size`` (height, width) pixels whose class is readable from the row of a bright bar.
    ``nested=False`` leaves out the ``images`` level (a layout some mirrors use).
    """
    from PIL import Image

    from udabench_office31.archives import CLASSES

    classes = CLASSES if classes is None else classes
    folder = root / domain / "images" if nested else root / domain
    rng = np.random.default_rng(seed)
    height, width = size
    for label, name in enumerate(classes):
        class_folder = folder / name
        class_folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
            row = int(label * height / max(len(classes), 1))
            image[row:row + max(1, height // 16), :, :] = 230
            Image.fromarray(image).save(class_folder / f"frame_{index + 1:04d}.jpg", format="JPEG", quality=95)
    return root / domain


def make_office_root(root: Path, domains=("amazon", "webcam"), size=(40, 32), per_class: int = 2) -> Path:
    """The folder ``domain_adaptation_images.tar.gz`` unpacks to, with tiny generated ``domains``."""
    for index, domain in enumerate(domains):
        make_office_domain(root, domain, size=size, per_class=per_class, seed=index + 1)
    return root


def tiny_office_task(registry, name: str = "office31-tiny-a-w", resolution: int = 24, cache: int = 28,
                     backbone: str = "timm:test_resnet"):
    """``office31-a-w`` made small: the same datasets, splits, augmentation and protocol values, at
    ``resolution`` crops of ``cache`` images, with a tiny timm backbone trained from scratch."""
    from dataclasses import replace

    task = registry.get("tasks", "office31-a-w")
    return replace(task, name=name, resolution=resolution, cache_resolution=cache, backbone=backbone,
                   hparams={**task.hparams, "weights": "none"}, reported=())
