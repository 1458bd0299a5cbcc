"""Office-31: the official-layout reader, the tasks' protocol, training augmentation on the device,
the backbone learning-rate multiplier and the ``weights`` hyperparameter (local file, mismatch,
unreachable hub), and one short run through the CLI.

The data is generated here in the official layout (``DOMAIN/images/CLASS/*.jpg``), small; no test
reaches the network (the hub is simulated by replacing timm's download call).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from torch import nn

from datagen import make_office_domain, forked_cli, make_office_root, run_cli, tiny_office_task
from udabench.cli import main
from udabench.data.augment import Augmenter, center_crop, random_resized_boxes
from udabench.data.loading import load_split, resolve_source
from udabench.errors import UdabenchError
from udabench.api import is_backbone_parameter, lr_groups, mark_backbone, schedule_lr, sgd
from udabench.plugins import load_registry
from udabench.runner import Normalizer, RunRequest, build_method, execute, load_task_data, prepare
from udabench.store import Store
from udabench_backbones.networks import timm_model
from udabench_office31.archives import CLASSES, load_amazon, load_webcam
from udabench_office31.reported import OFFICE31_TABLE, OFFICE31_TASKS

TINY = "timm:test_resnet"


@pytest.fixture(scope="module")
def registry():
    registry = load_registry(warn=False)
    registry.add("tasks", tiny_office_task(registry), "tests")
    return registry


@pytest.fixture(scope="module")
def office(tmp_path_factory) -> Path:
    """The unpacked archive in small: amazon and webcam, 31 classes x 2 JPEGs of 40x32 px."""
    return make_office_root(tmp_path_factory.mktemp("office"))


def tiny_request(office: Path, method="dann", steps=2, **kwargs) -> RunRequest:
    return RunRequest(method=method, task="office31-tiny-a-w", steps=steps, batch_size=4, device="cpu",
                      progress=False, data={"office31-amazon": str(office), "office31-webcam": str(office)},
                      eval_points=1, **kwargs)


# --- registration -----------------------------------------------------------------------------------


def test_datasets_tasks_and_suite_are_registered(registry):
    for domain, size in (("amazon", 2817), ("dslr", 498), ("webcam", 795)):
        spec = registry.get("datasets", f"office31-{domain}")
        assert spec.hub_id is None and spec.splits == ("all",) and dict(spec.sizes) == {"all": size}
        assert spec.classes == CLASSES and len(CLASSES) == 31 and list(CLASSES) == sorted(CLASSES)
        assert "no official train/test split" in spec.description
        assert "domain_adaptation_images.tar.gz" in spec.homepage and spec.root_folders == ("office31",)
    assert tuple(registry.get("suites", "office31").tasks) == OFFICE31_TASKS
    letters = {"a": "amazon", "d": "dslr", "w": "webcam"}
    for name in OFFICE31_TASKS:
        task = registry.get("tasks", name)
        source, target = name.split("-")[1:]
        assert (task.source, task.target) == (f"office31-{letters[source]}", f"office31-{letters[target]}")
        assert (task.resolution, task.cache_resolution, task.channels) == (224, 256, 3)
        assert task.backbone == "timm:resnet50" and task.augment == ("random_resized_crop", "hflip")
        assert task.mean == (0.485, 0.456, 0.406) and task.std == (0.229, 0.224, 0.225)
        assert task.train_split == task.test_split == "all"
        assert dict(task.hparams) == {"weights": "pretrained:tv_in1k", "backbone_lr_mult": 0.1, "dropout": 0.0}
        assert task.reported == OFFICE31_TABLE.reported_for(name) and len(task.reported) == 9


def test_protocol_values_reach_the_methods_and_the_key(registry, office):
    prepared = prepare(registry, tiny_request(office))
    assert prepared.hparams["backbone_lr_mult"] == 0.1 and prepared.hparams["dropout"] == 0.0
    assert prepared.hparams["weights"] == "none"  # the tiny task's choice; office31-a-w asks for ImageNet
    digits = registry.get("methods", "dann").hparams
    assert digits["backbone_lr_mult"] == 1.0 and digits["weights"] == "none"


# --- the reader ---------------------------------------------------------------------------------------


def test_reader_labels_are_sorted_class_folders_in_file_order(office):
    images, labels = load_amazon(office, "all")
    assert len(images) == 62 and labels.tolist() == [label for label in range(31) for _ in range(2)]
    assert images[0].shape == (40, 32, 3) and images[0].dtype == np.uint8
    resized, same = load_amazon(office, "all", size=20)
    assert {a.shape for a in resized} == {(20, 20, 3)} and np.array_equal(labels, same)


@pytest.mark.parametrize("layout", ["domain", "root", "mirror"])
def test_reader_accepts_the_domain_folder_the_archive_root_or_a_mirror_without_images(tmp_path, layout):
    make_office_domain(tmp_path, "webcam", per_class=1, nested=layout != "mirror")
    folder = tmp_path / "webcam" if layout == "domain" else tmp_path
    images, labels = load_webcam(folder, "all")
    assert len(images) == 31 and labels.tolist() == list(range(31))


def test_reader_has_one_split(office):
    with pytest.raises(UdabenchError, match="one split, 'all' .*no official train/test split"):
        load_amazon(office, "train")


def test_missing_domain_folder_names_the_domain_and_the_archive(office):
    # The generated root holds amazon and webcam, not dslr.
    with pytest.raises(UdabenchError) as error:
        load_split(*_dslr_spec_and_source(office), "all", tiny_office_task(load_registry(warn=False)))
    message = str(error.value)
    assert "\n" not in message and "office31-dslr" in message and "dslr/images/<class>/" in message
    assert "domain_adaptation_images.tar.gz" in message


def _dslr_spec_and_source(folder):
    spec = load_registry(warn=False).get("datasets", "office31-dslr")
    return spec, resolve_source(spec, folder)


def test_missing_unknown_and_empty_class_folders(tmp_path):
    make_office_domain(tmp_path, "amazon", per_class=1, classes=CLASSES[:29])
    with pytest.raises(UdabenchError, match=r"lacks the class folder\(s\) tape_dispenser, trash_can \(29 of the 31"):
        load_amazon(tmp_path, "all")
    make_office_domain(tmp_path, "amazon", per_class=1)
    (tmp_path / "amazon" / "images" / "sofa").mkdir()
    with pytest.raises(UdabenchError, match=r"sofa, which are not Office-31 classes"):
        load_amazon(tmp_path, "all")
    (tmp_path / "amazon" / "images" / "sofa").rmdir()
    for path in (tmp_path / "amazon" / "images" / "mug").iterdir():
        path.unlink()
    with pytest.raises(UdabenchError, match=r"mug holds no \.jpg images"):
        load_amazon(tmp_path, "all")


def test_another_domain_folder_or_a_broken_image_is_refused(tmp_path):
    make_office_domain(tmp_path, "amazon", per_class=1)
    with pytest.raises(UdabenchError, match="is the 'amazon' domain, not 'webcam'"):
        load_webcam(tmp_path / "amazon", "all")
    (tmp_path / "amazon" / "images" / "bike" / "frame_0001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UdabenchError, match=r"cannot decode the image .*bike/frame_0001.jpg"):
        load_amazon(tmp_path, "all")


def test_data_root_takes_the_dataset_name_or_one_office31_folder(registry, tmp_path):
    spec = registry.get("datasets", "office31-amazon")
    make_office_root(tmp_path / "office31", domains=("amazon",), per_class=1)
    assert Path(resolve_source(spec, data_root=tmp_path).location) == tmp_path / "office31"
    make_office_domain(tmp_path / "other", "amazon", per_class=1)
    (tmp_path / "other" / "amazon").rename(tmp_path / "office31-amazon")
    source = resolve_source(spec, data_root=tmp_path)
    assert Path(source.location) == tmp_path / "office31-amazon"  # the dataset's own name comes first
    assert len(load_amazon(Path(source.location), "all")[0]) == 31


def test_without_data_the_error_names_the_archive_and_the_flags(registry, tmp_path):
    with pytest.raises(UdabenchError) as error:
        resolve_source(registry.get("datasets", "office31-webcam"), data_root=tmp_path)
    message = str(error.value)
    for needed in ("domain_adaptation_images.tar.gz", "--data office31-webcam=PATH", "<root>/office31-webcam",
                   "<root>/office31", "webcam/"):
        assert needed in message


def test_train_and_test_share_one_decoded_tensor_at_the_cache_size(registry, office):
    prepared = prepare(registry, tiny_request(office))
    splits = load_task_data(prepared, registry, torch.device("cpu"), progress=False)
    assert splits["source_train"] is splits["source_test"] and splits["target_train"] is splits["target_test"]
    assert tuple(splits["source_train"].images.shape) == (62, 3, 28, 28)
    assert splits["source_train"].images.dtype == torch.uint8


# --- augmentation ------------------------------------------------------------------------------------


def ramp_batch(n=16, size=12):
    """uint8 images whose pixel values encode their column (channel 0) and row (channel 1)."""
    columns = torch.arange(size).view(1, 1, 1, size).expand(n, 1, size, size)
    rows = torch.arange(size).view(1, 1, size, 1).expand(n, 1, size, size)
    index = torch.arange(n).view(n, 1, 1, 1).expand(n, 1, size, size)
    return torch.cat([columns * 20, rows * 20, index], dim=1).to(torch.uint8)


def test_augmentation_shape_and_determinism():
    images = ramp_batch()
    first = Augmenter(("random_resized_crop", "hflip"), 8, seed=3)
    again = Augmenter(("random_resized_crop", "hflip"), 8, seed=3)
    other = Augmenter(("random_resized_crop", "hflip"), 8, seed=4)
    out = first(images)
    assert out.shape == (16, 3, 8, 8) and out.dtype == torch.float32
    assert torch.equal(out, again(images)) and not torch.equal(out, other(images))
    assert not torch.equal(first(images), out)  # a new draw per batch
    assert float(out.min()) >= 0 and float(out.max()) <= 255


def test_flips_happen_about_half_the_time_and_are_exact_mirrors():
    images = ramp_batch(n=200)
    out = Augmenter(("hflip",), 12, seed=0)(images)
    flipped = torch.tensor([torch.equal(o, i.float().flip(-1)) for o, i in zip(out, images)])
    kept = torch.tensor([torch.equal(o, i.float()) for o, i in zip(out, images)])
    assert bool((flipped ^ kept).all()) and 70 < int(flipped.sum()) < 130


def test_random_resized_boxes_stay_inside_the_image_and_follow_torchvision_ranges():
    generator = torch.Generator().manual_seed(0)
    for height, width in ((256, 256), (20, 50), (50, 20)):
        top, left, h, w = random_resized_boxes(5000, height, width, generator)
        assert bool((top >= 0).all() and (left >= 0).all() and (h >= 1).all() and (w >= 1).all())
        assert bool((top + h <= height).all() and (left + w <= width).all())
        area = (h * w).double() / (height * width)
        assert float(area.max()) <= 1.0 and float(area.min()) > 0.05
        ratio = w.double() / h.double()
        assert float(ratio.min()) > 0.6 and float(ratio.max()) < 1.7
    top, left, h, w = random_resized_boxes(2000, 256, 256, torch.Generator().manual_seed(1))
    assert len(set(top.tolist())) > 100 and len(set(h.tolist())) > 100


def test_a_box_is_cropped_exactly_and_mirrored(monkeypatch):
    images = ramp_batch(n=2)
    box = (torch.tensor([2, 0]), torch.tensor([3, 4]), torch.tensor([8, 8]), torch.tensor([8, 8]))
    monkeypatch.setattr("udabench.data.augment.random_resized_boxes", lambda n, h, w, g: box)
    plain = Augmenter(("random_resized_crop",), 8, seed=0)(images)
    assert torch.allclose(plain[0], images[0, :, 2:10, 3:11].float(), atol=1e-3)
    assert torch.allclose(plain[1], images[1, :, 0:8, 4:12].float(), atol=1e-3)
    augmenter = Augmenter(("random_resized_crop", "hflip"), 8, seed=0)
    out = augmenter(images)
    for index, (t, l) in enumerate(((2, 3), (0, 4))):
        crop = images[index, :, t:t + 8, l:l + 8].float()
        assert torch.allclose(out[index], crop, atol=1e-3) or torch.allclose(out[index], crop.flip(-1), atol=1e-3)


def test_without_a_random_crop_training_and_evaluation_take_the_centre(registry):
    images = ramp_batch(n=3)
    assert not Augmenter((), 8, seed=0)  # the runner leaves such batches to the normaliser's centre crop
    assert torch.equal(center_crop(images, 8), images[:, :, 2:10, 2:10])
    task = tiny_office_task(registry, resolution=8, cache=12)
    normalize = Normalizer(task, torch.device("cpu"))
    expected = (images[:, :, 2:10, 2:10].float() / 255 - torch.tensor(task.mean).view(1, 3, 1, 1)) \
        / torch.tensor(task.std).view(1, 3, 1, 1)
    assert torch.allclose(normalize(images), expected, atol=1e-5)


def test_the_runner_augments_training_batches_only(registry, office, monkeypatch):
    calls = []
    original = Augmenter.__call__

    def spy(self, images):
        calls.append(tuple(images.shape))
        return original(self, images)

    monkeypatch.setattr(Augmenter, "__call__", spy)
    seen = []
    from udabench_dann.method import DANN

    def predict(self, x):
        seen.append(tuple(x.shape))
        return self.model(x)

    monkeypatch.setattr(DANN, "predict", predict)
    request = tiny_request(office, steps=3)
    result = execute(prepare(registry, request), registry, request)
    assert result.status == "ok"
    assert calls == [(4, 3, 28, 28)] * 6  # source and target batch of each step, drawn at the cache size
    assert seen and {shape[1:] for shape in seen} == {(3, 24, 24)}  # evaluation: centre crops, 62 images


def test_unknown_augmentation_is_an_error_before_anything_loads(registry, office):
    from dataclasses import replace

    registry.add("tasks", replace(tiny_office_task(registry), name="office31-bad-aug", augment=("rotate",)), "tests")
    request = tiny_request(office)
    request.task = "office31-bad-aug"
    with pytest.raises(UdabenchError, match="unknown augmentation of task 'office31-bad-aug' 'rotate'"):
        prepare(registry, request)


# --- backbone learning-rate multiplier ------------------------------------------------------------------


def test_lr_groups_put_marked_backbone_parameters_at_the_multiplier():
    backbone, head = mark_backbone(nn.Linear(3, 4)), nn.Linear(4, 2)
    model = nn.Sequential(backbone, head)
    assert all(is_backbone_parameter(p) for p in backbone.parameters())
    assert not any(is_backbone_parameter(p) for p in head.parameters())
    hp = {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-3, "nesterov": True, "lr_schedule": "dann",
          "backbone_lr_mult": 0.1}
    optimizer = sgd(model, hp)
    assert len(optimizer.param_groups) == 2
    head_group, backbone_group = optimizer.param_groups
    assert head_group["params"] == list(head.parameters()) and head_group["lr"] == pytest.approx(0.01)
    assert backbone_group["params"] == list(backbone.parameters()) and backbone_group["lr"] == pytest.approx(0.001)
    schedule_lr(optimizer, hp, 0.5)
    lrs = sorted(g["lr"] for g in optimizer.param_groups)
    assert lrs[1] / lrs[0] == pytest.approx(10.0) and lrs[1] == pytest.approx(0.01 * (1 + 5) ** -0.75)
    assert len(lr_groups(model.parameters(), 0.01, {**hp, "backbone_lr_mult": 1.0})) == 1
    assert len(lr_groups(list(model.parameters()), 0.01, {"lr": 0.01})) == 1  # no such hyperparameter


@pytest.mark.parametrize("method", ["dann", "source-only", "shot"])
def test_methods_train_the_backbone_at_a_tenth_of_the_learning_rate(registry, office, method):
    prepared = prepare(registry, tiny_request(office, method=method))
    built = build_method(prepared, torch.device("cpu"), 31)
    built.begin_phase(prepared.method.phases[-1].name, 2)
    backbone = {id(p) for p in built.model.backbone.parameters()}
    for group in built.optimizer.param_groups:
        in_backbone = {id(p) in backbone for p in group["params"]}
        assert len(in_backbone) == 1
        assert group["lr"] == pytest.approx(0.001 if in_backbone.pop() else 0.01)


def test_digit_tasks_keep_one_group_at_the_full_rate(registry, tiny_digits):
    request = RunRequest(method="dann", task="mnist-usps", steps=1, batch_size=4, device="cpu", progress=False,
                         data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])})
    built = build_method(prepare(registry, request), torch.device("cpu"), 10)
    built.begin_phase("train", 1)
    assert [g["lr"] for g in built.optimizer.param_groups] == [0.01]


# --- the weights hyperparameter ---------------------------------------------------------------------------


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_local_state_dict_loads_with_or_without_the_imagenet_classifier(tmp_path):
    torch.manual_seed(0)
    full = timm.create_model("test_resnet", pretrained=False)  # with its 1000-class head "fc"
    path = tmp_path / "test_resnet.pth"
    torch.save(full.state_dict(), path)
    loaded = timm_model(3, 24, "test_resnet", weights=str(path))
    headless = {k: v for k, v in full.state_dict().items() if not k.startswith("fc.")}
    assert loaded.state_dict().keys() == headless.keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in headless.items())
    nested = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": headless, "epoch": 3}, nested)
    assert same_weights(timm_model(3, 24, "test_resnet", weights=str(nested)), loaded)


def test_a_file_of_another_architecture_is_a_one_line_error(tmp_path):
    path = tmp_path / "resnet10t.pth"
    torch.save(timm.create_model("resnet10t", pretrained=False, num_classes=0).state_dict(), path)
    with pytest.raises(UdabenchError) as error:
        timm_model(3, 24, "test_resnet", weights=str(path))
    message = str(error.value)
    assert "\n" not in message and "does not fit the backbone" in message and "of different shape" in message
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00 not a checkpoint")
    with pytest.raises(UdabenchError, match="cannot read the weights file"):
        timm_model(3, 24, "test_resnet", weights=str(garbage))


def test_the_weights_file_is_part_of_the_run_and_its_key(registry, office, tmp_path):
    path = tmp_path / "w.pth"
    torch.save(timm.create_model("test_resnet", pretrained=False, num_classes=0).state_dict(), path)
    scratch = prepare(registry, tiny_request(office))
    from_file = prepare(registry, tiny_request(office, overrides={"weights": str(path)}))
    assert from_file.hparams["weights"] == str(path.resolve()) and from_file.key != scratch.key
    assert from_file.config["backbone_weights"].startswith("sha256:")
    replaced = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    torch.save(replaced.state_dict(), path)
    again = prepare(registry, tiny_request(office, overrides={"weights": str(path)}))
    assert again.key != from_file.key  # same path, new content
    built = build_method(again, torch.device("cpu"), 31)
    assert same_weights(built.model.backbone, replaced)
    with pytest.raises(UdabenchError, match="--set weights=.*no such file"):
        prepare(registry, tiny_request(office, overrides={"weights": str(tmp_path / "missing.pth")}))


def test_the_runner_loads_a_file_into_a_backbone_without_a_weights_keyword(registry, tiny_digits, tmp_path):
    from udabench_backbones.networks import dann_digits

    torch.manual_seed(5)
    saved = dann_digits(1, 28)
    path = tmp_path / "digits.pt"
    torch.save(saved.state_dict(), path)
    request = RunRequest(method="source-only", task="mnist-usps", steps=1, batch_size=4, device="cpu",
                         progress=False, overrides={"weights": str(path)},
                         data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])})
    built = build_method(prepare(registry, request), torch.device("cpu"), 10)
    assert same_weights(built.model.backbone, saved)
    pretrained = RunRequest(**{**request.__dict__, "overrides": {"weights": "pretrained"}})
    with pytest.raises(UdabenchError, match="backbone 'dann-digits' has no published weights"):
        build_method(prepare(registry, pretrained), torch.device("cpu"), 10)


def test_pretrained_weights_come_through_timms_hub_path(monkeypatch, tmp_path):
    from safetensors.torch import save_file

    published = timm.create_model("test_resnet", pretrained=False)
    file = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in published.state_dict().items()}, str(file))
    asked = []

    def hub(repo_id, filename, **kwargs):
        asked.append((repo_id, filename))
        return str(file)

    monkeypatch.setattr("timm.models._hub.hf_hub_download", hub)
    loaded = timm_model(3, 24, "test_resnet", weights="pretrained")
    assert asked[0] == ("timm/test_resnet.r160_in1k", "model.safetensors")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in published.state_dict().items() if not k.startswith("fc."))
    assert timm_model(3, 24, "test_resnet", weights="pretrained:r160_in1k").out_features == 96


def test_an_unreachable_hub_is_a_one_line_error_that_says_what_to_do(monkeypatch, registry, office):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(repo_id, filename, **kwargs):
        raise LocalEntryNotFoundError("cannot reach the Hub and the file is not in the local cache")

    monkeypatch.setattr("timm.models._hub.hf_hub_download", offline)
    with pytest.raises(UdabenchError) as error:
        timm_model(3, 24, "test_resnet", weights="pretrained")
    message = str(error.value)
    assert "\n" not in message and "hf-hub:timm/test_resnet.r160_in1k" in message
    assert "LocalEntryNotFoundError" in message and "--set weights=PATH" in message and "--set weights=none" in message
    request = tiny_request(office, overrides={"weights": "pretrained"})
    with pytest.raises(UdabenchError, match="could not be loaded from the Hugging Face Hub"):
        execute(prepare(registry, request), registry, request)


def test_unknown_pretrained_tags_are_errors():
    with pytest.raises(UdabenchError, match=r"timm has no pretrained weights 'resnet50.nope' \(tags of resnet50: .*tv_in1k"):
        timm_model(3, 224, "resnet50", weights="pretrained:nope")
    with pytest.raises(UdabenchError, match="unknown tag 'nope'"):
        timm_model(3, 224, "resnet50.nope")


# --- the command line ---------------------------------------------------------------------------------------


def test_a_short_dann_run_on_generated_office_data_through_the_cli(tmp_path, capfd):
    make_office_root(tmp_path / "data" / "office31", size=(64, 64), per_class=1)
    store = tmp_path / "results.sqlite"
    capfd.readouterr()
    # main in this process: what the run trains and prints is the point, not an interpreter's start
    code = main(["run", "--method", "dann", "--task", "office31-a-w", "--backbone", TINY,
                 "--set", "weights=none", "--data-root", str(tmp_path / "data"), "--steps", "2", "--batch-size", "4",
                 "--device", "cpu", "--threads", "1", "--eval-points", "1", "--store", str(store), "--json",
                 "--no-progress"])
    out, err = capfd.readouterr()
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "ok" and run["task"] == "office31-a-w"
    assert run["config"]["hparams"]["backbone_lr_mult"] == 0.1 and run["config"]["hparams"]["dropout"] == 0.0
    assert run["config"]["backbone"] == TINY
    assert run["details"]["data"]["office31-webcam"]["sizes"] == {"train": 31, "test": 31}
    assert 0.0 <= run["metrics"]["accuracy"] <= 1.0


def test_the_cli_without_office_data_or_hub_says_what_is_needed(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    result = forked_cli("run", "--method", "dann", "--task", "office31-w-a", "--store", tmp_path / "x.sqlite",
                        env_extra={"UDABENCH_DATA": str(empty)})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "domain_adaptation_images.tar.gz" in result.stderr and "--data office31-webcam=PATH" in result.stderr
    make_office_root(empty / "office31", domains=("webcam", "amazon"), size=(64, 64), per_class=1)
    # With the data but neither the Hub nor its cache (HF_HUB_OFFLINE, an empty cache folder: read when
    # huggingface_hub is imported, so in a new interpreter):
    result = run_cli("run", "--method", "dann", "--task", "office31-w-a", "--store", tmp_path / "x.sqlite",
                     "--steps", "1", "--batch-size", "16", "--device", "cpu", "--no-progress",
                     env_extra={"UDABENCH_DATA": str(empty), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
                                "TORCH_HOME": str(tmp_path / "torch")})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "timm:resnet50.tv_in1k: the pretrained weights could not be loaded" in lines[0]
    assert "--set weights=PATH" in lines[0]
    assert Store(tmp_path / "x.sqlite").query() == []  # nothing stored
