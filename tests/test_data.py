"""Data loading: hub layout, image folders, official archives, and every kind of unusable input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datagen import SHARED_DATA, digit_images, make_hub_folder, png_bytes, write_parquet_split
from udabench.data.loading import load_split, resolve_source, to_protocol
from udabench.errors import UdabenchError
from udabench.plugins import load_registry


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


def test_parquet_folder_loads_as_uint8_tensor_at_task_protocol(registry, tiny_digits):
    task = registry.get("tasks", "mnist-usps")
    spec = registry.get("datasets", "usps")
    source = resolve_source(spec, tiny_digits["usps"])
    assert source.kind == "parquet"
    split = load_split(spec, source, "train", task)
    assert split.images.dtype == torch.uint8
    assert tuple(split.images.shape) == (48, 1, 28, 28)  # 16x16 upsampled to the task's 28x28
    assert split.labels.tolist() == [i % 10 for i in range(48)]


def test_grey_images_become_rgb_for_rgb_tasks(registry, tiny_digits):
    task = registry.get("tasks", "mnist-mnistm")
    spec = registry.get("datasets", "mnist")
    split = load_split(spec, resolve_source(spec, tiny_digits["mnist"]), "test", task)
    assert tuple(split.images.shape[1:]) == (3, 28, 28)
    assert torch.equal(split.images[:, 0], split.images[:, 2])


def test_rgb_to_grey_uses_luminance():
    red = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    red[..., 0] = 200
    grey = to_protocol(list(red), 8, 1, "test")
    assert int(grey[0, 0, 0, 0]) == round(200 * 0.299)


def test_fingerprint_depends_on_content_not_location(registry, tmp_path):
    spec = registry.get("datasets", "mnist")
    first = make_hub_folder(tmp_path / "a", 28, 1, seed=3, n_train=10, n_test=10)
    second = make_hub_folder(tmp_path / "b", 28, 1, seed=3, n_train=10, n_test=10)
    third = make_hub_folder(tmp_path / "c", 28, 1, seed=3, n_train=12, n_test=10)
    fingerprint = resolve_source(spec, first).fingerprint
    assert fingerprint == resolve_source(spec, second).fingerprint
    assert fingerprint != resolve_source(spec, third).fingerprint


def test_image_folder_layout(registry, tmp_path):
    from PIL import Image

    task = registry.get("tasks", "mnist-usps")
    spec = registry.get("datasets", "usps")
    images, labels = digit_images(20, 16, 1, seed=5)
    for split in ("train", "test"):
        for index, (image, label) in enumerate(zip(images, labels)):
            folder = tmp_path / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.squeeze(-1)).save(folder / f"{index:03d}.png")
    source = resolve_source(spec, tmp_path)
    assert source.kind == "imagefolder"
    split = load_split(spec, source, "test", task)
    assert len(split) == 20
    assert sorted(split.labels.tolist()) == sorted(labels.tolist())


def test_data_root_holds_one_folder_per_dataset(registry, tiny_digits):
    spec = registry.get("datasets", "mnist")
    source = resolve_source(spec, None, tiny_digits["mnist"].parent)
    assert source.kind == "parquet" and source.location.endswith("mnist")


def test_without_local_data_the_hub_id_and_revision_are_used(registry):
    spec = registry.get("datasets", "mnist")
    source = resolve_source(spec)
    assert (source.kind, source.location, source.revision) == ("hub", "ylecun/mnist", spec.revision)
    assert source.fingerprint == f"hub:ylecun/mnist@{spec.revision}"


def test_dataset_without_hub_copy_says_how_to_get_it(registry):
    with pytest.raises(UdabenchError, match=r"no Hugging Face Hub copy.*--data syndigits=PATH"):
        resolve_source(registry.get("datasets", "syndigits"))


def test_missing_folder(registry, tmp_path):
    with pytest.raises(UdabenchError, match="does not exist"):
        resolve_source(registry.get("datasets", "mnist"), tmp_path / "nowhere")


def test_folder_without_readable_split(registry, tmp_path):
    (tmp_path / "notes.txt").write_text("not a dataset")
    with pytest.raises(UdabenchError, match="no readable split"):
        resolve_source(registry.get("datasets", "mnist"), tmp_path)


def test_corrupt_parquet(registry, tmp_path):
    (tmp_path / "train-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "test-00000-of-00001.parquet").write_bytes(b"PAR1 nor this")
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match="could not read"):
        load_split(spec, resolve_source(spec, tmp_path), "train", registry.get("tasks", "mnist-usps"))


def test_missing_split_is_named(registry, tmp_path):
    images, labels = digit_images(8, 28, 1, seed=0)
    write_parquet_split(tmp_path, "train", images, labels)
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match=r"no 'test' split \(found: train\)"):
        load_split(spec, resolve_source(spec, tmp_path), "test", registry.get("tasks", "mnist-usps"))


def test_labels_outside_class_range(registry, tmp_path):
    images, _ = digit_images(8, 28, 1, seed=0)
    write_parquet_split(tmp_path, "train", images, [0, 1, 2, 3, 4, 5, 6, 11], num_classes=12)
    spec = registry.get("datasets", "mnist")
    # The copy's 12 class names already tell it apart, before any label is read.
    with pytest.raises(UdabenchError, match=r"expected 10 classes .*found 12 class names in its parquet metadata"):
        load_split(spec, resolve_source(spec, tmp_path), "train", registry.get("tasks", "mnist-usps"))


def test_four_channel_images_are_refused(registry, tmp_path):
    images = np.full((4, 28, 28, 4), 128, dtype=np.uint8)
    write_parquet_split(tmp_path, "train", images, [0, 1, 2, 3])
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match=r"mode RGBA \(4 channels\)"):
        load_split(spec, resolve_source(spec, tmp_path), "train", registry.get("tasks", "mnist-usps"))


def test_images_too_small_for_the_task(registry, tmp_path):
    import dataclasses

    images, labels = digit_images(4, 4, 1, seed=0, num_classes=4)
    write_parquet_split(tmp_path, "train", images, labels)
    # a dataset whose image_size is nominal (MNIST's 28x28 is fixed: 4x4 images are another dataset's)
    spec = dataclasses.replace(registry.get("datasets", "mnist"), fixed_size=False)
    with pytest.raises(UdabenchError, match="too small for the task's 28x28"):
        load_split(spec, resolve_source(spec, tmp_path), "train", registry.get("tasks", "mnist-usps"))


def test_undecodable_image_bytes(registry, tmp_path):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
    good = png_bytes(np.zeros((28, 28, 1), dtype=np.uint8))
    table = datasets.Dataset.from_dict(
        {"image": [{"bytes": good, "path": None}, {"bytes": b"\x89PNG broken", "path": None}], "label": [0, 1]},
        features=features)
    table.to_parquet(str(tmp_path / "train-00000-of-00001.parquet"))
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match="image 1 cannot be decoded"):
        load_split(spec, resolve_source(spec, tmp_path), "train", registry.get("tasks", "mnist-usps"))


@pytest.mark.parametrize("dataset, filename", [("svhn", "test_32x32.mat"), ("syndigits", "synth_test_32x32.mat")])
def test_official_matlab_archives(registry, tmp_path, dataset, filename):
    from scipy.io import savemat

    images, labels = digit_images(12, 32, 3, seed=7)
    official_labels = np.where(labels == 0, 10, labels).reshape(-1, 1)  # the archives write 0 as 10
    savemat(tmp_path / filename, {"X": np.transpose(images, (1, 2, 3, 0)), "y": official_labels})
    spec = registry.get("datasets", dataset)
    source = resolve_source(spec, tmp_path)
    assert source.kind == "archive"
    split = load_split(spec, source, "test", registry.get("tasks", "svhn-mnist"))
    assert split.labels.tolist() == labels.tolist()
    assert torch.equal(split.images[0].permute(1, 2, 0), torch.from_numpy(images[0]))


@pytest.mark.skipif(not (SHARED_DATA / "usps").is_dir(), reason="real data folder ../shared/data/usps is absent")
def test_real_usps_copy(registry):
    spec = registry.get("datasets", "usps")
    split = load_split(spec, resolve_source(spec, SHARED_DATA / "usps"), "test", registry.get("tasks", "usps-mnist"))
    assert len(split) == 2007
    assert set(split.labels.unique().tolist()) == set(range(10))


def test_generated_toy_datasets_need_no_files_and_are_reproducible(registry):
    task = registry.get("tasks", "toy-digits-m")
    source_spec, target_spec = registry.get("datasets", "toy-digits"), registry.get("datasets", "toy-digits-m")
    source = resolve_source(source_spec)
    assert source.kind == "generated" and source.fingerprint == "generated:udabench_toy.render:clean_digits@1"
    first = load_split(source_spec, source, "test", task)
    again = load_split(source_spec, resolve_source(source_spec), "test", task)
    target = load_split(target_spec, resolve_source(target_spec), "test", task)
    assert tuple(first.images.shape) == (1000, 3, 28, 28)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert torch.equal(first.images[:, 0], first.images[:, 1])  # grey source replicated to RGB
    assert not torch.equal(target.images[:, 0], target.images[:, 1])  # coloured target
    assert sorted(first.labels.unique().tolist()) == list(range(10))


def test_to_protocol_converts_in_chunks_and_can_release_the_decoded_arrays(monkeypatch):
    import numpy as np
    import torch

    from udabench.data import loading

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (8, 12, 3), dtype=np.uint8) for _ in range(3)]
    images += [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(2)]
    whole = loading.to_protocol(list(images), (8, 12), 3, "test")
    monkeypatch.setattr(loading, "CONVERT_CHUNK", 2)
    consumed = list(images)
    chunked = loading.to_protocol(consumed, (8, 12), 3, "test", release=True)
    assert torch.equal(whole, chunked)
    assert torch.equal(chunked[0], torch.from_numpy(images[0]).permute(2, 0, 1))  # same size: copied as is
    assert consumed == [None] * 5  # each array dropped once copied
