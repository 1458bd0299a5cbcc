"""``udabench plot --features``: the features of a stored run's test images before and after
adaptation, from the models its store records point at."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from udabench.data.loading import load_split, resolve_source
from udabench.errors import UdabenchError
from udabench.runner.build import build_method
from udabench.runner.checkpoints import SOURCE_MODEL_FILE, load_checkpoint
from udabench.runner.request import PreparedRun
from udabench.runner.task_data import Normalizer

FEATURE_SAMPLES = 500  # test images per domain whose features are drawn


def stored_method(record: dict[str, Any], registry, checkpoint: str | Path):
    """The method of a stored run, rebuilt on the CPU from its recorded configuration, with the
    weights of ``checkpoint`` (its ``model.pt``, or its ``source-model.pt``) loaded into it."""
    import torch


    config = record["config"]
    method_spec = registry.get("methods", record["method"])
    task = registry.get("tasks", record["task"])
    if config.get("resolution"):
        task = dataclasses.replace(task, resolution=tuple(config["resolution"]))
    backbone_name = config.get("backbone") or task.backbone
    hparams = dict(config["hparams"])
    if isinstance(hparams.get("weights"), str):
        hparams["weights"] = "none"  # the checkpoint holds every weight: nothing to fetch or read first
    prepared = PreparedRun(method_spec, task, registry.get("backbones", backbone_name), backbone_name,
                           hparams, {}, config, record["key"])
    classes = task.classes or registry.get("datasets", task.source).classes
    method = build_method(prepared, torch.device("cpu"), len(classes))
    try:
        state = load_checkpoint(checkpoint)
    except (OSError, RuntimeError) as exc:
        raise UdabenchError(f"run {record['run_id']}: cannot read {checkpoint}: {exc}") from None
    # Modules a method builds during training (an averaged copy, say) are not in a fresh instance:
    # the network drawn must load in full, the rest may be missing.
    missing, _ = method.load_state_dict(state, strict=False)
    method.eval()
    return method, missing


def feature_network(method, source_phase: bool = False):
    """``(name, features function)`` of the network a method predicts with: its ``task_model``
    where it has one (CyCADA's), else its adapted ``target_encoder`` (ADDA's, once adapted), else
    its ``model``; with ``source_phase``, the ``model`` (what a source phase trains). The function
    maps normalised images to the features before the classifier head (``TaskModel.features``)."""

    if not source_phase and getattr(method, "task_model", None) is not None:
        name = "task_model"
    elif (not source_phase and getattr(method, "target_encoder", None) is not None
          and bool(getattr(method, "adapted", False))):
        return "target_encoder", method.target_encoder
    elif getattr(method, "model", None) is not None:
        name = "model"
    else:
        raise UdabenchError(f"{type(method).__name__} has no 'model' or 'task_model' network whose features to draw")
    network = getattr(method, name)
    if not hasattr(network, "features"):
        raise UdabenchError(f"{type(method).__name__}.{name} has no features() to draw")
    return name, network.features


def _check_loaded(record, missing, name: str, checkpoint) -> None:

    lost = [key for key in missing if key.startswith(f"{name}.")]
    if lost:
        raise UdabenchError(f"run {record['run_id']}: {Path(checkpoint).name} lacks {len(lost)} weights of its "
                            f"'{name}' network (e.g. {lost[0]}); it was saved by other code")


def source_model_of(record: dict[str, Any], store) -> tuple[dict[str, Any], str, bool, str] | None:
    """Where the model before adaptation of a stored run is: ``(record, checkpoint, source_phase,
    description)``, or ``None``. In order: the run's own ``source-model.pt`` (saved at the end of its
    source phase), the ``model.pt`` of its ``--source-run``, else the newest ``source-only`` run of
    the same task, seed and backbone in the store."""
    folder = Path(record["artifacts"] or "")
    if (folder / SOURCE_MODEL_FILE).is_file():
        return record, str(folder / SOURCE_MODEL_FILE), True, f"end of run {record['run_id']}'s source phase"
    config = record["config"]
    if config.get("source_run"):
        source = store.get(config["source_run"])
        if source is not None and (Path(source["artifacts"] or "") / "model.pt").is_file():
            return (source, str(Path(source["artifacts"]) / "model.pt"), False,
                    f"its --source-run {source['run_id']} ({source['method']})")
    if record["method"] == "source-only":
        return None
    candidates = [r for r in store.query(method="source-only", task=record["task"], status="ok",
                                         seeds=[record["seed"]])
                  if r["config"].get("backbone") == config.get("backbone") and r["artifacts"]
                  and (Path(r["artifacts"]) / "model.pt").is_file()]
    if candidates:
        source = candidates[-1]
        return source, str(Path(source["artifacts"]) / "model.pt"), False, f"source-only run {source['run_id']}"
    return None


def feature_panels(record: dict[str, Any], store, registry, data: dict[str, str] | None = None,
                   data_root: str | None = None, samples: int = FEATURE_SAMPLES, seed: int = 0):
    """The features of a fixed sample of ``samples`` source and ``samples`` target test images under
    the model before adaptation (when one is found, see :func:`source_model_of`) and under the run's
    adapted model: ``(panels, class_names, note)``. Each panel holds the title, the features
    (numpy ``(2 samples, D)``), the labels, the domains (0 source, 1 target) and the accuracy on the
    sampled target images. ``note`` says why there is no panel before adaptation, if there is none."""
    import torch


    task = registry.get("tasks", record["task"])
    if task.kind != "classification":
        raise UdabenchError(f"--features draws the features of classification runs; '{task.name}' is a "
                            f"{task.kind} task")
    if record["status"] != "ok":
        raise UdabenchError(f"run {record['run_id']} has status '{record['status']}': no model to draw")
    checkpoint = Path(record["artifacts"] or "") / "model.pt"
    if not checkpoint.is_file():
        raise UdabenchError(f"run {record['run_id']} has no checkpoint at {checkpoint}")
    data, data_root = dict(data or {}), data_root or os.environ.get("UDABENCH_DATA")
    generator = torch.Generator().manual_seed(seed)
    images, labels, domains = [], [], []
    for domain, (name, split) in enumerate(((task.source, task.source_test_split or task.test_split),
                                            (task.target, task.test_split))):
        spec = registry.get("datasets", name)
        loaded = load_split(spec, resolve_source(spec, data.get(name), data_root), split, task)
        order = torch.randperm(len(loaded), generator=generator)[:samples]
        images.append(loaded.images[order])
        labels.append(loaded.labels[order].long())
        domains.append(torch.full((len(order),), domain))
    images, labels, domains = torch.cat(images), torch.cat(labels), torch.cat(domains)
    normalize = Normalizer(task, torch.device("cpu"))
    classes = list(task.classes or registry.get("datasets", task.source).classes)

    def panel(stored, checkpoint, source_phase, title):
        method, missing = stored_method(stored, registry, checkpoint)
        name, features_of = feature_network(method, source_phase)
        _check_loaded(stored, missing, name, checkpoint)
        features, logits = [], []
        with torch.no_grad():
            for start in range(0, len(images), 256):
                batch = normalize(images[start:start + 256])
                features.append(features_of(batch).flatten(1).float())
                network = method.predict if name == "target_encoder" else getattr(method, name)
                logits.append(network(batch).float())
        features, predicted = torch.cat(features), torch.cat(logits).argmax(1)
        target = domains == 1
        accuracy = float((predicted[target] == labels[target]).float().mean())
        return {"title": title, "network": f"{stored['method']}.{name}", "features": features.numpy(),
                "labels": labels.numpy(), "domains": domains.numpy(), "accuracy": accuracy}

    panels, note = [], None
    single_phase_source = all(phase.inputs == frozenset({"source"})
                              for phase in registry.get("methods", record["method"]).phases)
    before = None if single_phase_source else source_model_of(record, store)
    if before is not None:
        stored, path, source_phase, description = before
        panels.append(panel(stored, path, source_phase, f"before adaptation: {description}"))
    elif single_phase_source:
        note = f"run {record['run_id']} trains on source only: its model is the source model"
    else:
        note = (f"no source model found for run {record['run_id']}: run 'udabench run --method source-only "
                f"--task {record['task']} --seed {record['seed']}' (same backbone) to draw one beside it")
    after = "source model" if single_phase_source else "after adaptation"
    panels.append(panel(record, checkpoint, False, f"{after}: run {record['run_id']} ({record['method']})"))
    return panels, classes, note
