"""``--data NAME=FOLDER`` at a folder that holds several datasets is one line naming them; the usual
one-dataset parquet layouts, and a data root of dataset folders, are read as before."""

from __future__ import annotations

import pytest

from datagen import make_hub_folder
from udabench.data.loading import resolve_source
from udabench.errors import UdabenchError
from udabench.specs import DatasetSpec

SPEC = DatasetSpec("meter", "meter digits", None, "v1", ("train", "test"), tuple("0123456789"), (16, 16), 1)


@pytest.mark.parametrize("layout", [
    ["a/train-00000-of-00001.parquet", "b/train-00000-of-00001.parquet"],
    ["a/train/x.parquet", "a/test/x.parquet", "b/train/x.parquet"],
    ["a/data/train-00000-of-00001.parquet", "b/data/train-00000-of-00001.parquet"],
])
def test_a_folder_of_several_datasets_is_one_line_naming_them(tmp_path, layout):
    for path in layout:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")
    with pytest.raises(UdabenchError) as error:
        resolve_source(SPEC, tmp_path)
    assert str(error.value) == (f"data folder for 'meter' holds several datasets (parquet files in a, b): {tmp_path}; "
                                f"name the one for 'meter', e.g. --data meter={tmp_path / 'a'}")


@pytest.mark.parametrize("layout", [
    ["train-00000-of-00001.parquet", "test-00000-of-00001.parquet"],
    ["data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"],
    ["train/0.parquet", "test/0.parquet"],
    ["meter/train-00000-of-00001.parquet", "meter/test-00000-of-00001.parquet"],  # a hub config folder
])
def test_one_dataset_in_the_usual_parquet_layouts_is_still_read(tmp_path, layout):
    for path in layout:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")
    assert resolve_source(SPEC, tmp_path).kind == "parquet"


def test_a_data_root_of_dataset_folders_still_works(tmp_path):
    make_hub_folder(tmp_path / "meter", 16, 1, seed=0, n_train=4, n_test=4)
    make_hub_folder(tmp_path / "mnist", 28, 1, seed=0, n_train=4, n_test=4)
    assert resolve_source(SPEC, data_root=tmp_path).location == str((tmp_path / "meter").resolve())
