"""Traffic signs: the SynSigns and GTSRB archive readers, the hash split, the task and its reported rows.

The official layouts are generated here in small: a few .ppm images per class with the GTSRB CSV
files (ROI columns included), and a ``synthetic_data`` folder of PNGs with ``train_labelling.txt``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from datagen import forked_cli
from udabench.data.loading import load_split, resolve_source
from udabench.errors import UdabenchError
from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, prepare
from udabench_signs.archives import load_gtsrb, load_synsigns, synsigns_split_of

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GTSRB_SUBSET = SHARED_DATA / "gtsrb-35px-subset"
HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"
BORDER = 7  # pixel value outside every ROI box; the signs themselves are brighter


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


def sign_value(label: int, index: int) -> int:
    """The grey level a generated sign is filled with: tells class and image apart after loading."""
    return 40 + 4 * label + index


def write_ppm(path: Path, width: int, height: int, box, value: int) -> None:
    from PIL import Image

    x1, y1, x2, y2 = box
    array = np.full((height, width, 3), BORDER, dtype=np.uint8)
    array[y1:y2, x1:x2] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PPM")


def make_gtsrb(root: Path, classes=(0, 5, 42), per_class: int = 3, n_test: int = 5,
               test_csv_in: str | None = "Final_Test/Images") -> dict:
    """The official GTSRB layout under ``root/GTSRB``; returns the expected labels, boxes and values."""
    expected = {"train": [], "test": []}
    gtsrb = root / "GTSRB"
    for label in classes:
        folder = gtsrb / "Final_Training" / "Images" / f"{label:05d}"
        lines = [HEADER]
        for index in range(per_class):
            width, height = 30 + index, 28 + 2 * index
            box = (5, 6, width - 5, height - 4)
            name = f"{index:05d}_{index:05d}.ppm"
            write_ppm(folder / name, width, height, box, sign_value(label, index))
            lines.append(f"{name};{width};{height};{box[0]};{box[1]};{box[2]};{box[3]};{label}")
            expected["train"].append((label, box, sign_value(label, index)))
        (folder / f"GT-{label:05d}.csv").write_text("\n".join(lines) + "\n")
    images = gtsrb / "Final_Test" / "Images"
    lines = [HEADER]
    for index in range(n_test):
        label = classes[(index * 2) % len(classes)]
        width, height = 26 + 3 * index, 31
        box = (5, 5, width - 6, height - 5)
        name = f"{index:05d}.ppm"
        write_ppm(images / name, width, height, box, sign_value(label, 10 + index))
        lines.append(f"{name};{width};{height};{box[0]};{box[1]};{box[2]};{box[3]};{label}")
        expected["test"].append((label, box, sign_value(label, 10 + index)))
    # The test images archive ships this file without ClassId; it must never be taken for the labels.
    (images / "GT-final_test.test.csv").write_text(HEADER.rsplit(";", 1)[0] + "\n")
    if test_csv_in is not None:
        place = root if test_csv_in == "." else gtsrb / test_csv_in
        (place / "GT-final_test.csv").write_text("\n".join(lines) + "\n")
    return expected


def make_synsigns(root: Path, n: int = 100, num_classes: int = 3, order=None) -> dict[str, int]:
    """``root/synthetic_data`` as the archive unpacks; returns {listed name: class}."""
    from PIL import Image

    folder = root / "synthetic_data"
    (folder / "train").mkdir(parents=True)
    listed = {}
    for index in range(n):
        label = index % num_classes
        name = f"train/{index}.png"
        image = np.full((12, 14, 3), sign_value(label, index % 4), dtype=np.uint8)
        Image.fromarray(image).save(folder / name)
        listed[name] = label
    names = list(listed) if order is None else order(list(listed))
    (folder / "train_labelling.txt").write_text("".join(f"{name} {listed[name]} 1\n" for name in names))
    return listed


# --- registration -------------------------------------------------------------------------------


def test_task_protocol_and_datasets_are_registered(registry):
    task = registry.get("tasks", "synsign-gtsrb")
    assert (task.source, task.target, task.resolution, task.channels, task.backbone, task.suite) == (
        "synsigns", "gtsrb", 40, 3, "dann-signs", "signs")
    assert task.mean == (0.5, 0.5, 0.5) and task.std == (0.5, 0.5, 0.5)
    assert registry.providers["tasks"]["synsign-gtsrb"] == "udabench"
    synsigns, gtsrb = registry.get("datasets", "synsigns"), registry.get("datasets", "gtsrb")
    assert synsigns.hub_id is None and synsigns.local_loader == "udabench_signs.archives:load_synsigns"
    assert (gtsrb.hub_id, gtsrb.revision) == ("tanganke/gtsrb", "main")
    assert dict(gtsrb.sizes) == {"train": 39209, "test": 12630}
    assert synsigns.num_classes == gtsrb.num_classes == 43
    assert synsigns.classes == gtsrb.classes
    assert gtsrb.classes[14] == "Stop" and gtsrb.classes[42].startswith("End of no passing by vehicles")


def test_reported_rows_are_the_syn_sign_column_of_the_3cgan_table(registry):
    rows = registry.get("tasks", "synsign-gtsrb").reported
    assert [(r.method, r.value, r.udabench_method) for r in rows] == [
        ("DANN", 88.7, "dann"), ("DSN", 93.1, None), ("AssocDA", 97.6, None), ("VADA", 98.8, None),
        ("DIRT-T", 99.5, None), ("Source-Only", 78.3, "source-only"), ("3C-GAN (Ours)", 99.6, "3cgan"),
    ]
    assert all("3C-GAN" in r.source and "Syn.Sign" in r.source for r in rows)


# --- GTSRB --------------------------------------------------------------------------------------


def test_gtsrb_training_archive_labels_come_from_the_csv_and_images_are_cropped(tmp_path):
    expected = make_gtsrb(tmp_path)
    images, labels = load_gtsrb(tmp_path, "train")
    assert labels.dtype == np.int64
    assert labels.tolist() == [label for label, _, _ in expected["train"]]
    for image, (_, (x1, y1, x2, y2), value) in zip(images, expected["train"]):
        assert image.dtype == np.uint8 and image.shape == (y2 - y1, x2 - x1, 3)
        assert (image == value).all()  # the border (BORDER) is cut away entirely


def test_gtsrb_accepts_the_archive_root_or_its_gtsrb_folder(tmp_path):
    make_gtsrb(tmp_path)
    from_root, from_gtsrb = load_gtsrb(tmp_path, "test"), load_gtsrb(tmp_path / "GTSRB", "test")
    assert from_root[1].tolist() == from_gtsrb[1].tolist()
    assert all(np.array_equal(a, b) for a, b in zip(from_root[0], from_gtsrb[0]))


@pytest.mark.parametrize("place", ["Final_Test/Images", "Final_Test", ".", "GTSRB"])
def test_gtsrb_test_labels_are_found_where_they_are_unpacked(tmp_path, place):
    expected = make_gtsrb(tmp_path, test_csv_in="" if place == "GTSRB" else place)
    images, labels = load_gtsrb(tmp_path, "test")
    assert labels.tolist() == [label for label, _, _ in expected["test"]]
    assert [int(image[0, 0, 0]) for image in images] == [value for _, _, value in expected["test"]]
    assert [image.shape[:2] for image in images] == [(y2 - y1, x2 - x1) for _, (x1, y1, x2, y2), _ in expected["test"]]


def test_gtsrb_archive_goes_through_load_split_at_the_task_protocol(registry, tmp_path):
    make_gtsrb(tmp_path)
    spec, task = registry.get("datasets", "gtsrb"), registry.get("tasks", "synsign-gtsrb")
    source = resolve_source(spec, tmp_path)
    assert source.kind == "archive"
    split = load_split(spec, source, "train", task)
    assert tuple(split.images.shape) == (9, 3, 40, 40)
    assert split.labels.tolist() == [0, 0, 0, 5, 5, 5, 42, 42, 42]
    assert int(split.images.min()) > BORDER  # cropped before resizing: no border pixel survives


def test_gtsrb_test_labels_missing_names_the_file_and_the_archive(tmp_path):
    make_gtsrb(tmp_path, test_csv_in=None)
    with pytest.raises(UdabenchError, match=r"no GT-final_test\.csv .*GTSRB_Final_Test_GT\.zip"):
        load_gtsrb(tmp_path, "test")
    assert len(load_gtsrb(tmp_path, "train")[1]) == 9  # the training split does not need it


def test_gtsrb_folder_without_the_official_layout(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(UdabenchError, match="holds neither GTSRB/Final_Training nor GTSRB/Final_Test"):
        load_gtsrb(tmp_path, "train")
    (tmp_path / "GTSRB" / "Final_Test").mkdir(parents=True)
    with pytest.raises(UdabenchError, match="no Final_Training/Images .*GTSRB_Final_Training_Images.zip"):
        load_gtsrb(tmp_path, "train")


def test_gtsrb_class_folder_without_its_csv(tmp_path):
    make_gtsrb(tmp_path)
    (tmp_path / "GTSRB/Final_Training/Images/00005/GT-00005.csv").unlink()
    with pytest.raises(UdabenchError, match=r"00005 lacks its annotation file GT-00005\.csv"):
        load_gtsrb(tmp_path, "train")


def _rewrite_line(csv_path: Path, line_number: int, new_line: str) -> None:
    lines = csv_path.read_text().splitlines()
    lines[line_number - 1] = new_line
    csv_path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("new_line, message", [
    ("00001_00001.ppm;31;30;5;six;26;26;5", r"GT-00005\.csv line 3 is malformed: Roi"),
    ("00001_00001.ppm;31;30;5", r"GT-00005\.csv line 3 is malformed: 4 fields"),
    ("00001_00001.ppm;31;30;5;6;26;26;43", r"GT-00005\.csv line 3: ClassId 43 is outside 0\.\.42"),
    ("00009_00009.ppm;31;30;5;6;26;26;5", r"GT-00005\.csv line 3 lists 00009_00009\.ppm, which is missing"),
    ("00001_00001.ppm;31;30;5;6;40;26;5", r"GT-00005\.csv line 3: the ROI \(5,6\)-\(40,26\) does not fit the 31x30"),
])
def test_gtsrb_broken_csv_lines_are_named(tmp_path, new_line, message):
    make_gtsrb(tmp_path)
    _rewrite_line(tmp_path / "GTSRB/Final_Training/Images/00005/GT-00005.csv", 3, new_line)
    with pytest.raises(UdabenchError, match=message):
        load_gtsrb(tmp_path, "train")


def test_gtsrb_csv_without_roi_columns(tmp_path):
    make_gtsrb(tmp_path)
    csv_path = tmp_path / "GTSRB/Final_Training/Images/00000/GT-00000.csv"
    csv_path.write_text("Filename;Width;Height;ClassId\n00000_00000.ppm;30;28;0\n")
    with pytest.raises(UdabenchError, match=r"GT-00000\.csv lacks the column\(s\) Roi\.X1, Roi\.Y1, Roi\.X2, Roi\.Y2"):
        load_gtsrb(tmp_path, "train")


@pytest.mark.skipif(not GTSRB_SUBSET.is_dir(), reason="real data folder ../shared/data/gtsrb-35px-subset is absent")
def test_real_gtsrb_subset_loads_through_the_parquet_path(registry):
    spec, task = registry.get("datasets", "gtsrb"), registry.get("tasks", "synsign-gtsrb")
    source = resolve_source(spec, GTSRB_SUBSET)
    assert source.kind == "parquet"
    test = load_split(spec, source, "test", task)
    train = load_split(spec, source, "train", task)
    assert tuple(test.images.shape) == (1279, 3, 40, 40) and len(train) == 1720
    assert sorted(train.labels.unique().tolist()) == list(range(43))
    assert sorted(test.labels.unique().tolist()) == list(range(43))
    assert not torch.equal(test.images[:, 0], test.images[:, 2])  # real colour images


# --- SynSigns -----------------------------------------------------------------------------------


def test_synsigns_split_is_a_fixed_hash_of_the_file_name():
    names = [f"train/{i}.png" for i in range(40)]
    # Pinned: changing the rule would silently change the benchmark's SynSigns train/test split.
    assert [n for n in names if synsigns_split_of(n) == "test"] == ["train/1.png", "train/20.png", "train/21.png"]
    assert all(synsigns_split_of(n) == synsigns_split_of(n.split("/")[1]) for n in names)


def test_synsigns_registered_sizes_are_the_split_of_the_full_archive(registry):
    # The full archive's 100,000 images are train/0.png .. train/99999.png; a leaderboard compares
    # a run's split sizes with these to say whether it used the full dataset.
    full = [synsigns_split_of(f"{i}.png") for i in range(100_000)]
    sizes = registry.get("datasets", "synsigns").sizes
    assert dict(sizes) == {"train": full.count("train"), "test": full.count("test")}
    assert sizes["train"] + sizes["test"] == 100_000


def test_synsigns_train_and_test_are_disjoint_cover_everything_and_are_reproducible(tmp_path):
    listed = make_synsigns(tmp_path / "a")
    make_synsigns(tmp_path / "b", order=lambda names: names[::-1])  # same files, reversed listing
    splits = {}
    for split in ("train", "test"):
        images, labels = load_synsigns(tmp_path / "a", split)
        again = load_synsigns(tmp_path / "a" / "synthetic_data", split)  # the folder itself works too
        reordered = load_synsigns(tmp_path / "b", split)
        for other in (again, reordered):
            assert other[1].tolist() == labels.tolist()
            assert all(np.array_equal(x, y) for x, y in zip(images, other[0]))
        expected_names = sorted(n for n in listed if synsigns_split_of(n) == split)
        assert labels.tolist() == [listed[n] for n in expected_names]
        assert [int(image[0, 0, 0]) for image in images] == [
            sign_value(listed[n], int(n[6:-4]) % 4) for n in expected_names]
        splits[split] = set(expected_names)
    assert not splits["train"] & splits["test"]
    assert splits["train"] | splits["test"] == set(listed)
    assert 0 < len(splits["test"]) < len(splits["train"])


def test_synsigns_archive_goes_through_load_split(registry, tmp_path):
    make_synsigns(tmp_path)
    spec, task = registry.get("datasets", "synsigns"), registry.get("tasks", "synsign-gtsrb")
    source = resolve_source(spec, tmp_path)
    assert source.kind == "archive"
    split = load_split(spec, source, "test", task)
    assert tuple(split.images.shape[1:]) == (3, 40, 40)
    assert len(split) == sum(synsigns_split_of(f"{i}.png") == "test" for i in range(100))


def test_synsigns_without_labelling_file(tmp_path):
    (tmp_path / "synthetic_data" / "train").mkdir(parents=True)
    with pytest.raises(UdabenchError, match=r"no train_labelling\.txt in .*synthetic_data\.zip"):
        load_synsigns(tmp_path, "train")


def test_synsigns_listed_file_missing(tmp_path):
    make_synsigns(tmp_path, n=10)
    (tmp_path / "synthetic_data" / "train" / "4.png").unlink()
    with pytest.raises(UdabenchError, match=r"train_labelling\.txt line 5 lists train/4\.png, which is missing"):
        load_synsigns(tmp_path, "test")


@pytest.mark.parametrize("bad_line, message", [
    ("train/7.png", r"line 8 is malformed: expected '<file> <class 0\.\.42> \.\.\.'"),
    ("train/7.png seven 1", r"line 8 is malformed: the class 'seven' is not an integer"),
    ("train/7.png 43 1", r"line 8: class 43 is outside 0\.\.42"),
    ("train/2.png 2 1", r"line 8 lists train/2\.png again \(first on line 3\)"),
])
def test_synsigns_malformed_lines_are_named(tmp_path, bad_line, message):
    make_synsigns(tmp_path, n=10)
    _rewrite_line(tmp_path / "synthetic_data" / "train_labelling.txt", 8, bad_line)
    with pytest.raises(UdabenchError, match=r"train_labelling\.txt " + message):
        load_synsigns(tmp_path, "train")


# --- the task end to end ------------------------------------------------------------------------


def test_a_short_run_on_generated_archives(registry, tmp_path):
    make_synsigns(tmp_path / "synsigns")
    make_gtsrb(tmp_path / "gtsrb")
    request = RunRequest(method="source-only", task="synsign-gtsrb", steps=2, batch_size=4, device="cpu",
                         progress=False, data_root=str(tmp_path))
    result = execute(prepare(registry, request), registry, request, tmp_path / "run")
    assert result.status == "ok"
    assert 0.0 <= result.metrics["accuracy"] <= 1.0 and 0.0 <= result.metrics["source_accuracy"] <= 1.0


def test_cli_without_data_says_what_is_missing_and_how_to_get_it(tmp_path):
    store = tmp_path / "x.sqlite"
    empty_root = tmp_path / "data"
    empty_root.mkdir()
    result = forked_cli("run", "--method", "dann", "--task", "synsign-gtsrb", "--store", store,
                        env_extra={"UDABENCH_DATA": str(empty_root)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("udabench: error: dataset 'synsigns' has no Hugging Face Hub copy")
    for needed in ("synthetic_data.zip", "train_labelling.txt", "--data synsigns=PATH", "<root>/synsigns"):
        assert needed in lines[0]
    assert not store.exists()
