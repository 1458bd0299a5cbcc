"""Small frozen descriptions of what plugins register; importing this module never imports torch."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from udabench.hparams import HParam, defaults_of

SETTINGS = ("uda", "source-free")
# What a task's labels are: one class per image, or one class per pixel (a label map).
TASK_KINDS = ("classification", "segmentation")
# The label of a pixel that no class covers (void, unlabelled, or a class the task leaves out).
IGNORE_LABEL = 255


def load_object(path: str):
    """Import ``"package.module:attribute"`` lazily, so specs can name torch code without importing it."""
    module_name, _, attribute = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else []:
        obj = getattr(obj, part)
    return obj


def takes_keyword(function, name: str) -> bool:
    """Whether ``function`` (a factory or loader named by a spec) accepts the keyword ``name``."""
    import inspect

    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


# The revision of a hub copy whose commit hash could not be verified: the default branch, as it is
# on the day of the run. Runs record it as unpinned.
UNPINNED = "main"


def is_commit(revision: str | None) -> bool:
    """Whether a hub revision is a full commit hash (which always names the same files)."""
    return bool(revision) and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision.lower())


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives and what it holds.

    ``hub_id``/``revision`` name a Hugging Face Hub copy: ``revision`` is the commit hash to load
    (pinned) or, where no hash could be verified, a branch name such as ``UNPINNED`` (``main``), which
    loads whatever the hub holds today; ``udabench list datasets -v`` and each stored run say which;
    ``local_loader`` optionally names ``"module:function(path, split) -> (images, labels)"`` for an
    official archive layout that is not the hub's parquet layout; ``generator`` names
    ``"module:function(split) -> (images, labels)"`` for data made by code (then ``revision`` versions
    the generator). Images are uint8 HWC arrays; ``image_size`` is ``(height, width)``. A
    segmentation dataset's reader returns label maps (uint8 HW arrays of class indices,
    ``IGNORE_LABEL`` where no class applies) in place of labels, and takes ``size`` as
    ``(height, width)``. A ``local_loader`` that also takes a ``size``
    keyword is given the side length the task keeps images at, and may return them resized to it
    (large photographs then never sit in memory at full size). ``root_folders`` names other folders
    under a data root that may hold the dataset, tried after ``<root>/<name>`` (e.g. one ``office31``
    folder for the three Office-31 domains). ``fixed_size`` says that every image of the dataset has
    ``image_size`` (MNIST's 28x28, USPS's 16x16): a local copy whose images have another size is
    refused as another dataset's; without it ``image_size`` is nominal (photographs of varying size).
    A local copy is also refused when its images are grey for a 3-channel spec (or colour for a
    1-channel one), or its class names or labels do not fit ``classes`` (``udabench.data.integrity``).
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
    root_folders: tuple[str, ...] = ()
    fixed_size: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def pinned(self) -> bool:
        """Whether ``revision`` names one hub commit (40 hex digits), not a branch that moves."""
        return is_commit(self.revision)


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
    """A (source, target, protocol) triple and the numbers the thesis-defence slides' tables report for it.

    ``train_split``/``test_split`` name the splits used for training (both domains; target labels
    are never given to a method) and for evaluation; ``source_test_split`` names the source's own
    evaluation split where it differs (GTA5 has no held-out split: a fixed sample of its images). Images are resized to ``resolution`` and
    converted to ``channels``; ``mean``/``std`` normalise pixel values scaled to [0, 1].
    ``hparams`` are protocol settings that replace a method's defaults where the method has a
    hyperparameter of that name (``--set`` still wins), e.g. a learning rate a task is known to need.

    ``kind`` is ``classification`` (one label per image) or ``segmentation`` (one label per pixel;
    ``IGNORE_LABEL`` marks pixels no class covers). A segmentation task's ``resolution`` is a
    ``(height, width)`` pair; ``classes`` then names its label space, and each domain's labels are
    mapped into it by class name (a class of a dataset that the task leaves out becomes
    ``IGNORE_LABEL``, as SYNTHIA -> Cityscapes drops Cityscapes' terrain, truck and train).
    ``class_subsets`` names further mean IoUs over subsets of the classes (SYNTHIA's 13-class
    ``miou13``); ``palette`` gives each class's colour for pictures.

    ``cache_resolution`` (default: ``resolution``) is the side length images are decoded and kept
    at; a larger cache is cropped to ``resolution`` (classification only). ``augment`` names the augmentations the runner
    applies on the device to every training batch, in this order (see
    ``udabench.data.augment.AUGMENTATIONS``: ``random_resized_crop``, ``hflip``); without a
    random crop, training batches take the centre crop. Evaluation images are never augmented: they
    are the centre ``resolution`` crop of the cache.

    ``points``: the images stand for points in the plane (each channel's mean): runs draw decision regions.
    """

    name: str
    source: str
    target: str
    resolution: int | tuple[int, int]
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
    cache_resolution: int | None = None
    augment: tuple[str, ...] = ()
    kind: str = "classification"
    classes: tuple[str, ...] = ()
    class_subsets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    palette: tuple[tuple[int, int, int], ...] = ()
    source_test_split: str | None = None
    points: bool = False
    # Set by ``TaskSpec.based_on``: the task this one starts from, and the fields it gives itself
    # (empty once the registry has resolved it against the base).
    base: str | None = None
    base_fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def based_on(cls, base: str, name: str, **fields) -> "TaskSpec":
        """A task that starts from the registered task ``base``: every field not given here is the
        base's, except ``description``, ``suite`` and ``reported`` (the papers' numbers belong to the
        base task), which start empty. ``hparams`` given here are added to the base's (a name given
        here wins). The registry resolves the base when it is built, whichever plugin registers it;
        an unknown base is a warning naming this task, which is then left out.

            TaskSpec.based_on("mnist-usps", name="mnist-meter", target="meter-digits",
                              description="MNIST -> meter digits, mnist-usps's protocol")
        """
        allowed = {f.name for f in dataclasses.fields(cls)} - {"name", "base", "base_fields"}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise TypeError(f"TaskSpec.based_on('{base}', name='{name}'): unknown field(s) {', '.join(unknown)} "
                            f"(TaskSpec fields: {', '.join(sorted(allowed))})")
        placeholders = {"source": "", "target": "", "resolution": 0, "channels": 0, "backbone": ""}
        return cls(name=name, **{**placeholders, **fields}, base=base, base_fields=dict(fields))

    @property
    def pending_base(self) -> bool:
        """Made by ``based_on`` and not yet resolved against its base (the registry does that)."""
        return self.base is not None and bool(self.base_fields or not self.source)

    def resolved_with(self, base: "TaskSpec") -> "TaskSpec":
        """This task with every field it does not give taken from ``base`` (see ``based_on``)."""
        fields = dict(self.base_fields)
        if "hparams" in fields:
            fields["hparams"] = {**base.hparams, **fields["hparams"]}
        inherited = {"description": "", "suite": "", "reported": ()}
        return dataclasses.replace(base, **{**inherited, **fields}, name=self.name, base=self.base, base_fields={})

    def __post_init__(self):
        if self.pending_base:
            return  # checked once resolved
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task '{self.name}': kind must be one of {TASK_KINDS}, not '{self.kind}'")
        if self.kind == "segmentation" and self.cache_resolution is not None:
            raise ValueError(f"task '{self.name}': a segmentation task keeps its images at its resolution")
        for subset, names in self.class_subsets.items():
            unknown = sorted(set(names) - set(self.classes))
            if unknown:
                raise ValueError(f"task '{self.name}': class subset '{subset}' names unknown classes {unknown}")

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the task's input."""
        return size_of(self.resolution)

    @property
    def stored_resolution(self) -> int | tuple[int, int]:
        """The size images are kept at: ``cache_resolution`` or else ``resolution``."""
        return self.cache_resolution or self.resolution


def size_of(resolution: int | tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` of a resolution given as one side length or as a pair."""
    if isinstance(resolution, int):
        return resolution, resolution
    height, width = resolution
    return int(height), int(width)


def parse_size(text: str) -> tuple[int, int]:
    """``"WIDTHxHEIGHT"`` (as image sizes are usually written, ``512x256``) -> ``(height, width)``."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.strip().isdigit() or not height.strip().isdigit() or not int(width) or not int(height):
        raise ValueError(f"expected WIDTHxHEIGHT with positive integers, e.g. 512x256 (got '{text}')")
    return int(height), int(width)


@dataclass(frozen=True)
class BackboneSpec:
    """A feature extractor. ``factory`` names ``"module:function(in_channels, resolution, **kw)"``.

    A spec whose ``name`` ends in ``:`` is a family: ``timm:resnet50`` resolves to the ``timm:``
    spec and passes ``resnet50`` as the ``model`` keyword. A factory with a ``weights`` keyword
    receives the method's ``weights`` hyperparameter (``none``, ``pretrained``, ``pretrained:TAG``
    or the absolute path of a state dict file) and loads those weights itself; for a factory
    without one, udabench loads a file into the module it returns and rejects ``pretrained``.
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
    """A method: its setting, its phases, its hyperparameters, and where its code is.

    ``hparams`` is given as name -> ``udabench.hparams.HParam``, one declaration per hyperparameter;
    the spec keeps the declarations in ``hparam_specs`` and makes ``hparams`` the name -> default
    mapping and ``hparam_help`` the name -> help mapping that runs, run keys and listings read.
    """

    name: str
    factory: str
    setting: str
    phases: tuple[Phase, ...]
    hparams: Mapping[str, Any]
    description: str = ""
    # Made from ``hparams``. Still a parameter so that a spec written the old way, with its help
    # here, is refused with a message saying how to declare it, not with a TypeError.
    hparam_help: Mapping[str, str] = field(default_factory=dict, repr=False)
    kinds: tuple[str, ...] = ("classification",)  # the task kinds (TASK_KINDS) the method can train on
    hparam_specs: Mapping[str, HParam] = field(init=False, repr=False)

    def __post_init__(self):
        unknown = [kind for kind in self.kinds if kind not in TASK_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"method '{self.name}': kinds must name some of {TASK_KINDS} (got {self.kinds})")
        if self.setting not in SETTINGS:
            raise ValueError(f"method '{self.name}': setting must be one of {SETTINGS}, not '{self.setting}'")
        if self.setting == "source-free" and any("source" in p.inputs for p in self.phases[1:]):
            raise ValueError(f"method '{self.name}': a source-free method may see source data only in its first phase")
        for name, hparam in self.hparams.items():
            if not isinstance(hparam, HParam):
                raise ValueError(f"method '{self.name}': hyperparameter '{name}' is a bare default ({hparam!r}); "
                                 f"declare it as HParam(default, help) from udabench.api")
            if name in self.hparam_help:
                raise ValueError(f"method '{self.name}': hyperparameter '{name}' has its help in hparam_help; "
                                 f"give it in its HParam(default, help) instead")
            if not hparam.help.strip():
                raise ValueError(f"method '{self.name}': hyperparameter '{name}' has no help text")
            problem = hparam.problem(name, hparam.default)
            if problem:
                raise ValueError(f"method '{self.name}': default of {problem}")
        object.__setattr__(self, "hparam_specs", dict(self.hparams))
        object.__setattr__(self, "hparams", defaults_of(self.hparam_specs))
        object.__setattr__(self, "hparam_help", {name: h.help for name, h in self.hparam_specs.items()})


@dataclass(frozen=True)
class MetricSpec:
    """A metric of the tasks of ``kinds``.

    With ``input="labels"``, ``function`` names ``"module:function(predictions, labels, num_classes)
    -> float"`` on predicted and true class indices. With ``input="confusion"`` it names
    ``"module:function(confusion) -> float"`` on the ``(K, K)`` int64 confusion matrix (rows true
    classes, columns predicted; ignored pixels left out), which the runner accumulates batch by batch
    on the device, so that dense predictions never have to be kept.
    """

    name: str
    function: str
    description: str = ""
    higher_is_better: bool = True
    input: str = "labels"
    kinds: tuple[str, ...] = ("classification",)

    def __post_init__(self):
        if self.input not in ("labels", "confusion"):
            raise ValueError(f"metric '{self.name}': input must be 'labels' or 'confusion', not '{self.input}'")
        if self.input == "labels" and "segmentation" in self.kinds:
            raise ValueError(f"metric '{self.name}': segmentation metrics take the confusion matrix (input='confusion')")
        unknown = [kind for kind in self.kinds if kind not in TASK_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"metric '{self.name}': kinds must name some of {TASK_KINDS} (got {self.kinds})")


def cells_of(keys, values) -> dict[str, tuple[float, float | None]]:
    """A row's cells from its values in column order, as a table prints them: ``None`` for an empty
    cell ("-"), a number, or ``(value, std)``."""
    keys, values = tuple(keys), tuple(values)
    if len(keys) != len(values):
        raise ValueError(f"{len(values)} values for {len(keys)} columns")
    return {key: (value if isinstance(value, tuple) else (value, None))
            for key, value in zip(keys, values) if value is not None}


@dataclass(frozen=True)
class ReportedRow:
    """One row of a paper's table as printed: its label, its cells and where udabench maps it.

    ``cells`` maps a column key of the table to ``(value, std or None)``; a column the paper leaves
    empty ("-") is absent. ``bold`` names the columns the paper prints in bold. ``group`` is the
    heading of the block of rows the paper puts it under (empty for none). ``citation`` is the
    reference mark printed after the label (``"[43]"``), kept apart so that ``label`` stays the plain
    method name.
    """

    label: str
    cells: Mapping[str, tuple[float, float | None]]
    udabench_method: str | None = None
    backbone: str | None = None
    group: str = ""
    bold: frozenset[str] = frozenset()
    citation: str = ""

    @property
    def printed_label(self) -> str:
        """The label as the table prints it, with its reference mark."""
        return f"{self.label} {self.citation}" if self.citation else self.label


@dataclass(frozen=True)
class ReportedTable:
    """A table of the thesis-defence slides, kept as data with its source, so that it can be printed back as shown.

    ``columns`` are ``(key, label as printed)`` pairs; a key is the udabench task name where one
    exists (so reproduced runs land beside the paper's number), otherwise a short stable id such as
    ``avg``. ``transposed`` marks a table the paper prints with methods as columns.
    ``backbone_label`` is the heading under which the paper prints each row's backbone ("Base Net",
    "Seg Net"); ``None`` where the paper prints no backbone column (a backbone common to all rows is
    then named in the title).
    """

    name: str
    title: str
    source: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[ReportedRow, ...]
    metric: str = "accuracy (%)"
    transposed: bool = False
    backbone_label: str | None = None

    def reported_for(self, column: str) -> tuple[ReportedResult, ...]:
        """The table's numbers for one column (a task), as cited ``ReportedResult`` rows."""
        return tuple(ReportedResult(row.label, row.cells[column][0], self.source, row.cells[column][1],
                                    backbone=row.backbone, udabench_method=row.udabench_method)
                     for row in self.rows if column in row.cells)


@dataclass(frozen=True)
class SuiteSpec:
    """A leaderboard: the tasks that form its columns and the papers' tables it is compared with.

    ``metric`` names the stored metric its cells show (a key of a run's metrics, e.g. ``accuracy``);
    ``task_metrics`` names another one for some columns (SYNTHIA -> Cityscapes reports ``miou13``).
    """

    name: str
    title: str
    tasks: tuple[str, ...]
    tables: tuple[ReportedTable, ...] = ()
    metric: str = "accuracy"
    description: str = ""
    task_metrics: Mapping[str, str] = field(default_factory=dict)

    def metric_of(self, task: str) -> str:
        """The stored metric the column of ``task`` shows."""
        return self.task_metrics.get(task, self.metric)

    @property
    def metric_label(self) -> str:
        """The metric as a table's notes name it, with the columns that show another one."""
        others = ", ".join(f"{metric} on {task}" for task, metric in self.task_metrics.items())
        return f"{self.metric} ({others})" if others else self.metric
