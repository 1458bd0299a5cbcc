"""One run: (method, task, seed, config) -> trained model, metrics, timings, checkpoint."""

# Re-exported so that ``from udabench.runner import X`` keeps working; to patch a name in a test,
# patch it in the module that looks it up (``execute`` looks up its helpers in ``udabench.runner.loop``).
from udabench.runner.build import build_method
from udabench.runner.checkpoints import load_checkpoint
from udabench.runner.evaluation import (
    DENSE_EVAL_PIXELS,
    DENSE_SELECTION_SAMPLES,
    SELECTION_SAMPLES,
    Evaluator,
    evaluate,
    main_metric,
    predict_logits,
)
from udabench.runner.loop import execute, resolve_device, seed_everything
from udabench.runner.pictures import SegmentationPictures, Snapshotter, palette_for
from udabench.options import DEVICES
from udabench.runner.request import PreparedRun, RunRequest, _has_source_phase, prepare, run_key
from udabench.runner.results import RunFailed, RunResult
from udabench.runner.task_data import IndexSampler, Normalizer, load_task_data

__all__ = [
    "DENSE_EVAL_PIXELS",
    "DENSE_SELECTION_SAMPLES",
    "DEVICES",
    "SELECTION_SAMPLES",
    "Evaluator",
    "IndexSampler",
    "Normalizer",
    "PreparedRun",
    "RunFailed",
    "RunRequest",
    "RunResult",
    "SegmentationPictures",
    "Snapshotter",
    "_has_source_phase",
    "build_method",
    "evaluate",
    "execute",
    "load_checkpoint",
    "load_task_data",
    "main_metric",
    "palette_for",
    "predict_logits",
    "prepare",
    "resolve_device",
    "run_key",
    "seed_everything",
]
