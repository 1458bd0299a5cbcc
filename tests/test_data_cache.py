"""The decoded-data cache: a second load is memory-mapped from disk, and an entry that is stale,
corrupt or cut short is decoded again, never used."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from datagen import make_hub_folder
from udabench.data import cache
from udabench.data import loading
from udabench.data.loading import load_split, resolve_source
from udabench.plugins import load_registry


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("UDABENCH_CACHE", str(folder))
    return folder


@pytest.fixture
def decodes(monkeypatch):
    """Counts the splits that are really decoded (not served from the cache)."""
    calls = []
    original = loading._load_split_uncached

    def counting(*args, **kwargs):
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(loading, "_load_split_uncached", counting)
    return calls


def _load(registry, folder, split="train", task="mnist-usps"):
    spec = registry.get("datasets", "usps")
    return load_split(spec, resolve_source(spec, folder), split, registry.get("tasks", task))


def test_second_load_is_mapped_from_the_cache_with_equal_tensors(registry, tmp_path, cache_dir, decodes):
    folder = make_hub_folder(tmp_path / "usps", 16, 1, seed=3)
    first = _load(registry, folder)
    second = _load(registry, folder)
    assert decodes == ["train"]
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert second.images.dtype == torch.uint8 and second.labels.dtype == torch.int64
    assert second.num_classes == 10 and second.split == "train"
    assert [e["dataset"] for e in cache.entries(cache_dir)] == ["usps"]


def test_a_different_protocol_or_split_is_another_entry(registry, tmp_path, cache_dir, decodes):
    folder = make_hub_folder(tmp_path / "usps", 16, 1, seed=3)
    _load(registry, folder)
    _load(registry, folder, split="test")
    spec = registry.get("datasets", "usps")
    larger = dataclasses.replace(registry.get("tasks", "mnist-usps"), resolution=32)
    resized = load_split(spec, resolve_source(spec, folder), "train", larger)
    assert tuple(resized.images.shape[-2:]) == (32, 32)
    assert decodes == ["train", "test", "train"]
    assert len(cache.entries(cache_dir)) == 3


def test_rewritten_data_is_decoded_again(registry, tmp_path, cache_dir, decodes):
    folder = make_hub_folder(tmp_path / "usps", 16, 1, seed=3)
    before = _load(registry, folder)
    make_hub_folder(folder, 16, 1, seed=4)  # same file names, new content
    parquet = folder / "train-00000-of-00001.parquet"
    stat = parquet.stat()
    os.utime(parquet, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = _load(registry, folder)
    assert decodes == ["train", "train"]
    assert not torch.equal(before.images, after.images)


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate", "drop-record", "garble-record"])
def test_a_damaged_entry_is_rebuilt_not_trusted(registry, tmp_path, cache_dir, decodes, damage, capsys):
    folder = make_hub_folder(tmp_path / "usps", 16, 1, seed=3)
    good = _load(registry, folder)
    (entry,) = [p for p in cache_dir.iterdir() if p.is_dir()]
    images = entry / "images.bin"
    if damage == "flip-a-byte":
        data = bytearray(images.read_bytes())
        data[len(data) // 2] ^= 0xFF
        images.write_bytes(bytes(data))
    elif damage == "truncate":
        images.write_bytes(images.read_bytes()[:-7])
    elif damage == "drop-record":
        (entry / "entry.json").unlink()
    else:
        (entry / "entry.json").write_text("{not json")
    again = _load(registry, folder)
    assert decodes == ["train", "train"]
    assert torch.equal(good.images, again.images)
    assert "failed its check" in capsys.readouterr().err
    meta = json.loads((cache_dir / entry.name / "entry.json").read_text())
    assert meta["key"] == entry.name  # rebuilt in place, sound again
    _load(registry, folder)
    assert decodes == ["train", "train"]


def test_cache_off_decodes_every_time(registry, tmp_path, monkeypatch, decodes):
    monkeypatch.setenv("UDABENCH_CACHE", "off")
    folder = make_hub_folder(tmp_path / "usps", 16, 1, seed=3)
    _load(registry, folder)
    _load(registry, folder)
    assert decodes == ["train", "train"]
    assert cache.cache_folder() is None


def test_an_unwritable_cache_does_not_stop_a_run(registry, tmp_path, monkeypatch, decodes, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("UDABENCH_CACHE", str(blocker / "cache"))
    folder = make_hub_folder(tmp_path / "usps", 16, 1, seed=3)
    split = _load(registry, folder)
    assert len(split) == 48
    assert "continuing without it" in capsys.readouterr().err


def test_changed_reader_code_makes_a_new_key(tmp_path):
    description = {"data": "parquet:abc", "split": "train"}
    module_a, module_b = tmp_path / "reader_a.py", tmp_path / "reader_b.py"
    module_a.write_text("def read():\n    return 1\n")
    module_b.write_text("def read():\n    return 2\n")
    import importlib.util

    def load_module(path):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    a, b = load_module(module_a), load_module(module_b)
    assert cache.entry_key(description, [a]) != cache.entry_key(description, [b])
    assert cache.entry_key(description, [a]) == cache.entry_key(dict(description), [a])


def test_clear_frees_the_entries(registry, tmp_path, cache_dir):
    folder = make_hub_folder(tmp_path / "usps", 16, 1, seed=3)
    _load(registry, folder)
    assert cache.clear(cache_dir) > 0
    assert cache.entries(cache_dir) == []


def test_an_unpinned_hub_copy_is_keyed_by_the_commit_its_branch_points_at(registry, tmp_path, monkeypatch):
    """A branch (``main``) of a hub copy can move: the decoded entry follows the commit the Hugging Face
    Hub cache's ``refs`` file names, so new files are decoded again; no network is read."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    spec = registry.get("datasets", "mnist")
    task = registry.get("tasks", "mnist-usps")
    source = resolve_source(spec, "hub")
    assert source.kind == "hub" and not source.pinned

    def key(src):
        return cache.entry_key(loading._cache_description(spec, src, "train", task), [loading])

    unknown = key(source)
    refs = tmp_path / "hub" / f"datasets--{spec.hub_id.replace('/', '--')}" / "refs"
    refs.mkdir(parents=True)
    (refs / source.revision).write_text("A" * 40 + "\n")
    assert loading.hub_ref_commit(spec.hub_id, source.revision) == "a" * 40
    first = key(source)
    (refs / source.revision).write_text("b" * 40)
    moved = key(source)
    assert len({unknown, first, moved}) == 3
    (refs / source.revision).write_text("not a commit")
    assert loading.hub_ref_commit(spec.hub_id, source.revision) is None and key(source) == unknown
    # a pinned revision names its files already: the refs file plays no part
    pinned = dataclasses.replace(source, revision="c" * 40)
    before = key(pinned)
    (refs / source.revision).write_text("d" * 40)
    assert key(pinned) == before
