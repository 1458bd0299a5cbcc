"""The side-by-side pictures of segmentation runs: every registered segmentation method, built-in or
installed, runs a few steps per phase on the generated ``toy-scenes`` task with no per-method code,
as in the conformance test, and must leave each domain's picture behind at the size its columns
give, with a header over each column and a legend of the class colours under them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from udabench.plugins import load_registry
from udabench.runner import RunRequest, execute, prepare
from udabench.runner import pictures as pictures_module
from udabench.runner.pictures import SegmentationPictures, columns_layout, labelled_columns, palette_for

REGISTRY = load_registry(warn=False)
SEGMENTATION = [name for name in REGISTRY.names("methods") if "segmentation" in REGISTRY.get("methods", name).kinds]
TASK = REGISTRY.get("tasks", "toy-scenes")


def dark_pixels(pixels) -> int:
    return int((pixels.max(axis=-1) < 100).sum())


def test_a_picture_of_columns_has_headers_a_title_and_a_legend():
    import torch

    images = torch.rand(6, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    legend = [((230, 25, 75), "road"), ((60, 180, 75), "sidewalk"), ((0, 0, 0), "ignored")]
    picture = labelled_columns(images, 3, ["image", "prediction", "ground truth"], "target, step 7", legend)
    scale, text = columns_layout(32, 48)
    assert (scale, text) == (2, 1)  # 48 px wide scenes are drawn at twice their size
    band = pictures_module.TITLE_HEIGHT
    grid = ((3 * (48 + 2) + 2) * scale, (2 * (32 + 2) + 2) * scale)
    lines = (picture.height - 2 * band - grid[1]) / band
    assert picture.width == grid[0] and lines == int(lines) and 1 <= lines <= len(legend)
    pixels = np.asarray(picture)
    assert dark_pixels(pixels[:band]) > 20  # the title
    column = (48 + 2) * scale
    for index in range(3):  # a header over each column, and nothing written over the gaps between them
        assert dark_pixels(pixels[band:2 * band, 2 * scale + index * column:(index + 1) * column]) > 10
    below = pixels[2 * band + grid[1]:]
    for colour, _ in legend:  # each class's colour square, and its name beside it
        assert (below == colour).all(axis=-1).sum() >= (pictures_module.LEGEND_SWATCH - 2) ** 2
    assert dark_pixels(below) > 3 * 20
    # A title longer than the images widens the picture; 1024 px wide scenes get larger text.
    wide = labelled_columns(images[:3], 3, ["a", "b", "c"], "x" * 80, legend)
    assert wide.width > grid[0]
    assert columns_layout(512, 1024) == (1, 4)


@pytest.mark.parametrize("method", SEGMENTATION)
def test_every_segmentation_method_saves_its_pictures_at_their_size(method, tmp_path, monkeypatch):
    columns = {}  # picture name -> (images, images per row), as the run's pictures laid them out
    grids = SegmentationPictures.grids

    def spy(self):
        laid_out = grids(self)
        columns.update({name: (len(images), per_row) for name, (images, per_row) in laid_out.items()})
        return laid_out

    monkeypatch.setattr(SegmentationPictures, "grids", spy)
    spec = REGISTRY.get("methods", method)
    short = {phase.steps_param: "2" for phase in spec.phases if phase.steps_param}
    request = RunRequest(method=method, task="toy-scenes", steps=2, batch_size=4, device="cpu", overrides=short,
                         progress=False, snapshots=1, eval_points=1)
    result = execute(prepare(REGISTRY, request), REGISTRY, request, tmp_path)
    assert result.status == "ok"

    assert set(columns) == {"source-segmentation", "target-segmentation"}
    assert columns["target-segmentation"][1] == 3  # image, prediction, ground truth
    assert columns["source-segmentation"][1] in (3, 4)  # and the translation, for methods that translate
    height, width = TASK.resolution
    scale, text = columns_layout(height, width)
    band = pictures_module.TITLE_HEIGHT * text
    classes = len(TASK.classes)
    colours = [tuple(colour) for colour in palette_for(TASK, classes).tolist()]
    last_phase = list(result.config["phase_steps"])[-1]
    for name, (count, per_row) in columns.items():
        written = {path.name for path in (tmp_path / "images").glob(f"{name}-*.png")}
        assert written == {f"{name}-{phase}-{steps:06d}.png" for phase, steps in result.config["phase_steps"].items()}
        last = f"{name}-{last_phase}-{result.config['phase_steps'][last_phase]:06d}.png"
        picture = Image.open(tmp_path / "images" / last)
        picture = picture.convert("RGB")
        rows = math.ceil(count / per_row)
        grid = ((per_row * (width + 2) + 2) * scale, (rows * (height + 2) + 2) * scale)
        lines = (picture.height - 2 * band - grid[1]) / band
        assert picture.width == grid[0], (name, picture.size)
        assert lines == int(lines) and 1 <= lines <= classes + 1, (name, picture.size)
        pixels = np.asarray(picture)
        column = (width + 2) * scale
        for index in range(per_row):
            assert dark_pixels(pixels[band:2 * band, 2 * scale + index * column:(index + 1) * column]) > 10
        legend = pixels[2 * band + grid[1]:]
        for colour in colours:
            assert (legend == colour).all(axis=-1).sum() >= (pictures_module.LEGEND_SWATCH - 2) ** 2, (name, colour)
