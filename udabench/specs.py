"""Small frozen descriptions of what plugins register; importing this module never imports torch."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping

SETTINGS = ("uda", "source-free")


def load_object(path: str):
    """Import ``"package.module:attribute"`` lazily, so specs can name torch code without importing it."""
    module_name, _, attribute = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else []:
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives and what it holds.

    ``hub_id``/``revision`` name a Hugging Face Hub copy (``revision`` pinned where one is known);
    ``local_loader`` optionally names ``"module:function(path, split) -> (images, labels)"`` for an
    official archive layout that is not the hub's parquet layout; ``generator`` names
    ``"module:function(split) -> (images, labels)"`` for data made by code (then ``revision`` versions
    the generator). Images are uint8 HWC arrays.
    """

    name: str
    description: str
    hub_id: str | None
    revision: str
    splits: tuple[str, ...]
    classes: tuple[str, ...]
    image_size: tuple[int, int]
    channels: int
    sizes: Mapping[str, int] = field(default_factory=dict)
    hub_config: str | None = None
    image_column: str = "image"
    label_column: str = "label"
    local_loader: str | None = None
    generator: str | None = None
    homepage: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class ReportedResult:
    """A number from a paper's table: never produced by udabench, always cited."""

    method: str  # the row label as the paper prints it
    value: float  # percent, as printed
    source: str  # paper and table
    std: float | None = None
    backbone: str | None = None
    udabench_method: str | None = None  # the registered method that reproduces the row, if any


@dataclass(frozen=True)
class TaskSpec:
    """A (source, target, protocol) triple and the numbers the seed's tables report for it.

    ``train_split``/``test_split`` name the splits used for training (both domains; target labels
    are never given to a method) and for evaluation. Images are resized to ``resolution`` and
    converted to ``channels``; ``mean``/``std`` normalise pixel values scaled to [0, 1].
    ``hparams`` are protocol settings that replace a method's defaults where the method has a
    hyperparameter of that name (``--set`` still wins), e.g. a learning rate a task is known to need.
    """

    name: str
    source: str
    target: str
    resolution: int
    channels: int
    backbone: str
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    train_split: str = "train"
    test_split: str = "test"
    suite: str = ""
    description: str = ""
    reported: tuple[ReportedResult, ...] = ()
    hparams: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneSpec:
    """A feature extractor. ``factory`` names ``"module:function(in_channels, resolution, **kw)"``.

    A spec whose ``name`` ends in ``:`` is a family: ``timm:resnet50`` resolves to the ``timm:``
    spec and passes ``resnet50`` as the ``model`` keyword.
    """

    name: str
    factory: str
    description: str = ""


@dataclass(frozen=True)
class Phase:
    """One stage of a method's training and the data the runner may hand it.

    ``inputs`` is a subset of ``{"source", "target"}``: ``source`` means labelled source images,
    ``target`` unlabelled target images. ``steps_param`` names the hyperparameter that holds the
    phase's step count; ``None`` means the run's ``--steps``.
    """

    name: str
    inputs: frozenset[str]
    steps_param: str | None = None


# The usual first phase of a multi-phase method: a task model on labelled source, for
# ``source_steps`` steps. ``--source-run`` can replace it with a stored run's model.
SOURCE_PHASE = Phase("source", frozenset({"source"}), steps_param="source_steps")


@dataclass(frozen=True)
class MethodSpec:
    """A method: its setting, its phases, its hyperparameters with defaults, and where its code is."""

    name: str
    factory: str
    setting: str
    phases: tuple[Phase, ...]
    hparams: Mapping[str, Any]
    description: str = ""
    hparam_help: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.setting not in SETTINGS:
            raise ValueError(f"method '{self.name}': setting must be one of {SETTINGS}, not '{self.setting}'")
        if self.setting == "source-free" and any("source" in p.inputs for p in self.phases[1:]):
            raise ValueError(f"method '{self.name}': a source-free method may see source data only in its first phase")


@dataclass(frozen=True)
class MetricSpec:
    """``function`` names ``"module:function(predictions, labels, num_classes) -> float"``."""

    name: str
    function: str
    description: str = ""
    higher_is_better: bool = True
