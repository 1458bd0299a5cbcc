"""Data that is not what a run asks for is refused in one line, never used quietly:

- a data root without a dataset's folder names the folder and what the root holds (no switch to the
  hub copy, which may be other data);
- a local copy whose class names, labels, channels or (where the spec fixes it) image size do not fit
  the dataset's spec, such as MNIST and USPS passed the wrong way round;
- ``list datasets`` shows where a run would read each dataset and how many images that copy holds,
  or says that the counts are unknown until it is loaded;
- hub revisions say whether they are pinned, in ``list datasets -v`` and in each stored run.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from datagen import REPO, SHARED_DATA, digit_images, make_hub_folder, forked_cli, png_bytes, run_cli, write_parquet_split
from udabench.data import integrity
from udabench.data.inventory import inventory
from udabench.data.loading import DataSource, load_split, resolve_source
from udabench.errors import UdabenchError
from udabench.runner import RunRequest, prepare


@pytest.fixture(scope="module")
def registry():
    from udabench.plugins import load_registry

    return load_registry(warn=False)


def one_error_line(process) -> str:
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, process.stderr
    assert lines[0].startswith("udabench: error: ") and "Traceback" not in process.stderr
    return lines[0]


def write_int_labels(folder, split, images, labels):
    """A parquet split whose labels are plain integers (no ClassLabel names in its metadata)."""
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    table = datasets.Dataset.from_dict({"image": [{"bytes": png_bytes(a), "path": None} for a in images],
                                        "label": [int(x) for x in labels]}, features=features)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


def write_named_split(folder, split, images, labels, names):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(names))})
    table = datasets.Dataset.from_dict({"image": [{"bytes": png_bytes(a), "path": None} for a in images],
                                        "label": [int(x) for x in labels]}, features=features)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


# --- a data root without the dataset's folder -------------------------------------------------------------


@pytest.fixture
def mnist_only_root(tmp_path, tiny_digits):
    root = tmp_path / "root"
    root.mkdir()
    (root / "mnist").symlink_to(tiny_digits["mnist"], target_is_directory=True)
    (root / "notes").mkdir()
    return root


def test_a_data_root_without_the_folder_stops_the_run_before_the_store(mnist_only_root, tmp_path):
    store = tmp_path / "store" / "r.sqlite"
    process = forked_cli("run", "--method", "source-only", "--task", "mnist-usps", "--data-root", mnist_only_root,
                         "--steps", "2", "--device", "cpu", "--threads", "1", "--store", store, "--no-progress")
    line = one_error_line(process)
    assert line == (f"udabench: error: data root {mnist_only_root} has no folder for 'usps' (expected "
                    f"{mnist_only_root / 'usps'}; it holds: mnist, notes); put usps there, pass --data usps=PATH, "
                    "or --data usps=hub for its Hugging Face Hub copy (flwrlabs/usps@main, unpinned)")
    assert not store.parent.exists()  # the store was never opened


def test_udabench_data_is_a_data_root_too(registry, mnist_only_root, monkeypatch):
    monkeypatch.setenv("UDABENCH_DATA", str(mnist_only_root))
    with pytest.raises(UdabenchError, match=r"has no folder for 'usps'"):
        prepare(registry, RunRequest(method="source-only", task="mnist-usps", progress=False))


def test_a_missing_data_root_is_named(registry, tmp_path):
    with pytest.raises(UdabenchError, match=r"data root .*nowhere does not exist"):
        resolve_source(registry.get("datasets", "usps"), data_root=tmp_path / "nowhere")


def test_the_hub_stays_reachable_by_name_and_without_a_data_root(registry, mnist_only_root):
    spec = registry.get("datasets", "usps")
    asked = resolve_source(spec, "hub", mnist_only_root)
    assert (asked.kind, asked.location, asked.revision) == ("hub", "flwrlabs/usps", spec.revision)
    assert resolve_source(spec).kind == "hub"  # no --data, no --data-root: the hub, as always
    assert resolve_source(registry.get("datasets", "mnist"), None, mnist_only_root).kind == "parquet"
    with pytest.raises(UdabenchError, match="'syndigits' has no Hugging Face Hub copy"):
        resolve_source(registry.get("datasets", "syndigits"), "hub")


def test_generated_datasets_need_no_folder_in_a_data_root(registry, tmp_path):
    assert resolve_source(registry.get("datasets", "toy-digits"), data_root=tmp_path).kind == "generated"


# --- copies that do not fit their spec ---------------------------------------------------------------------


def test_swapped_folders_are_refused_in_one_line_before_the_store(tiny_digits, tmp_path):
    store = tmp_path / "store" / "r.sqlite"
    process = forked_cli("run", "--method", "source-only", "--task", "mnist-usps", "--data",
                         f"mnist={tiny_digits['usps']}", "--data", f"usps={tiny_digits['mnist']}", "--steps", "2",
                         "--device", "cpu", "--threads", "1", "--store", store, "--no-progress")
    line = one_error_line(process)
    assert line == (f"udabench: error: data for 'mnist' in {tiny_digits['usps'].resolve()} does not fit the 'mnist' "
                    "spec: expected 28x28 px images (every mnist image is), found 16x16 px (32 of 32 images "
                    "checked in split 'train'); is it another dataset's folder? (pass --data mnist=PATH with the "
                    "right one)")
    assert not store.parent.exists()


def test_the_other_way_round_names_usps(registry, tiny_digits):
    request = RunRequest(method="source-only", task="mnist-usps", progress=False,
                         data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["mnist"])})
    with pytest.raises(UdabenchError, match=r"data for 'usps' .* expected 16x16 px images .* found 28x28 px"):
        prepare(registry, request)


def test_colour_images_for_a_grey_dataset(registry, tmp_path):
    make_hub_folder(tmp_path / "colour", 28, 3, seed=3)
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match=r"expected grey \(1-channel\) images, found colour images \(32 of 32"):
        integrity.check_source(spec, resolve_source(spec, tmp_path / "colour"), "train")


def test_grey_images_for_an_rgb_dataset(registry, tmp_path):
    make_hub_folder(tmp_path / "grey", 32, 1, seed=3)
    spec = registry.get("datasets", "mnistm")
    with pytest.raises(UdabenchError, match=r"expected RGB \(3-channel\) colour images, found grey \(1-channel\) ones"):
        integrity.check_source(spec, resolve_source(spec, tmp_path / "grey"), "test")


def test_grey_pixels_stored_as_rgb_still_count_as_grey(registry, tmp_path):
    images, labels = digit_images(40, 28, 1, seed=4)
    write_parquet_split(tmp_path, "train", np.repeat(images, 3, axis=-1), labels)
    spec = registry.get("datasets", "mnist")
    integrity.check_source(spec, resolve_source(spec, tmp_path), "train")  # no error


def test_class_names_of_another_dataset(registry, tmp_path):
    images, labels = digit_images(20, 32, 3, seed=5, num_classes=10)
    write_parquet_split(tmp_path, "train", images, labels, num_classes=43)
    spec = registry.get("datasets", "mnistm")
    with pytest.raises(UdabenchError, match=r"expected 10 classes \(0, 1, 2, 3, 4, 5, \.\.\. \(10 in all\)\), "
                                            r"found 43 class names in its parquet metadata"):
        integrity.check_source(spec, resolve_source(spec, tmp_path), "train")


def test_the_spec_names_in_another_order_would_swap_labels(registry, tmp_path):
    images, labels = digit_images(20, 28, 1, seed=5)
    write_named_split(tmp_path, "train", images, labels, [str(d) for d in range(9, -1, -1)])
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match=r"the same class names in its parquet metadata in another order "
                                            r"\(9, 8, 7, .*label 0 would be '9', not '0'"):
        integrity.check_source(spec, resolve_source(spec, tmp_path), "train")


def test_other_class_names_of_the_right_number_are_accepted(registry, tmp_path):
    images, labels = digit_images(20, 28, 1, seed=5)
    write_named_split(tmp_path, "train", images, labels, [f"digit {d}" for d in range(10)])
    spec = registry.get("datasets", "mnist")
    integrity.check_source(spec, resolve_source(spec, tmp_path), "train")


def test_labels_outside_the_classes_are_found_before_decoding(registry, tmp_path):
    images, _ = digit_images(8, 28, 1, seed=0)
    write_int_labels(tmp_path, "train", images, [0, 1, 2, 3, 4, 5, 6, 11])
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match=r"expected labels 0\.\.9 \(10 classes\), found label 11 in split 'train'"):
        integrity.check_source(spec, resolve_source(spec, tmp_path), "train")


def _image_folder(root, classes, size=32, channels=3):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            array = rng.integers(0, 255, (size, size, channels), dtype=np.uint8)
            Image.fromarray(array.squeeze(-1) if channels == 1 else array).save(folder / "0.png")
    return root


def test_numbered_class_folders_read_in_text_order_are_refused(registry, tmp_path):
    # GTSRB's class names, read from an image folder (the registered gtsrb reads the official archive)
    spec = dataclasses.replace(registry.get("datasets", "gtsrb"), local_loader=None)
    folder = _image_folder(tmp_path / "gtsrb", [str(i) for i in range(43)])
    with pytest.raises(UdabenchError, match=r"numbered class folders, which are read in text order \(0, 1, 10, 11, "
                                            r".*label 2 would be folder '10'"):
        integrity.check_source(spec, resolve_source(spec, folder), "train")
    padded = _image_folder(tmp_path / "padded", [f"{i:02d}" for i in range(43)])
    integrity.check_source(spec, resolve_source(spec, padded), "train")


def test_an_image_folder_missing_a_class_would_shift_the_labels(registry, tmp_path):
    spec = registry.get("datasets", "usps")
    folder = _image_folder(tmp_path / "usps", [str(d) for d in range(10) if d != 3], size=16, channels=1)
    with pytest.raises(UdabenchError, match=r"expected 10 classes .*found 9 class folders \(0, 1, 2, 4, 5"):
        integrity.check_source(spec, resolve_source(spec, folder), "train")


def test_the_decoded_data_cache_is_looked_at_only_after_the_checks(registry, tiny_digits, monkeypatch):
    from udabench.data import cache

    def never(*args, **kwargs):
        raise AssertionError("the cache was consulted before the data was checked")

    monkeypatch.setattr(cache, "cached", never)
    spec = registry.get("datasets", "mnist")
    with pytest.raises(UdabenchError, match="does not fit the 'mnist' spec"):
        load_split(spec, resolve_source(spec, tiny_digits["usps"]), "train", registry.get("tasks", "mnist-usps"))


def test_decoded_images_of_an_archive_are_checked_too(registry, tmp_path):
    from scipy.io import savemat

    images, labels = digit_images(12, 28, 3, seed=7)  # SVHN's archive holds 32x32 images
    savemat(tmp_path / "test_32x32.mat", {"X": np.transpose(images, (1, 2, 3, 0)), "y": labels.reshape(-1, 1) + 1})
    spec = registry.get("datasets", "svhn")
    with pytest.raises(UdabenchError, match=r"expected 32x32 px images \(every svhn image is\), found 28x28 px"):
        load_split(spec, resolve_source(spec, tmp_path), "test", registry.get("tasks", "svhn-mnist"))


REAL = {"mnist": "mnist", "mnist-t10k": "mnist", "usps": "usps", "mnistm-subset": "mnistm", "gtsrb32": "gtsrb",
        "gtsrb-35px-subset": "gtsrb"}


@pytest.mark.parametrize("folder, dataset", sorted(REAL.items()))
def test_the_real_copies_fit_their_specs_and_not_the_others(registry, folder, dataset):
    if not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"real data folder ../shared/data/{folder} is absent")
    for split in ("train", "test"):
        spec = registry.get("datasets", dataset)
        integrity.check_source(spec, resolve_source(spec, SHARED_DATA / folder), split)
    other = {"mnist": "usps", "usps": "mnist", "mnistm": "mnist", "gtsrb": "mnistm"}[dataset]
    spec = registry.get("datasets", other)
    with pytest.raises(UdabenchError, match=f"data for '{other}' in .*{folder} does not fit"):
        integrity.check_source(spec, resolve_source(spec, SHARED_DATA / folder), "train")


# --- list datasets -------------------------------------------------------------------------------------------


def table(stdout: str) -> dict[str, dict[str, str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0]: dict(zip(headers, row)) for row in rows}


def test_list_datasets_shows_the_copy_a_run_would_use_and_its_real_counts(mnist_only_root, tmp_path):
    process = run_cli("list", "datasets", "--data-root", mnist_only_root, "--data", "mnistm=hub",
                      env_extra={"HF_DATASETS_CACHE": str(tmp_path / "empty-cache")})
    assert process.returncode == 0 and process.stderr == "", process.stderr
    rows = table(process.stdout)
    assert rows["mnist"]["data from"] == f"{(mnist_only_root / 'mnist').resolve()} (parquet)"
    assert rows["mnist"]["images"] == "train 48, test 30 (counted in the folder)"
    assert rows["usps"]["data from"] == f"missing: {mnist_only_root / 'usps'}"
    assert rows["mnistm"]["data from"] == "hub Mike0307/MNIST-M@main (unpinned)"
    assert rows["mnistm"]["images"] == "unknown until loaded; nominal train 59,001, test 9,001"
    assert rows["gtsrb"]["hub id@revision"] == "tanganke/gtsrb@main (unpinned)"
    assert rows["toy-digits"]["data from"] == "generated"

    plain = table(run_cli("list", "datasets", env_extra={"HF_DATASETS_CACHE": str(tmp_path / "empty-cache"),
                                                          "UDABENCH_DATA": ""}).stdout)
    assert plain["gtsrb"]["images"] == "unknown until loaded; nominal train 39,209, test 12,630"
    assert plain["synsigns"]["data from"] == "no hub copy: --data or --data-root"


def test_hub_counts_come_from_the_datasets_cache_with_their_commit(registry, tmp_path, monkeypatch):
    commit = "0123456789abcdef0123456789abcdef01234567"
    info = tmp_path / "hf" / "tanganke___gtsrb" / "default" / "0.0.0" / commit / "dataset_info.json"
    info.parent.mkdir(parents=True)
    info.write_text(json.dumps({"splits": {"train": {"num_examples": 26640}, "test": {"num_examples": 12630}}}))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    spec = registry.get("datasets", "gtsrb")
    found = inventory(spec, None, None)
    assert found.images_cell(spec) == "train 26,640, test 12,630 (datasets cache, commit 0123456789ab)"
    pinned = dataclasses.replace(spec, revision="f" * 40)  # another commit's counts are not this one's
    assert inventory(pinned, None, None).images_cell(pinned).startswith("unknown until loaded")


def test_archive_counts_come_from_the_decoded_data_cache_once_loaded(registry, tmp_path):
    from scipy.io import savemat

    images, labels = digit_images(12, 32, 3, seed=7)
    savemat(tmp_path / "test_32x32.mat", {"X": np.transpose(images, (1, 2, 3, 0)), "y": labels.reshape(-1, 1) + 1})
    spec = registry.get("datasets", "svhn")
    assert inventory(spec, str(tmp_path), None).images_cell(spec).startswith("unknown until loaded")
    load_split(spec, resolve_source(spec, tmp_path), "test", registry.get("tasks", "svhn-mnist"))
    assert inventory(spec, str(tmp_path), None).images_cell(spec) == "test 12 (decoded cache)"


def test_list_datasets_with_a_data_root_imports_no_torch(mnist_only_root):
    code = (f"import sys\nfrom udabench.cli import main\nmain(['list', 'datasets', '--data-root', "
            f"{str(mnist_only_root)!r}])\nprint('HEAVY', sorted(m for m in ('torch', 'datasets', 'pandas') "
            "if m in sys.modules), file=sys.stderr)")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "HEAVY []" in process.stderr, process.stderr


def test_list_datasets_verbose_says_which_revisions_are_pinned():
    process = run_cli("list", "datasets", "-v")
    block = process.stdout.split("\nmnist: ", 1)[1].split("\n\n", 1)[0]
    assert "revision: hub revision 'main', unpinned: no commit hash was verified" in block
    assert "image_size 28x28, 1 channel(s): every image's size" in block


def test_a_stored_run_says_whether_its_hub_revision_was_pinned():
    from udabench.runner.task_data import _describe_data

    class Split:
        commit = "b" * 40

        def __len__(self):
            return 5

    unpinned = DataSource("mnist", "hub", "ylecun/mnist", "main")
    pinned = DataSource("mnist", "hub", "ylecun/mnist", "a" * 40)
    described = _describe_data(unpinned, {"source_train": Split()}, "source")
    assert (described["revision"], described["pinned"], described["commit"]) == ("main", False, "b" * 40)
    assert _describe_data(pinned, {"source_train": Split()}, "source")["pinned"] is True
    assert "unpinned" in unpinned.describe() and "unpinned" not in pinned.describe()


def test_a_hub_split_records_the_commit_datasets_read_it_from(registry, tiny_digits, tmp_path, monkeypatch):
    """``datasets`` resolves ``main`` to a commit and caches the files under it; the split keeps it,
    through the decoded-data cache too."""
    import datasets

    commit = "c0ffee" + "0" * 34
    real = datasets.load_dataset(str(tiny_digits["mnist"]))
    cached = {}
    for split in ("train", "test"):
        folder = tmp_path / "hf" / "ylecun___mnist" / "default" / "0.0.0" / commit
        folder.mkdir(parents=True, exist_ok=True)
        real[split].save_to_disk(str(tmp_path / split))
        arrow = next((tmp_path / split).glob("*.arrow"))
        cached[split] = datasets.Dataset.from_file(str(arrow.rename(folder / f"mnist-{split}.arrow")))
    asked = []

    def load_dataset(path, name=None, revision=None):
        asked.append((path, name, revision))
        return datasets.DatasetDict(cached)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    spec = registry.get("datasets", "mnist")
    task = registry.get("tasks", "mnist-usps")
    split = load_split(spec, resolve_source(spec), "test", task)
    assert asked == [("ylecun/mnist", None, "main")] and split.commit == commit and len(split) == 30
    again = load_split(spec, resolve_source(spec), "test", task)  # from the decoded-data cache
    assert len(asked) == 1 and again.commit == commit
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "nothing"))
    assert inventory(spec, None, None).images_cell(spec) == "test 30 (decoded cache, commit c0ffee000000)"


def test_a_sweep_file_may_ask_for_the_hub_copy_beside_a_data_root(tmp_path):
    from udabench.sweep import read_sweep_file

    file = tmp_path / "s.toml"
    file.write_text('methods = ["dann"]\ntasks = ["mnist-usps"]\ndata_root = "data"\n[data]\nusps = "hub"\n'
                    'mnist = "mine/mnist"\n')
    config = read_sweep_file(file)
    assert config.data == {"usps": "hub", "mnist": str(tmp_path / "mine" / "mnist")}
    assert config.data_root == str(tmp_path / "data")


def test_a_folder_rewritten_after_it_passed_is_checked_again(registry, tmp_path):
    import os

    spec = registry.get("datasets", "mnist")
    folder = make_hub_folder(tmp_path / "mnist", 28, 1, seed=1, n_train=8, n_test=8)
    integrity.check_source(spec, resolve_source(spec, folder), "train")
    integrity.check_source(spec, resolve_source(spec, folder), "train")  # passed: not read again
    make_hub_folder(folder, 16, 1, seed=2, n_train=8, n_test=8)  # the same file names, USPS-sized
    for path in folder.iterdir():
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    with pytest.raises(UdabenchError, match="found 16x16 px"):
        integrity.check_source(spec, resolve_source(spec, folder), "train")
