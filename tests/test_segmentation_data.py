"""Cityscapes, GTA5 and SYNTHIA (RAND-CITYSCAPES) readers: the official layouts generated here in
small (40x24 px frames), the id tables, resizing, the 16-bit PNG decoder and every refusal.

The label files are written as the archives hold them: Cityscapes ``*_labelIds.png`` as 8-bit grey,
GTA5 labels as palette PNGs whose colours differ from their ids, SYNTHIA labels as 16-bit 3-channel
PNGs (class id in the first channel, an instance id above 255 in the second) from the writer below,
which uses all five PNG row filters.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from udabench.errors import UdabenchError
from udabench_segmentation import datasets as seg
from udabench_segmentation.datasets import (
    CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, SYNTHIA_13_CLASSES, SYNTHIA_CLASSES, decode_png, load_cityscapes,
    load_gta5, load_synthia,
)

H, W = 24, 40
CAR, ROAD, SKY = CITYSCAPES_CLASSES.index("car"), CITYSCAPES_CLASSES.index("road"), CITYSCAPES_CLASSES.index("sky")
S_ROAD, S_CAR, S_SKY = SYNTHIA_CLASSES.index("road"), SYNTHIA_CLASSES.index("car"), SYNTHIA_CLASSES.index("sky")

# cityscapesScripts labels.py, trainId of ids 0..33, written out rather than derived from the names
OFFICIAL_TRAIN_IDS = [255, 255, 255, 255, 255, 255, 255, 0, 1, 255, 255, 2, 3, 4, 255, 255, 255, 5, 255, 6, 7, 8, 9,
                      10, 11, 12, 13, 14, 15, 255, 255, 16, 17, 18]


# --- writers --------------------------------------------------------------------------------------------


def write_png(path: Path, array: np.ndarray, filters=(0, 1, 2, 3, 4)) -> Path:
    """A non-interlaced grey/RGB(A) PNG of ``array`` (HxWxC, uint8 or uint16), row ``y`` filtered with
    ``filters[y % len(filters)]``; written by hand because PIL cannot write 16-bit RGB."""
    height, width, channels = array.shape
    depth = 16 if array.dtype == np.uint16 else 8
    raw = (array.astype(">u2") if depth == 16 else array.astype(np.uint8)).reshape(height, -1)
    x = np.ascontiguousarray(raw).view(np.uint8).reshape(height, -1).astype(np.int32)
    bpp = channels * depth // 8
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up = np.zeros_like(x)
    up[1:] = x[:-1]
    upleft = np.zeros_like(x)
    upleft[1:, bpp:] = x[:-1, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    predictors = {0: np.zeros_like(x), 1: left, 2: up, 3: (left + up) // 2, 4: paeth}
    body = b""
    for y in range(height):
        kind = filters[y % len(filters)]
        body += bytes([kind]) + ((x[y] - predictors[kind][y]) & 255).astype(np.uint8).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(body))
                     + chunk(b"IEND", b""))
    return path


def write_rgb(path: Path, seed: int, height: int = H, width: int = W) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def id_map(left: int, right: int, height: int = H, width: int = W, corner: int | None = None) -> np.ndarray:
    """Left half ``left``, right half ``right``, the top-left 4x4 ``corner`` when given."""
    ids = np.full((height, width), left, dtype=np.uint8)
    ids[:, width // 2:] = right
    if corner is not None:
        ids[:4, :4] = corner
    return ids


def write_palette_label(path: Path, ids: np.ndarray) -> Path:
    """A GTA5-style label: mode "P", pixel values the ids, colours unrelated to them."""
    image = Image.fromarray(ids.astype(np.uint8), mode="P")
    image.putpalette([(7 * i + 50) % 256 for i in range(256 * 3)])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def write_synthia_label(path: Path, ids: np.ndarray, instance_base: int = 300) -> Path:
    """A SYNTHIA-style label: 16-bit RGB, class id first, an instance id above 255 second."""
    height, width = ids.shape
    array = np.zeros((height, width, 3), dtype=np.uint16)
    array[..., 0] = ids
    array[..., 1] = instance_base + np.arange(height * width).reshape(height, width) % 500
    array[..., 2] = 0
    return write_png(path, array)


CITY_FRAMES = [("aachen", "aachen_000000_000019", (7, 26, 0)), ("aachen", "aachen_000001_000019", (8, 24, 33)),
               ("bremen", "bremen_000000_000019", (23, 11, 1))]


def make_cityscapes(root: Path, split: str = "train") -> Path:
    for index, (city, stem, (left, right, corner)) in enumerate(CITY_FRAMES):
        write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", seed=index)
        labels = root / "gtFine" / split / city
        labels.mkdir(parents=True, exist_ok=True)
        Image.fromarray(id_map(left, right, corner=corner), mode="L").save(labels / f"{stem}_gtFine_labelIds.png")
        # the other files of gtFine, which the reader must leave alone
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(labels / f"{stem}_gtFine_color.png")
        Image.fromarray(np.full((H, W), 250, np.uint8), mode="L").save(labels / f"{stem}_gtFine_instanceIds.png")
        (labels / f"{stem}_gtFine_polygons.json").write_text("{}")
    return root


def make_gta5(root: Path, count: int = 3) -> Path:
    for index in range(1, count + 1):
        write_rgb(root / "images" / f"{index:05d}.png", seed=10 + index)
        write_palette_label(root / "labels" / f"{index:05d}.png", id_map(7, 26, corner=0 if index == 1 else 21))
    return root


def make_synthia(root: Path, count: int = 2) -> Path:
    for index in range(count):
        write_rgb(root / "RGB" / f"{index:07d}.png", seed=20 + index)
        write_synthia_label(root / "GT" / "LABELS" / f"{index:07d}.png", id_map(3, 8, corner=16 if index == 0 else 22))
    return root


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory) -> Path:
    root = make_cityscapes(tmp_path_factory.mktemp("cityscapes"))
    make_cityscapes(root, "val")
    return root


@pytest.fixture(scope="module")
def gta5(tmp_path_factory) -> Path:
    return make_gta5(tmp_path_factory.mktemp("gta5"))


@pytest.fixture(scope="module")
def synthia(tmp_path_factory) -> Path:
    return make_synthia(tmp_path_factory.mktemp("synthia"))


# --- class tables ---------------------------------------------------------------------------------------


def test_class_tuples_and_id_tables_follow_the_official_definitions():
    assert len(CITYSCAPES_CLASSES) == 19 and CITYSCAPES_CLASSES[:3] == ("road", "sidewalk", "building")
    assert CITYSCAPES_CLASSES[-3:] == ("train", "motorcycle", "bicycle") and CITYSCAPES_CLASSES[13] == "car"
    assert SYNTHIA_CLASSES == tuple(c for c in CITYSCAPES_CLASSES if c not in ("terrain", "truck", "train"))
    assert len(SYNTHIA_CLASSES) == 16
    assert SYNTHIA_13_CLASSES == tuple(c for c in SYNTHIA_CLASSES if c not in ("wall", "fence", "pole"))
    assert len(SYNTHIA_13_CLASSES) == 13
    assert len(CITYSCAPES_PALETTE) == 19 and len(set(CITYSCAPES_PALETTE)) == 19
    assert CITYSCAPES_PALETTE[0] == (128, 64, 128) and CITYSCAPES_PALETTE[13] == (0, 0, 142)
    assert CITYSCAPES_PALETTE[10] == (70, 130, 180) and CITYSCAPES_PALETTE[18] == (119, 11, 32)
    assert list(seg.CITYSCAPES_ID_TO_TRAIN_ID) == OFFICIAL_TRAIN_IDS
    expected = {0: 255, 1: S_SKY, 2: 2, 3: S_ROAD, 4: 1, 5: 4, 6: 8, 7: 5, 8: S_CAR, 9: 7, 10: 10, 11: 15, 12: 14,
                13: 255, 14: 255, 15: 6, 16: 255, 17: 11, 18: 255, 19: 13, 20: 255, 21: 3, 22: S_ROAD}
    assert dict(enumerate(seg.SYNTHIA_ID_TO_INDEX)) == expected
    assert SYNTHIA_CLASSES[15] == "bicycle" and SYNTHIA_CLASSES[3] == "wall" and SYNTHIA_CLASSES[13] == "bus"


# --- the PNG decoder ------------------------------------------------------------------------------------


@pytest.mark.parametrize("filters", [(0, 1, 2, 3, 4, 4, 3, 2, 1), (1, 2, 0, 2, 1)], ids=["all", "no-average-paeth"])
@pytest.mark.parametrize("dtype,channels", [(np.uint16, 3), (np.uint16, 1), (np.uint16, 4), (np.uint8, 3),
                                            (np.uint8, 2)])
def test_decode_png_keeps_every_bit_through_all_five_filters(tmp_path, dtype, channels, filters):
    rng = np.random.default_rng(channels)
    high = 65536 if dtype == np.uint16 else 256
    array = rng.integers(0, high, (14, 9, channels)).astype(dtype)
    array[:3] = array[0, 0]  # flat rows, where filters predict exactly
    array[3:9] = rng.integers(0, 4, (6, 9, channels))  # few values: Paeth's ties between its neighbours
    path = write_png(tmp_path / "x.png", array, filters=filters)
    decoded = decode_png(path)
    assert decoded.dtype == dtype and decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)
    # the writer itself agrees with PIL, so the decoder is not checked against its own mistakes
    if dtype == np.uint8 and channels == 3:
        np.testing.assert_array_equal(np.asarray(Image.open(path)), array)
    if dtype == np.uint16 and channels == 3:
        np.testing.assert_array_equal(np.asarray(Image.open(path)), (array >> 8).astype(np.uint8))


@pytest.mark.parametrize("shape", [(13, 17, 3), (5, 3, 4), (1, 6, 3), (7, 1, 3)])
def test_both_16_bit_readers_agree_with_the_written_ids(tmp_path, shape):
    array = np.random.default_rng(sum(shape)).integers(0, 65536, shape).astype(np.uint16)
    path = write_png(tmp_path / "x.png", array, filters=(4, 3, 1, 0, 2, 3))
    assert seg._pil_16bit_works()  # PIL read twice is the path the loaders take here
    np.testing.assert_array_equal(seg._pil_16bit_colour(path), array)
    np.testing.assert_array_equal(seg.read_first_channel(path), array[..., 0])
    np.testing.assert_array_equal(decode_png(path), array)


def test_decode_png_refuses_what_it_cannot_read(tmp_path):
    (tmp_path / "a.png").write_bytes(b"GIF89a" + b"\0" * 40)
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 4), np.uint8), mode="P").save(tmp_path / "p.png")
    with pytest.raises(ValueError, match="colour type 3"):
        decode_png(tmp_path / "p.png")


# --- Cityscapes -----------------------------------------------------------------------------------------


def test_cityscapes_reads_label_ids_and_maps_them_to_train_ids(cityscapes):
    images, labels = load_cityscapes(cityscapes, "train", progress=False)
    assert len(images) == len(labels) == 3
    for index, (image, label) in enumerate(zip(images, labels)):
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        assert label.shape == (H, W) and label.dtype == np.uint8
        # by city, then by name, and the pixels as written
        np.testing.assert_array_equal(image, np.random.default_rng(index).integers(0, 256, (H, W, 3), dtype=np.uint8))
    first, second, third = labels
    assert first[10, 5] == ROAD and first[10, 30] == CAR and first[0, 0] == 255  # ids 7, 26, 0
    assert second[10, 5] == 1 and second[10, 30] == 11 and second[0, 0] == 18  # ids 8, 24, 33
    assert third[10, 5] == SKY and third[10, 30] == 2 and third[0, 0] == 255  # ids 23, 11, 1
    val_images, _ = load_cityscapes(cityscapes, "val", progress=False)
    assert len(val_images) == 3


def test_cityscapes_resizes_images_bilinear_and_labels_nearest(cityscapes):
    images, labels = load_cityscapes(cityscapes, "train", size=(12, 20), progress=False)
    assert all(image.shape == (12, 20, 3) and image.dtype == np.uint8 for image in images)
    assert all(label.shape == (12, 20) and label.dtype == np.uint8 for label in labels)
    original = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(original).resize((20, 12), Image.BILINEAR, reducing_gap=None))
    np.testing.assert_array_equal(images[0], expected)
    # nearest neighbours: only values of the native map, the halves kept, no blend of 0 and 13
    assert set(np.unique(labels[0])) == {ROAD, CAR, 255}
    assert (labels[0][:, 11:] == CAR).all() and (labels[0][3:, :9] == ROAD).all()
    assert set(np.unique(labels[1])) == {1, 11, 18}


def test_cityscapes_refuses_the_test_split_and_unknown_splits(cityscapes):
    with pytest.raises(UdabenchError, match="no public labels"):
        load_cityscapes(cityscapes, "test", progress=False)
    with pytest.raises(UdabenchError, match=r"no split 'training' \(known: train, val\)"):
        load_cityscapes(cityscapes, "training", progress=False)


def test_cityscapes_refuses_broken_layouts(tmp_path):
    with pytest.raises(UdabenchError, match="does not exist") as info:
        load_cityscapes(tmp_path / "nowhere", "train", progress=False)
    assert "nowhere" in str(info.value)
    root = make_cityscapes(tmp_path / "cs")
    (root / "leftImg8bit" / "val").mkdir()
    with pytest.raises(UdabenchError, match="has no gtFine/val/ folder"):
        load_cityscapes(root, "val", progress=False)
    (root / "gtFine" / "val").mkdir()
    with pytest.raises(UdabenchError, match="holds no CITY/\\*_leftImg8bit.png images"):
        load_cityscapes(root, "val", progress=False)

    label = root / "gtFine" / "train" / "bremen" / "bremen_000000_000019_gtFine_labelIds.png"
    moved = label.with_name("kept.png")
    label.rename(moved)
    with pytest.raises(UdabenchError, match="bremen_000000_000019_leftImg8bit.png has no label file"):
        load_cityscapes(root, "train", progress=False)
    moved.rename(label)

    extra = root / "gtFine" / "train" / "bremen" / "bremen_000009_000019_gtFine_labelIds.png"
    Image.fromarray(id_map(7, 7), mode="L").save(extra)
    with pytest.raises(UdabenchError, match="bremen_000009_000019_gtFine_labelIds.png has no image"):
        load_cityscapes(root, "train", progress=False)
    extra.unlink()

    Image.fromarray(id_map(7, 34), mode="L").save(label)
    with pytest.raises(UdabenchError) as info:
        load_cityscapes(root, "train", progress=False)
    assert "label id 34 in" in str(info.value) and label.name in str(info.value) and "(0-33)" in str(info.value)

    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(label)
    with pytest.raises(UdabenchError, match="RGB colour image, not a map of label ids") as info:
        load_cityscapes(root, "train", progress=False)
    assert label.name in str(info.value)

    Image.fromarray(id_map(7, 26, height=H, width=W + 2), mode="L").save(label)
    with pytest.raises(UdabenchError, match="is 40x24 but its label map") as info:
        load_cityscapes(root, "train", progress=False)
    assert "bremen_000000_000019_leftImg8bit.png" in str(info.value) and label.name in str(info.value)
    assert "\n" not in str(info.value)


# --- GTA5 -----------------------------------------------------------------------------------------------


def test_gta5_reads_palette_labels_as_ids(gta5):
    with Image.open(gta5 / "labels" / "00001.png") as label:
        assert label.mode == "P"  # as in the archive: reading colours instead would give other values
    images, labels = load_gta5(gta5, "train", progress=False)
    assert len(images) == 3
    assert all(image.shape == (H, W, 3) and image.dtype == np.uint8 for image in images)
    assert all(label.shape == (H, W) and label.dtype == np.uint8 for label in labels)
    np.testing.assert_array_equal(images[1], np.random.default_rng(12).integers(0, 256, (H, W, 3), dtype=np.uint8))
    assert labels[0][10, 5] == ROAD and labels[0][10, 30] == CAR and labels[0][0, 0] == 255  # 7, 26, 0
    assert labels[1][0, 0] == CITYSCAPES_CLASSES.index("vegetation")  # 21

    images, labels = load_gta5(gta5, "train", size=(6, 10), progress=False)
    assert images[0].shape == (6, 10, 3) and labels[0].shape == (6, 10)
    assert set(np.unique(labels[2])) <= {ROAD, CAR, 8} and (labels[2][:, 5:] == CAR).all()


def test_gta5_val_and_test_need_their_id_lists(tmp_path):
    root = make_gta5(tmp_path / "gta5", count=4)
    with pytest.raises(UdabenchError, match="no 'val' split") as info:
        load_gta5(root, "val", progress=False)
    assert "val.txt" in str(info.value)
    (root / "val.txt").write_text("00003\n4.png\n\n")
    images, _ = load_gta5(root, "val", progress=False)
    assert len(images) == 2
    np.testing.assert_array_equal(images[0], np.random.default_rng(13).integers(0, 256, (H, W, 3), dtype=np.uint8))
    assert len(load_gta5(root, "train", progress=False)[0]) == 4  # train stays every image
    (root / "test.txt").write_text("00009\n")
    with pytest.raises(UdabenchError, match="lists 00009") as info:
        load_gta5(root, "test", progress=False)
    assert "test.txt" in str(info.value)
    with pytest.raises(UdabenchError, match=r"known: train, sample, val, test"):
        load_gta5(root, "all", progress=False)


def test_the_sample_split_spreads_its_images_over_the_training_set(tmp_path, monkeypatch):
    import udabench_segmentation.datasets as datasets

    root = make_gta5(tmp_path / "gta5", count=6)
    monkeypatch.setattr(datasets, "SAMPLE_SIZE", 3)
    sample = datasets.gta5_pairs(root, "sample")
    assert [image.stem for image, _ in sample] == ["00001", "00003", "00005"]
    monkeypatch.setattr(datasets, "SAMPLE_SIZE", 500)  # fewer images than the sample: all of them
    assert len(datasets.gta5_pairs(root, "sample")) == 6


def test_gta5_refuses_unknown_ids_missing_files_and_size_mismatches(tmp_path):
    root = make_gta5(tmp_path / "gta5")
    label = root / "labels" / "00002.png"
    write_palette_label(label, id_map(7, 200))
    with pytest.raises(UdabenchError, match="label id 200 in .* is not a GTA5/Cityscapes label id \\(0-33\\)") as info:
        load_gta5(root, "train", progress=False)
    assert "00002.png" in str(info.value)

    write_palette_label(label, id_map(7, 26, height=H + 1))
    with pytest.raises(UdabenchError, match="but its label map") as info:
        load_gta5(root, "train", progress=False)
    assert "images/00002.png" in str(info.value) and "40x25" in str(info.value)

    label.unlink()
    with pytest.raises(UdabenchError, match="00002.png has no label file"):
        load_gta5(root, "train", progress=False)
    write_palette_label(label, id_map(7, 26))
    write_palette_label(root / "labels" / "00007.png", id_map(7, 26))
    with pytest.raises(UdabenchError, match="00007.png has no image"):
        load_gta5(root, "train", progress=False)

    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    with pytest.raises(UdabenchError, match="has no labels/ folder"):
        load_gta5(empty, "train", progress=False)
    (empty / "labels").mkdir()
    with pytest.raises(UdabenchError, match="holds no .png images") as info:
        load_gta5(empty, "train", progress=False)
    assert "images" in str(info.value)


def test_progress_bar_only_when_asked(gta5, capsys):
    load_gta5(gta5, "train", progress=False)
    assert "decode gta5/train" not in capsys.readouterr().err
    load_gta5(gta5, "train")
    assert "decode gta5/train" in capsys.readouterr().err


# --- SYNTHIA --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["default", "numpy"])
def test_synthia_reads_16_bit_labels_from_the_first_channel(synthia, monkeypatch, decoder):
    if decoder == "numpy":  # where PIL's decoder fails its check, decode_png reads the labels
        monkeypatch.setattr(seg, "_pil_16bit_works", lambda: False)
    images, labels = load_synthia(synthia, "train", progress=False)
    assert len(images) == 2
    assert images[0].shape == (H, W, 3) and images[0].dtype == np.uint8
    np.testing.assert_array_equal(images[1], np.random.default_rng(21).integers(0, 256, (H, W, 3), dtype=np.uint8))
    assert labels[0].shape == (H, W) and labels[0].dtype == np.uint8
    assert labels[0][10, 5] == S_ROAD == 0 and labels[0][10, 30] == S_CAR == 12  # ids 3, 8
    assert labels[0][0, 0] == 255  # 16, terrain
    assert labels[1][0, 0] == S_ROAD  # 22, lane marking
    assert set(np.unique(labels[0])) == {S_ROAD, S_CAR, 255}


def test_synthia_resizes_and_refuses_ids_above_22(tmp_path, monkeypatch):
    root = make_synthia(tmp_path / "synthia")
    images, labels = load_synthia(root, "train", size=(12, 20), progress=False)
    assert images[0].shape == (12, 20, 3) and labels[0].shape == (12, 20)
    assert (labels[0][:, 10:] == S_CAR).all() and set(np.unique(labels[0])) <= {S_ROAD, S_CAR, 255}

    label = root / "GT" / "LABELS" / "0000001.png"
    write_synthia_label(label, id_map(3, 23))
    with pytest.raises(UdabenchError, match="label id 23 in .*0000001.png is not a SYNTHIA label id \\(0-22\\)"):
        load_synthia(root, "train", progress=False)
    # 259 = 256 + 3: read by high or low byte only, it would pass as sky or road
    for decoder in ("default", "numpy"):
        if decoder == "numpy":
            monkeypatch.setattr(seg, "_pil_16bit_works", lambda: False)
        write_synthia_label(label, id_map(3, 3).astype(np.uint16) + np.uint16(256))
        with pytest.raises(UdabenchError, match="label id 259 in .*0000001.png"):
            load_synthia(root, "train", progress=False)


def test_synthia_refuses_broken_layouts(tmp_path):
    root = make_synthia(tmp_path / "synthia")
    with pytest.raises(UdabenchError, match=r"no split 'val' \(known: train, sample\)"):
        load_synthia(root, "val", progress=False)
    label = root / "GT" / "LABELS" / "0000001.png"
    label.unlink()
    with pytest.raises(UdabenchError, match="RGB/0000001.png has no label file"):
        load_synthia(root, "train", progress=False)
    write_synthia_label(label, id_map(3, 8, width=W - 1))
    with pytest.raises(UdabenchError, match="0000001.png is 40x24 but its label map .*0000001.png is 39x24"):
        load_synthia(root, "train", progress=False)
    label.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    with pytest.raises(UdabenchError, match="cannot decode the label file .*0000001.png"):
        load_synthia(root, "train", progress=False)
    (tmp_path / "bare" / "RGB").mkdir(parents=True)
    with pytest.raises(UdabenchError, match="has no GT/LABELS/ folder"):
        load_synthia(tmp_path / "bare", "train", progress=False)
