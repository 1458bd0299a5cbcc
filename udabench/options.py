"""The run options: each declared once, and from here the flags, the sweep-file keys, the defaults and the checks.

``udabench run``, ``sweep`` and ``bench`` make their flags of these (:func:`add_flags`), a sweep
file accepts the keys marked ``in_file``, :class:`~udabench.runner.RunRequest` and
:class:`~udabench.sweep.SweepConfig` take their defaults from here, and :func:`check` is the one
check of every value, whether it came from a flag, a sweep file or Python. No torch here: building
the parser imports this module.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Mapping

from udabench.errors import UdabenchError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")  # the first is the default, which leaves the run key as it was before bf16
CHANNELS_LAST = ("auto", "on", "off")
CAPTURE = ("auto", "on", "off")

RUN, SWEEP, BENCH = "run", "sweep", "bench"

PRECISION_HELP = ("fp32 (default) or bf16: bf16 autocast around each training update and the evaluation forward "
                  "passes, on CUDA or the CPU; a bf16 run is a different run from an fp32 one (its own key)")
CAPTURE_HELP = ("compile the whole training step of a method whose step is static (DANN) with torch.compile, "
                "replayed as a CUDA graph on CUDA: on, off, or auto (default: on for CUDA, off on the CPU, where "
                "compiling costs more than it saves); falls back to eager if compiling fails; not part of the run key")
CHANNELS_LAST_HELP = ("memory format of the network and its input batches: on, off, or auto (default: on for a "
                      "timm ResNet backbone on CUDA, off otherwise); a layout only, not part of the run key")


@dataclass(frozen=True)
class Option:
    """One run option. ``help`` is the flag's help under ``udabench run`` (or its first command);
    ``flags`` maps each command that has the flag to what differs there (another help, metavar)."""

    name: str  # the attribute of RunRequest / SweepConfig, and the sweep-file key
    type: type
    default: Any
    help: str
    flags: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    in_file: bool = True  # a key of a sweep file
    in_key: bool = False  # part of the run key: another value is another run
    choices: tuple[str, ...] = ()
    argparse_choices: bool = False  # the parser itself refuses other values (listed in the usage line)
    least: float | None = None  # the smallest value allowed
    most: float | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value) -> None:
        """Raise the one-line error a user sees for a bad ``value``; ``None`` means "not given"."""
        if value is None:
            return
        if self.choices and value not in self.choices:
            raise UdabenchError(f"{self.flag} must be one of {', '.join(self.choices)} (got '{value}')")
        if self.most is not None and not self.least <= value <= self.most:
            raise UdabenchError(f"{self.flag} must be between {self.least} and {self.most} (got {value})")
        if self.least == 1 and value < 1:
            raise UdabenchError(f"{self.flag} must be positive (got {value})")
        if self.least == 0 and value < 0:
            raise UdabenchError(f"{self.flag} must not be negative (got {value})")


OPTIONS: dict[str, Option] = {option.name: option for option in (
    Option("seed", int, 0, "random seed for Python, NumPy and torch (default {default})", in_file=False, in_key=True,
           least=0, most=2 ** 32 - 1,
           flags={RUN: {}, BENCH: {"help": "seed of the initial weights and batches (default {default})"}}),
    Option("steps", int, 3000, "training steps of each phase that has no step count of its own (default {default})",
           in_key=True, least=1,
           flags={RUN: {}, SWEEP: {"help": "steps of each phase without its own count (default {default})"}}),
    Option("batch_size", int, 128, "images per domain per step (default {default})", in_key=True, least=1,
           flags={RUN: {}, SWEEP: {}, BENCH: {}}),
    Option("device", str, "auto", "cpu, cuda, or auto (cuda when available; default)", choices=DEVICES,
           flags={RUN: {}, SWEEP: {"help": "cpu, cuda, or auto (default)"}, BENCH: {}}),
    Option("threads", int, None,
           "CPU threads for torch (default: torch's choice, capped at the cores this process may use, counting a "
           "CPU affinity or cgroup quota; give each of several runs sharing the cores its share, e.g. 1 each for "
           "two runs on two cores)", least=1,
           flags={RUN: {}, SWEEP: {"help": "torch CPU threads per run (default: the cores this process may use "
                                           "divided by the runs at once)"},
                  BENCH: {"help": "CPU threads for torch (default: as for 'udabench run', torch's choice capped at "
                                  "the cores this process may use)"}}),
    Option("backbone", str, None, "override the task's backbone, e.g. lenet or timm:resnet18", in_key=True,
           flags={RUN: {}, SWEEP: {"help": "override the tasks' backbone"},
                  BENCH: {"help": "override the tasks' backbone"}}),
    Option("data_root", str, None,
           "folder with one sub-folder per dataset, named as the dataset (default: $UDABENCH_DATA); a dataset "
           "without its sub-folder there stops the run (no quiet switch to the hub copy: --data DATASET=hub asks "
           "for it)", flags={RUN: {}, SWEEP: {"help": "as for 'udabench run'"},
                             BENCH: {"help": "as for 'udabench run'"}}),
    Option("resolution", str, None,
           "segmentation tasks: keep and train on images of this size instead of the task's (e.g. 512x256 for a "
           "GTA5 -> Cityscapes run that fits a smaller GPU or a CPU)", in_key=True, metavar="WIDTHxHEIGHT",
           flags={RUN: {}, SWEEP: {"help": "the size the sweep's segmentation tasks keep and train on (as for "
                                           "'udabench run'; classification tasks keep theirs)"}}),
    Option("snapshots", int, 4, "how many times per phase a method's image grids are saved (default {default}; "
                                "0: never)", flags={RUN: {}}),
    Option("eval_points", int, 5, "evaluations spread over the last phase, the last at its end, among which the "
                                  "model selection rules of the leaderboards choose (default {default})", least=1,
           flags={RUN: {}, SWEEP: {"help": "evaluations over each run's last phase (default {default})"}}),
    Option("checkpoint_minutes", float, 5.0,
           "minutes between resume checkpoints (default 5; 0: after every step); a run that is killed or "
           "interrupted continues from its last checkpoint when the same command is run again, and on the CPU "
           "ends with the same numbers", in_file=False, least=0, flags={RUN: {}}),
    Option("precision", str, PRECISIONS[0], PRECISION_HELP, in_key=True, choices=PRECISIONS, argparse_choices=True,
           flags={RUN: {}, SWEEP: {},
                  BENCH: {"help": "fp32 (default) or bf16 (autocast around each update and evaluation, as "
                                  "'udabench run --precision bf16'); fp32,bf16 times both, one row each, and "
                                  "prints bf16's steps/s over fp32's",
                          "metavar": "{fp32,bf16}[,...]", "choices": None}}),
    Option("channels_last", str, "auto", CHANNELS_LAST_HELP, choices=CHANNELS_LAST, argparse_choices=True,
           flags={RUN: {}, SWEEP: {}, BENCH: {}}),
    Option("capture", str, "auto", CAPTURE_HELP, choices=CAPTURE, argparse_choices=True,
           flags={RUN: {}, SWEEP: {},
                  BENCH: {"help": "also time udabench's path with the step compiled whole, as 'udabench run "
                                  "--capture' compiles it, for methods whose step is static (DANN): on, off, or "
                                  "auto (default: on for CUDA); the compilation happens in the warm-up steps"}}),
    Option("share_source", bool, False,
           "methods that pretrain on source take that model from one shared source-only run per task and seed, "
           "run first", flags={SWEEP: {}}),
    Option("workers_per_gpu", int, None,
           "local, GPU runs: N runs at once on each visible GPU (CUDA_VISIBLE_DEVICES, else all that torch sees), "
           "each worker pinned to one GPU and runs spread round-robin; instead of --workers; an error with "
           "--device cpu", least=1, metavar="N", flags={SWEEP: {}}),
)}

# The keys of a sweep file that set one option each, with the type each must have there.
FILE_OPTIONS = {name: option.type for name, option in OPTIONS.items() if option.in_file}


def default(name: str):
    """The table's default of option ``name`` (for dataclass fields)."""
    return OPTIONS[name].default


def add_flags(parser: argparse.ArgumentParser, command: str, *names: str) -> None:
    """Add the flags of options ``names`` to ``command``'s parser, in that order. ``udabench sweep``'s
    flags default to ``None``: a flag given overrides the sweep file, and the file or the table says the rest."""
    for name in names:
        option = OPTIONS[name]
        settings = {"help": option.help, "metavar": option.metavar,
                    "choices": option.choices if option.argparse_choices else None, **option.flags[command]}
        settings["help"] = settings["help"].format(default=option.default)
        if option.type is bool:
            parser.add_argument(option.flag, action="store_true", help=settings["help"])
            continue
        parser.add_argument(option.flag, type=None if option.type is str else option.type,
                            default=None if command == SWEEP else option.default, **settings)


def check(values, names=None) -> None:
    """Check the option values that ``values`` (a RunRequest, a SweepConfig, parsed flags) holds:
    every option of the table, or those of ``names``."""
    for name in names or OPTIONS:
        OPTIONS[name].check(getattr(values, name, None))


def parse_resolution(text: str, where: str = "--resolution") -> tuple[int, int]:
    """``WIDTHxHEIGHT`` as (height, width); a bad one is an error that starts with ``where``."""
    from udabench.specs import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise UdabenchError(f"{where}: {exc}") from None
