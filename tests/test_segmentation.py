"""Segmentation through the core: label maps, confusion matrices, mIoU, pictures, SUIT and its
generator transplant, on the generated ``toy-scenes`` task and on the real tasks read from tiny
folders in the official GTA5 / SYNTHIA / Cityscapes layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from test_segmentation_data import make_cityscapes, make_gta5, make_synthia
from udabench import confusion
from udabench.data.augment import Augmenter
from udabench.data.loading import class_mapping, label_maps_to_protocol
from udabench.errors import UdabenchError
from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, load_checkpoint, prepare
from udabench.runner.pictures import columns_layout
from udabench.specs import IGNORE_LABEL, MetricSpec, TaskSpec

REGISTRY = load_registry(warn=False)


def run(method="source-only", task="toy-scenes", tmp_path=None, steps=20, **overrides):
    extra = {key: overrides.pop(key) for key in ("data", "resolution", "backbone", "generator_checkpoint",
                                                 "eval_points", "seed") if key in overrides}
    request = RunRequest(method=method, task=task, steps=steps, batch_size=8, device="cpu", progress=False,
                         overrides={k: str(v) for k, v in overrides.items()}, log_every=5, **extra)
    return execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path), request


def test_confusion_matrix_and_iou_by_hand():
    matrix = confusion.empty(3, "cpu")
    labels = torch.tensor([[0, 0, 1], [1, 2, IGNORE_LABEL]])
    predicted = torch.tensor([[0, 1, 1], [1, 2, 0]])
    confusion.add(matrix, labels, predicted)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]  # the ignored pixel counts nowhere
    iou = confusion.iou_per_class(matrix)
    assert iou.tolist() == pytest.approx([1 / 2, 2 / 3, 1.0])
    matrix = confusion.empty(3, "cpu")
    confusion.add(matrix, torch.tensor([0, 0]), torch.tensor([0, 1]))
    assert torch.isnan(confusion.iou_per_class(matrix)[2])  # neither present nor predicted


def test_mean_iou_leaves_absent_classes_out():
    from udabench_metrics.functions import mean_iou, pixel_accuracy

    matrix = torch.tensor([[3, 1, 0], [0, 4, 0], [0, 0, 0]])
    assert mean_iou(matrix) == pytest.approx((3 / 4 + 4 / 5) / 2)
    assert pixel_accuracy(matrix) == pytest.approx(7 / 8)


def test_label_maps_are_mapped_by_class_name_and_resized_with_nearest_neighbours():
    mapping = class_mapping(("road", "car", "terrain"), ("car", "road"), "test")
    maps = [np.array([[0, 1], [2, IGNORE_LABEL]], dtype=np.uint8).repeat(2, 0).repeat(2, 1)]
    images = [np.zeros((4, 4, 3), np.uint8)]
    out = label_maps_to_protocol(maps, images, (2, 2), mapping, "test")
    assert out.dtype == torch.uint8 and out.shape == (1, 2, 2)
    assert out[0].tolist() == [[1, 0], [IGNORE_LABEL, IGNORE_LABEL]]  # terrain is not a task class
    with pytest.raises(UdabenchError, match="image 0 is 4x4 px but its label map is 2x4"):
        label_maps_to_protocol([np.zeros((4, 2), np.uint8)], images, (2, 2), mapping, "test")


def test_flips_move_label_maps_with_their_images():
    images = torch.randint(0, 200, (8, 3, 2, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = images[:, 0].clone()
    out_images, out_labels = Augmenter(("hflip",), (2, 4), seed=3)(images, labels)
    assert torch.equal(out_images[:, 0].to(torch.uint8), out_labels)  # each map moved with its image
    flipped = [torch.equal(out_labels[i], labels[i].flip(-1)) for i in range(8)]
    assert 0 < sum(flipped) < 8


def test_specs_check_segmentation_fields():
    with pytest.raises(ValueError, match="kind must be one of"):
        TaskSpec("t", "a", "b", 8, 3, "x", kind="detection")
    with pytest.raises(ValueError, match="names unknown classes"):
        TaskSpec("t", "a", "b", (8, 8), 3, "x", kind="segmentation", classes=("road",),
                 class_subsets={"miou1": ("car",)})
    with pytest.raises(ValueError, match="take the confusion matrix"):
        MetricSpec("m", "mod:f", kinds=("segmentation",))


def test_source_only_on_toy_scenes_reports_miou_per_class_and_pictures(tmp_path):
    result, _ = run(tmp_path=tmp_path, steps=30)
    assert result.status == "ok"
    for name in ("miou", "pixel_accuracy", "source_miou", "miou_objects"):
        assert 0.0 <= result.metrics[name] <= 1.0
    assert "accuracy" not in result.metrics  # classification metrics do not apply
    names = [name for name, _ in result.details["per_class_iou"]]
    assert names == ["ground", "sky", "box", "disc"]
    ious = [value for _, value in result.details["per_class_iou"] if value is not None]
    assert result.metrics["miou"] == pytest.approx(sum(ious) / len(ious))
    assert result.details["selection"]["oracle"]["miou"] == max(p["miou"] for p in result.details["evaluations"])
    pictures = sorted((tmp_path / "images").glob("*-segmentation-*.png"))
    assert {p.name.split("-segmentation")[0] for p in pictures} == {"source", "target"}
    grid = Image.open(pictures[-1])
    # target rows: image | prediction | label, 4 rows of 48x32 with 2 px padding, drawn twice their
    # size, under a title and headers and over the legend (tests/test_segmentation_pictures.py)
    from udabench.runner.pictures import TITLE_HEIGHT

    assert grid.width == 2 * (3 * (48 + 2) + 2) and grid.height > 2 * TITLE_HEIGHT + 2 * (4 * (32 + 2) + 2)
    pytest.importorskip("matplotlib")
    from dataclasses import asdict

    from udabench.plots import plot_run

    curves = plot_run(asdict(result), tmp_path / "curves.png")  # the last panel shows mIoU
    assert Image.open(curves).size[0] > 0


def test_evaluation_matches_a_brute_force_count(tmp_path):
    from udabench.data.loading import load_split
    from udabench.runner import Normalizer, build_method, evaluate

    request = RunRequest(method="source-only", task="toy-scenes", device="cpu", progress=False)
    prepared = prepare(REGISTRY, request)
    split = load_split(REGISTRY.get("datasets", "toy-scenes-m"), prepared.sources["toy-scenes-m"], "test",
                       prepared.task)
    method = build_method(prepared, torch.device("cpu"), 4)
    normalize = Normalizer(prepared.task, torch.device("cpu"))
    metrics = {name: (spec, __import__("udabench.specs", fromlist=["load_object"]).load_object(spec.function))
               for name, spec in REGISTRY.specs["metrics"].items() if "segmentation" in spec.kinds}
    values, matrix = evaluate(method, split, normalize, metrics, 4, batch_size=7)
    method.eval()
    with torch.no_grad():
        predicted = method.predict(normalize(split.images)).argmax(1)
    labels = split.labels.long()
    valid = labels != IGNORE_LABEL
    expected = torch.zeros(4, 4, dtype=torch.int64)
    for true, guess in zip(labels[valid].tolist(), predicted[valid].tolist()):
        expected[true, guess] += 1
    assert torch.equal(matrix, expected)
    assert values["pixel_accuracy"] == pytest.approx(float(expected.trace()) / float(expected.sum()))


def test_resolution_option_and_kind_errors():
    request = RunRequest(method="source-only", task="toy-scenes", device="cpu", resolution=(16, 24))
    prepared = prepare(REGISTRY, request)
    assert prepared.task.size == (16, 24) and prepared.config["resolution"] == [16, 24]
    assert prepared.key != prepare(REGISTRY, RunRequest(method="source-only", task="toy-scenes", device="cpu")).key
    with pytest.raises(UdabenchError, match="applies to segmentation tasks"):
        prepare(REGISTRY, RunRequest(method="source-only", task="toy-digits-m", resolution=(16, 24)))
    with pytest.raises(UdabenchError, match="does not train on segmentation tasks"):
        prepare(REGISTRY, RunRequest(method="dann", task="toy-scenes"))
    with pytest.raises(UdabenchError, match="is a feature extractor"):
        request = RunRequest(method="source-only", task="toy-scenes", backbone="dann-digits", device="cpu",
                             progress=False, steps=1)
        execute(prepare(REGISTRY, request), REGISTRY, request)


def test_suit_losses_fall_and_avgw_predicts_with_the_averaged_network(tmp_path):
    result, _ = run("suit-avgw", tmp_path=tmp_path, steps=60, source_steps=40, average_decay=0.9)
    adapt = [record for record in result.history if record["phase"] == "adapt"]
    assert adapt[-1]["semantic_loss"] < adapt[0]["semantic_loss"]
    assert {"gan_loss", "discriminator_loss", "content_loss"} <= set(adapt[0])
    weights = load_checkpoint(result.checkpoint)
    averaged = {k: v for k, v in weights.items() if k.startswith("averaged.")}
    assert averaged and not all(torch.equal(v, weights["model." + k[len("averaged."):]]) for k, v in averaged.items())
    assert not any(k.startswith("content_model.") for k in weights)  # the fixed f is not saved
    translated = sorted((tmp_path / "images").glob("source-segmentation-adapt-*.png"))
    scale, _ = columns_layout(32, 48)  # toy-scenes' 32x48 scenes, drawn larger so that headers fit
    # Four columns: image, translated image, prediction, ground truth.
    assert translated and Image.open(translated[-1]).size[0] == (4 * (48 + 2) + 2) * scale


def test_generator_transplant_keeps_the_given_translator(tmp_path):
    first, _ = run("suit", tmp_path=tmp_path / "first", steps=10, source_steps=10)
    checkpoint = first.checkpoint
    second, _ = run("suit", tmp_path=tmp_path / "second", steps=10, source_steps=10, seed=1,
                    generator_from=first.key, generator_checkpoint=checkpoint)
    given = {k: v for k, v in load_checkpoint(checkpoint).items() if k.startswith("generator.")}
    kept = {k: v for k, v in load_checkpoint(second.checkpoint).items() if k.startswith("generator.")}
    assert given.keys() == kept.keys() and all(torch.equal(given[k], kept[k]) for k in given)
    assert "gan_loss" not in second.history[-1]  # no discriminator in a transplanted run
    with pytest.raises(UdabenchError, match="was not looked up"):
        run("suit", tmp_path=tmp_path / "third", steps=2, generator_from=first.key)
    with pytest.raises(UdabenchError, match="no 'generator.\\*' weights"):
        source, _ = run("source-only", tmp_path=tmp_path / "source", steps=2)
        run("suit", tmp_path=tmp_path / "fourth", steps=2, generator_from=source.key,
            generator_checkpoint=source.checkpoint)


def test_cli_transplant_resolves_the_run_and_names_it_in_the_key(tmp_path, store_path, capfd):
    import subprocess

    from udabench.cli import main

    def cli(*args):  # in this process: each process would spend seconds importing torch
        capfd.readouterr()
        code = main([*args, "--store", str(store_path)])
        captured = capfd.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    common = ("--task", "toy-scenes", "--device", "cpu", "--steps", "3", "--batch-size", "4", "--json",
              "--no-progress", "--set", "source_steps=3")
    first = cli("run", "--method", "suit", *common)
    assert first.returncode == 0, first.stderr
    first_run = json.loads(first.stdout)
    second = cli("run", "--method", "suit", *common, "--set", f"generator_from={first_run['run_id']}")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["config"]["hparams"]["generator_from"] == first_run["key"]
    # a sweep names the same run: it resolves the id before planning, and finds the run stored
    swept = cli("sweep", "--method", "suit", "--task", "toy-scenes", "--device", "cpu", "--steps", "3",
                "--batch-size", "4", "--set", "source_steps=3", "--set", f"generator_from={first_run['run_id']}",
                "--dry-run")
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.split()[:2] == [json.loads(second.stdout)["run_id"], "stored"]
    missing = cli("run", "--method", "suit", *common, "--set", "generator_from=0badc0de")
    assert missing.returncode == 2 and "no stored run '0badc0de'" in missing.stderr
    wrong = cli("run", "--method", "source-only", "--task", "toy-scenes", "--resolution", "big")
    assert wrong.returncode == 2 and "WIDTHxHEIGHT" in wrong.stderr


def test_gta5_to_cityscapes_runs_on_official_layout_folders(tmp_path):
    make_gta5(tmp_path / "gta5", count=4)
    make_cityscapes(tmp_path / "cityscapes", "train")
    make_cityscapes(tmp_path / "cityscapes", "val")
    result, _ = run("source-only", "gta5-cityscapes", tmp_path / "run", steps=4, backbone="tiny-segnet",
                    resolution=(24, 40), weights="none", eval_points=1,
                    data={"gta5": str(tmp_path / "gta5"), "cityscapes": str(tmp_path / "cityscapes")})
    assert 0.0 <= result.metrics["miou"] <= 1.0
    assert len(result.details["per_class_iou"]) == 19
    assert result.details["data"]["gta5"]["sizes"] == {"train": 4, "test": 4}  # 'sample' of 4 images: all
    assert result.details["data"]["cityscapes"]["sizes"] == {"train": 3, "test": 3}


def test_synthia_to_cityscapes_maps_into_16_classes_and_reports_miou13(tmp_path):
    make_synthia(tmp_path / "synthia", count=3)
    make_cityscapes(tmp_path / "cityscapes", "train")
    make_cityscapes(tmp_path / "cityscapes", "val")
    result, _ = run("source-only", "synthia-cityscapes", tmp_path / "run", steps=2, backbone="tiny-segnet",
                    resolution=(24, 40), weights="none", eval_points=1,
                    data={"synthia": str(tmp_path / "synthia"), "cityscapes": str(tmp_path / "cityscapes")})
    assert [name for name, _ in result.details["per_class_iou"]][:3] == ["road", "sidewalk", "building"]
    assert len(result.details["per_class_iou"]) == 16
    assert 0.0 <= result.metrics["miou13"] <= 1.0


def test_missing_segmentation_data_says_where_to_get_it():
    with pytest.raises(UdabenchError, match="cityscapes-dataset.com"):
        prepare(REGISTRY, RunRequest(method="source-only", task="gta5-cityscapes", data={"gta5": "."}))
