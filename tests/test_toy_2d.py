"""The 2-D toy task and the pictures of a run: decision regions on ``toy-2d`` for every classification
method, labelled grids of generated images, features before and after adaptation.

Every registered classification method, built-in or installed, runs on ``toy-2d`` here with no
per-method code, as in the conformance test: a few steps per phase, and the row of decision-region
panels it must leave behind, at the size its number of snapshots gives.
"""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from udabench.cli import main
from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, prepare
from udabench.runner import pictures as pictures_module
from udabench.runner.checkpoints import SOURCE_MODEL_FILE
from udabench.runner.pictures import ADAPTATION_PICTURE, Snapshotter
from udabench.runner.point_pictures import PointPictures, points_of
from udabench_toy import points as moons

REGISTRY = load_registry(warn=False)
CLASSIFICATION = [name for name in REGISTRY.names("methods")
                  if "classification" in REGISTRY.get("methods", name).kinds]


def png_size(path):
    """(width, height) from a PNG header, checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def snapshot_steps(steps: int, count: int) -> list[int]:
    """The steps of a phase at which the runner takes a snapshot (``Snapshotter.maybe_save``'s rule)."""
    every = max(1, steps // count)
    return [step for step in range(1, steps + 1) if step % every == 0 or step == steps]


# --- the data -------------------------------------------------------------------------------------


def test_points_are_flat_two_channel_images_that_give_their_coordinates_back():
    images, labels = moons.source_moons("test")
    assert len(images) == len(labels) == moons.POINT_SIZES["test"]
    assert images[0].shape == (moons.POINT_SIZE, moons.POINT_SIZE, 2) and images[0].dtype == np.uint8
    assert all((image == image[0, 0]).all() for image in images[:50])  # flat: one value per channel
    assert np.bincount(labels).tolist() == [500, 500]
    rng = np.random.default_rng(5)
    points = rng.uniform(-1.9, 1.9, size=(20, 2))
    pixels = torch.from_numpy(np.stack(moons.to_pixels(points))).permute(0, 3, 1, 2)
    read = points_of((pixels.float() / 255 - 0.5) / 0.5).numpy() * moons.EXTENT  # the task's normalisation
    assert np.abs(read - points).max() <= moons.EXTENT / 255 + 1e-6  # one grey level


def test_the_target_is_the_source_turned_and_shifted():
    source, source_labels = moons.moons(4000, np.random.default_rng(0))
    target_images, target_labels = moons.target_moons("train")
    target = np.stack([image[0, 0] for image in target_images]).astype(float) / 127.5 - 1.0
    back = moons.rotate(target * moons.EXTENT - np.array(moons.SHIFT), -moons.ROTATION_DEGREES)
    for label in (0, 1):  # each moon's mean lands where the source's is
        assert np.abs(back[target_labels == label].mean(0) - source[source_labels == label].mean(0)).max() < 0.05


def test_toy_2d_is_registered_as_a_task_of_points():
    task = REGISTRY.get("tasks", "toy-2d")
    assert task.points and task.backbone == "toy-mlp"
    assert REGISTRY.get("datasets", task.source).classes == moons.MOON_CLASSES
    assert not REGISTRY.get("tasks", "toy-digits-m").points


# --- every classification method on toy-2d ----------------------------------------------------------


@pytest.mark.parametrize("method", CLASSIFICATION)
def test_every_method_draws_its_adaptation_on_toy_2d(method, tmp_path, monkeypatch):
    spec = REGISTRY.get("methods", method)
    short = {phase.steps_param: "2" for phase in spec.phases if phase.steps_param}
    given = {}  # (phase, step) -> the method's snapshot grids, as the point pictures received them
    record = PointPictures.record

    def spy(self, folder, phase, step, grids):
        given[phase, step] = {name: (images.clone(), per_row) for name, (images, per_row) in (grids or {}).items()}
        return record(self, folder, phase, step, grids)

    monkeypatch.setattr(PointPictures, "record", spy)
    request = RunRequest(method=method, task="toy-2d", steps=3, batch_size=8, device="cpu", overrides=short,
                         progress=False, snapshots=2)
    result = execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path)
    assert result.status == "ok"

    phase_steps = result.config["phase_steps"]
    expected = [(phase, step) for phase in phase_steps for step in snapshot_steps(phase_steps[phase], 2)]
    assert sorted(given) == sorted(expected)
    folder = tmp_path / "images"
    assert not list(folder.glob("*-*-0*.png"))  # 2-channel grids become points, not PNG grids
    picture = folder / ADAPTATION_PICTURE
    panels = len(expected)
    from udabench.plots import LEGEND_INCHES, PANEL_INCHES, POINT_DPI

    assert png_size(picture) == (round(POINT_DPI * (PANEL_INCHES * panels + LEGEND_INCHES)),
                                 round(POINT_DPI * (PANEL_INCHES + 0.5)))

    last = np.load(folder / f"points-{expected[-1][0]}-{expected[-1][1]:06d}.npz")
    assert last["regions"].shape == (PointPictures.GRID,) * 2
    assert set(np.unique(last["regions"])) <= {0, 1}
    assert math.isclose(float(last["accuracy"]), result.metrics["accuracy"], abs_tol=1e-6)
    grids = given[expected[-1]]
    assert len(last["samples"]) == sum(len(images) for images, _ in grids.values())  # every sample is drawn
    for name, (images, per_row) in grids.items():
        rows = math.ceil(len(images) / per_row)
        classed = last["sample_labels"][last["sample_grid"] == sorted(grids).index(name)]
        if name.startswith("generated") and rows == 2:  # a conditional generator's rows: its classes
            assert classed.tolist() == [i // per_row for i in range(len(images))]
        else:
            assert (classed == -1).all()

    source_phase = (len(spec.phases) > 1 and spec.phases[0].inputs == frozenset({"source"}))
    assert (tmp_path / SOURCE_MODEL_FILE).is_file() == source_phase


def test_no_snapshots_no_pictures(tmp_path):
    request = RunRequest(method="source-only", task="toy-2d", steps=4, batch_size=8, device="cpu", progress=False,
                         snapshots=0)
    execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path)
    assert not (tmp_path / "images").exists()


def test_without_matplotlib_the_run_keeps_its_panels_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    request = RunRequest(method="source-only", task="toy-2d", steps=4, batch_size=8, device="cpu", progress=False,
                         snapshots=2)
    result = execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path)
    assert result.status == "ok"
    assert len(list((tmp_path / "images").glob("points-*.npz"))) == 2
    assert not (tmp_path / "images" / ADAPTATION_PICTURE).exists()
    assert "pip install 'udabench[plot]'" in capsys.readouterr().err


# --- grids of generated images, one row per class ---------------------------------------------------


class Grids(torch.nn.Module):
    """Stands in for a method: a class-conditional grid (2 classes x 3) and a translation grid."""

    def snapshot(self):
        return {"generated": (torch.zeros(6, 1, 28, 28), 3), "translations": (torch.zeros(8, 1, 28, 28), 4)}


def test_a_grid_with_one_row_per_class_names_its_classes_and_step(tmp_path):
    from PIL import Image

    task = SimpleNamespace(mean=(0.5,), std=(0.5,), kind="classification", channels=1)
    snapshotter = Snapshotter(Grids(), task, tmp_path, 1, None, ("upper moon", "lower moon"))
    snapshotter.maybe_save("adapt", 10, 10)
    labelled = Image.open(tmp_path / "images" / "generated-adapt-000010.png").convert("L")
    plain = Image.open(tmp_path / "images" / "translations-adapt-000010.png")
    assert plain.size == (4 * 29 + 1, 2 * 29 + 1)  # not per class: the plain grid, 1 px padding
    scale = pictures_module.labelled_scale(28, 28)
    assert scale == 2  # 28 px digits are doubled
    grid_width, grid_height = (3 * 29 + 1) * scale, (2 * 29 + 1) * scale
    assert labelled.height == pictures_module.TITLE_HEIGHT + grid_height
    label_width = labelled.width - grid_width
    assert label_width > pictures_module.LABEL_MARGIN + 40  # "lower moon" at 13 px is wider than 40 px
    pixels = np.asarray(labelled)
    title = pixels[:pictures_module.TITLE_HEIGHT]
    assert (title < 128).any()  # the title is written
    top = pictures_module.TITLE_HEIGHT
    for row in range(2):  # each row's name, left of its images
        band = pixels[top + row * 29 * scale:top + (row + 1) * 29 * scale, :label_width]
        assert (band < 128).sum() > 20
    assert (pixels[pictures_module.TITLE_HEIGHT + 5, label_width + 5] == 128)  # zero in normalised space: grey


def test_labelled_grids_enlarge_small_images_towards_one_cell_size():
    scale = pictures_module.labelled_scale
    assert [scale(16, 16), scale(28, 28), scale(32, 32), scale(40, 40), scale(64, 64)] == [3, 2, 2, 1, 1]
    assert scale(28, 40) == scale(40, 28) == 1  # the longer side decides
    assert all(abs(side * scale(side, side) - pictures_module.LABELLED_CELL)
               <= abs(side * k - pictures_module.LABELLED_CELL) for side in range(8, 80) for k in range(1, 7))


@pytest.mark.parametrize("method", CLASSIFICATION)
def test_every_method_saves_its_grids_at_their_size(method, tiny_digits, tmp_path, monkeypatch):
    """On images (tiny grey digits, 10 classes): a grid with one row per class is labelled, any other
    grid is the plain one; each at the size its images give."""
    seen = {}
    original = Snapshotter.maybe_save

    def spy(self, phase, step, steps):
        taken = self.method.snapshot

        def recording():
            grids = taken()
            seen[phase, step] = {name: (tuple(images.shape), per_row) for name, (images, per_row) in grids.items()}
            return grids

        self.method.snapshot = recording
        try:
            original(self, phase, step, steps)
        finally:
            del self.method.snapshot

    monkeypatch.setattr(Snapshotter, "maybe_save", spy)
    spec = REGISTRY.get("methods", method)
    short = {phase.steps_param: "2" for phase in spec.phases if phase.steps_param}
    request = RunRequest(method=method, task="mnist-usps", steps=2, batch_size=8, device="cpu", overrides=short,
                         progress=False, snapshots=1,
                         data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])})
    execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path)
    from PIL import Image

    for (phase, step), grids in seen.items():
        for name, ((count, _, height, width), per_row) in grids.items():
            size = Image.open(tmp_path / "images" / f"{name}-{phase}-{step:06d}.png").size
            rows = math.ceil(count / per_row)
            plain = (per_row * (width + 1) + 1, rows * (height + 1) + 1)
            if name.startswith("generated") and rows == 10:
                scale = pictures_module.labelled_scale(height, width)
                assert size[1] == pictures_module.TITLE_HEIGHT + plain[1] * scale
                assert size[0] >= plain[0] * scale + pictures_module.LABEL_MARGIN + 6  # the names' column
            else:
                assert size == plain


# --- features before and after adaptation -----------------------------------------------------------


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    """A store with short toy-2d runs: source-only, DANN, and AdaBN (which has a source phase)."""
    from udabench.store import Store

    path = tmp_path_factory.mktemp("store") / "results.sqlite"
    ids = {}
    for method, sets in (("source-only", []), ("dann", []), ("adabn", ["source_steps=40", "adapt_steps=5"])):
        args = ["run", "--method", method, "--task", "toy-2d", "--steps", "40", "--device", "cpu", "--store", str(path),
                "--no-progress", "--snapshots", "1"]
        for value in sets:
            args += ["--set", value]
        assert main(args) == 0
        ids[method] = Store(path).query(method=method)[-1]["run_id"]
    return path, ids


def test_features_of_a_dann_run_beside_the_source_only_model(toy_store, tmp_path, capsys):
    path, ids = toy_store
    out = tmp_path / "features.png"
    capsys.readouterr()
    assert main(["plot", "--run", ids["dann"], "--features", "--embedding", "pca", "--store", str(path),
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    from udabench.plots import FEATURE_PANEL_INCHES, POINT_DPI

    assert png_size(out) == (round(POINT_DPI * (2 * FEATURE_PANEL_INCHES + 1.8)),
                             round(POINT_DPI * (FEATURE_PANEL_INCHES + 0.7)))


def test_features_come_from_the_source_phase_the_run_saved(toy_store):
    from udabench.features import FEATURE_SAMPLES, feature_panels
    from udabench.store import Store

    path, ids = toy_store
    store = Store(path)
    record = store.get(ids["adabn"])
    panels, classes, note = feature_panels(record, store, REGISTRY)
    assert note is None and classes == list(moons.MOON_CLASSES)
    assert [panel["title"].split(":")[0] for panel in panels] == ["before adaptation", "after adaptation"]
    assert "source phase" in panels[0]["title"]
    for panel in panels:
        assert panel["features"].shape == (2 * FEATURE_SAMPLES, 32)  # toy-2d's bottleneck
        assert (panel["domains"] == 1).sum() == FEATURE_SAMPLES
    # AdaBN changes no weight, only the batch-norm statistics: the features differ, the labels do not.
    assert not np.allclose(panels[0]["features"], panels[1]["features"])
    assert (panels[0]["labels"] == panels[1]["labels"]).all()
    # Source-only is its own source model: one panel, and a note that says why.
    panels, _, note = feature_panels(store.get(ids["source-only"]), store, REGISTRY)
    assert len(panels) == 1 and "source only" in note


def test_without_scikit_learn_tsne_falls_back_to_pca_with_a_note(monkeypatch):
    from udabench.plots import embed

    features = np.random.default_rng(0).normal(size=(40, 5))
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    points, note, used = embed(features, "tsne")
    assert points.shape == (40, 2) and used == "PCA" and "scikit-learn" in note
    # PCA: the first axis carries the most variance
    assert points[:, 0].var() >= points[:, 1].var()


def test_tsne_where_scikit_learn_is_installed():
    pytest.importorskip("sklearn")
    from udabench.plots import embed

    points, note, used = embed(np.random.default_rng(0).normal(size=(40, 5)), "tsne")
    assert points.shape == (40, 2) and note is None and used == "t-SNE"


def test_feature_plot_errors_are_one_line(toy_store, capsys):
    path, ids = toy_store
    assert main(["plot", "--suite", "toy", "--features", "--store", str(path)]) == 2
    assert "apply to --run" in capsys.readouterr().err
