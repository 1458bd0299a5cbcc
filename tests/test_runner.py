"""The runner: setting enforcement, determinism, divergence, checkpoints, run keys."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from udabench.errors import UdabenchError
from udabench.hookspecs import hookimpl
from udabench.hparams import HParam
from udabench.api import Method, TaskModel
from udabench.plugins import load_registry
from udabench.runner import RunFailed, RunRequest, execute, load_checkpoint, prepare
from udabench.specs import MethodSpec, Phase

# The test methods' one hyperparameter: the step whose update raises.
EXPLODE_AT = HParam(0, "step whose update raises an error (0: none)")


class SpyMethod(Method):
    """Records what each phase receives; trains a tiny model on whatever source it is given."""

    seen: list = []

    def __init__(self, context):
        super().__init__(context)
        self.model = TaskModel(context.make_backbone(), context.num_classes, 8)

    def begin_phase(self, phase, steps):
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.01)

    def update(self, phase, step, batch):
        SpyMethod.seen.append((phase, batch.source_x is not None, batch.source_y is not None,
                               batch.target_x is not None))
        x = batch.source_x if batch.source_x is not None else batch.target_x
        logits = self.model(x)
        loss = F.cross_entropy(logits, batch.source_y) if batch.source_y is not None else logits.logsumexp(1).mean()
        if self.hparams["explode_at"] and step + 1 >= self.hparams["explode_at"]:
            loss = loss * float("nan")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}

    def predict(self, x):
        return self.model(x)


@hookimpl
def udabench_methods():
    return [
        MethodSpec("spy-free", f"{__name__}:SpyMethod", "source-free",
                   (Phase("source", frozenset({"source"}), "source_steps"), Phase("adapt", frozenset({"target"}))),
                   {"source_steps": HParam(2, "steps of the source phase"), "explode_at": EXPLODE_AT}),
        MethodSpec("spy-uda", f"{__name__}:SpyMethod", "uda", (Phase("train", frozenset({"source", "target"})),),
                   {"explode_at": EXPLODE_AT}),
    ]


@pytest.fixture(scope="module")
def registry():
    import sys

    return load_registry(extra_plugins=[(sys.modules[__name__], "tests")], warn=False)


def registry_with(spec: MethodSpec):
    """The installed plugins plus one extra method, registered as a plugin module would be."""
    import types

    module = types.ModuleType(f"{spec.name}_plugin")
    module.udabench_methods = hookimpl(lambda: [spec])
    return load_registry(extra_plugins=[(module, "tests")], warn=False)


def request_for(tiny_digits, method, **kwargs):
    defaults = dict(method=method, task="mnist-usps", steps=3, batch_size=8, device="cpu",
                    data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])},
                    progress=False, log_every=1)
    defaults.update(kwargs)
    return RunRequest(**defaults)


def test_each_phase_receives_only_what_its_inputs_allow(registry, tiny_digits):
    SpyMethod.seen.clear()
    request = request_for(tiny_digits, "spy-free", steps=3)
    result = execute(prepare(registry, request), registry, request)
    assert result.status == "ok"
    assert SpyMethod.seen == [("source", True, True, False)] * 2 + [("adapt", False, False, True)] * 3
    SpyMethod.seen.clear()
    request = request_for(tiny_digits, "spy-uda", steps=2)
    execute(prepare(registry, request), registry, request)
    assert SpyMethod.seen == [("train", True, True, True)] * 2  # target arrives without labels: no field exists


def test_same_seed_same_result_on_cpu(registry, tiny_digits, tmp_path):
    request = request_for(tiny_digits, "dann", steps=4, overrides={"bottleneck_dim": "16", "discriminator_dim": "16"})
    prepared = prepare(registry, request)
    first = execute(prepared, registry, request, tmp_path / "a")
    second = execute(prepare(registry, request), registry, request, tmp_path / "b")
    assert first.metrics == second.metrics
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    weights_a, weights_b = load_checkpoint(first.checkpoint), load_checkpoint(second.checkpoint)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    other = request_for(tiny_digits, "dann", steps=4, seed=1, overrides={"bottleneck_dim": "16", "discriminator_dim": "16"})
    third = execute(prepare(registry, other), registry, other, tmp_path / "c")
    assert [h["loss"] for h in third.history] != [h["loss"] for h in first.history]


def test_checkpoint_is_weights_only(registry, tiny_digits, tmp_path):
    request = request_for(tiny_digits, "source-only", steps=2)
    result = execute(prepare(registry, request), registry, request, tmp_path)
    weights = torch.load(result.checkpoint, weights_only=True)
    assert "model.head.weight" in weights and weights["model.head.weight"].shape[0] == 10


def test_a_nan_loss_stops_the_run(registry, tiny_digits):
    request = request_for(tiny_digits, "spy-uda", steps=5, overrides={"explode_at": "3"})
    with pytest.raises(RunFailed, match=r"loss became nan in phase 'train' near step 3") as failure:
        execute(prepare(registry, request), registry, request)
    assert failure.value.result.status == "failed"
    assert len(failure.value.result.history) == 3 and math.isnan(failure.value.result.history[-1]["loss"])


def test_run_key_covers_config_and_data_but_not_the_device(registry, tiny_digits, tmp_path):
    base = prepare(registry, request_for(tiny_digits, "dann"))
    assert base.key == prepare(registry, request_for(tiny_digits, "dann", device="auto")).key
    assert base.key != prepare(registry, request_for(tiny_digits, "dann", seed=1)).key
    assert base.key != prepare(registry, request_for(tiny_digits, "dann", overrides={"lr": "0.02"})).key
    moved = tmp_path / "mnist"
    import shutil

    shutil.copytree(tiny_digits["mnist"], moved)
    assert base.key == prepare(registry, request_for(tiny_digits, "dann", data={
        "mnist": str(moved), "usps": str(tiny_digits["usps"])})).key


@pytest.mark.parametrize("change, message", [
    (dict(steps=0), "--steps must be positive"),
    (dict(batch_size=-4), "--batch-size must be positive"),
    (dict(device="tpu"), "--device must be one of"),
    (dict(data={"svhn": "x"}), "task 'mnist-usps' uses mnist and usps"),
    (dict(backbone="resnet"), "unknown backbone 'resnet'"),
])
def test_bad_requests_fail_before_any_work(registry, tiny_digits, change, message):
    with pytest.raises(UdabenchError, match=message):
        prepare(registry, request_for(tiny_digits, "dann", **change))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(registry, tiny_digits):
    request = request_for(tiny_digits, "dann", device="cuda")
    with pytest.raises(UdabenchError, match="CUDA is not available"):
        execute(prepare(registry, request), registry, request)


class FloatLogMethod(SpyMethod):
    def update(self, phase, step, batch):
        super().update(phase, step, batch)
        return {"loss": 0.5}


def test_update_must_return_tensors(registry, tiny_digits):
    spec = MethodSpec("floaty", f"{__name__}:FloatLogMethod", "uda", (Phase("train", frozenset({"source"})),),
                      {"explode_at": EXPLODE_AT})
    local = registry_with(spec)
    request = request_for(tiny_digits, "floaty", steps=1)
    with pytest.raises(UdabenchError, match="returned float for 'loss' from update"):
        execute(prepare(local, request), local, request)


def test_timm_backbone_by_name(registry, tiny_digits):
    request = request_for(tiny_digits, "source-only", steps=1, backbone="timm:resnet18",
                          overrides={"bottleneck_dim": "16"})
    prepared = prepare(registry, request)
    assert prepared.config["backbone"] == "timm:resnet18"
    result = execute(prepared, registry, request)
    assert result.status == "ok" and 0 <= result.metrics["accuracy"] <= 1


def test_unknown_timm_model(registry, tiny_digits):
    request = request_for(tiny_digits, "source-only", steps=1, backbone="timm:resnet-nope")
    with pytest.raises(UdabenchError, match="timm has no model 'resnet-nope'"):
        execute(prepare(registry, request), registry, request)


def test_task_protocol_hyperparameters_sit_between_method_defaults_and_set(registry, tiny_digits):
    assert registry.get("tasks", "usps-mnist").hparams == {"lr": 0.1}
    data = {"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])}
    plain = prepare(registry, request_for(tiny_digits, "dann"))
    protocol = prepare(registry, request_for(tiny_digits, "dann", task="usps-mnist", data=data))
    overridden = prepare(registry, request_for(tiny_digits, "dann", task="usps-mnist", data=data,
                                               overrides={"lr": "0.05"}))
    assert plain.hparams["lr"] == 0.01 and protocol.hparams["lr"] == 0.1 and overridden.hparams["lr"] == 0.05
    spy = prepare(registry, request_for(tiny_digits, "spy-uda", task="usps-mnist", data=data))
    assert "lr" not in spy.hparams  # only hyperparameters the method has are replaced


class GuardedImages:
    """Source images that count every read and raise on any read while a method adapts."""

    def __init__(self, images):
        self.images, self.reads = images, 0
        self.device = images.device

    def __getitem__(self, index):
        if SpyMethod.current_phase == "adapt":
            raise AssertionError("a source sample was read during adaptation")
        self.reads += 1
        return self.images[index]


def test_source_free_adaptation_cannot_read_a_source_sample(registry, tiny_digits, monkeypatch):
    import udabench.runner.loop as loop_module  # where execute looks load_task_data up

    real_load = loop_module.load_task_data
    guarded = {}

    def load_with_guard(*args, **kwargs):
        splits = real_load(*args, **kwargs)
        guarded["images"] = GuardedImages(splits["source_train"].images)
        splits["source_train"].images = guarded["images"]
        return splits

    monkeypatch.setattr(loop_module, "load_task_data", load_with_guard)
    monkeypatch.setattr(SpyMethod, "begin_phase", _tracking_begin_phase)
    SpyMethod.seen.clear()
    request = request_for(tiny_digits, "spy-free", steps=3)
    result = execute(prepare(registry, request), registry, request)
    assert result.status == "ok" and [s[0] for s in SpyMethod.seen].count("adapt") == 3
    assert guarded["images"].reads == 2  # the source phase read its two batches, adaptation none


def _tracking_begin_phase(self, phase, steps):
    SpyMethod.current_phase = phase
    self.optimizer = torch.optim.SGD(self.parameters(), lr=0.01)


SpyMethod.current_phase = None


class SnapshotMethod(SpyMethod):
    def snapshot(self):
        return {"samples": (torch.zeros(20, 1, 28, 28), 10)}


def test_snapshots_are_saved_as_png_grids(tiny_digits, tmp_path):
    from PIL import Image

    spec = MethodSpec("snappy", f"{__name__}:SnapshotMethod", "uda", (Phase("train", frozenset({"source"})),),
                      {"explode_at": EXPLODE_AT})
    local = registry_with(spec)
    request = request_for(tiny_digits, "snappy", steps=8, snapshots=2)
    execute(prepare(local, request), local, request, tmp_path)
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert files == ["samples-train-000004.png", "samples-train-000008.png"]
    grid = Image.open(tmp_path / "images" / files[-1])
    assert grid.size == (10 * 29 + 1, 2 * 29 + 1)  # 10 per row, 2 rows, 1 px padding
    assert grid.getpixel((5, 5))[0] == 128  # zero in normalised space is mid-grey with mean/std 0.5


def test_source_run_replaces_the_source_phase(registry, tiny_digits, tmp_path):
    source_request = request_for(tiny_digits, "source-only", steps=2, overrides={"bottleneck_dim": "8",
                                                                                 "dropout": "0",
                                                                                 "bottleneck_bn": "true"})
    source = execute(prepare(registry, source_request), registry, source_request, tmp_path)
    SpyMethod.seen.clear()
    request = request_for(tiny_digits, "spy-free", steps=2, source_run=source.key,
                          source_checkpoint=source.checkpoint)
    prepared = prepare(registry, request)
    assert list(prepared.config["phase_steps"]) == ["adapt"] and prepared.config["source_run"] == source.key
    assert prepared.key != prepare(registry, request_for(tiny_digits, "spy-free", steps=2)).key
    result = execute(prepared, registry, request)
    assert [s[0] for s in SpyMethod.seen] == ["adapt", "adapt"] and result.status == "ok"


def test_source_run_must_fit(registry, tiny_digits, tmp_path):
    source_request = request_for(tiny_digits, "source-only", steps=1, overrides={"bottleneck_dim": "32"})
    source = execute(prepare(registry, source_request), registry, source_request, tmp_path)
    request = request_for(tiny_digits, "spy-free", steps=1, source_run=source.key,
                          source_checkpoint=source.checkpoint)
    with pytest.raises(UdabenchError, match="its weights do not fit 'spy-free'"):
        execute(prepare(registry, request), registry, request)
    with pytest.raises(UdabenchError, match="no source-training first phase"):
        prepare(registry, request_for(tiny_digits, "dann", source_run=source.key))


def test_shot_takes_a_plain_head_from_a_source_only_run(registry, tiny_digits, tmp_path):
    source_request = request_for(tiny_digits, "source-only", steps=2, overrides={"bottleneck_bn": "true"})
    source = execute(prepare(registry, source_request), registry, source_request, tmp_path)
    shot_request = request_for(tiny_digits, "shot", steps=1, source_run=source.key, source_checkpoint=source.checkpoint)
    from udabench.runner import build_method

    method = build_method(prepare(registry, shot_request), torch.device("cpu"), 10)
    state = load_checkpoint(source.checkpoint)
    method.load_source_weights(state)
    assert torch.allclose(method.model.head.weight, state["model.head.weight"], atol=1e-6)
    assert torch.equal(method.model.backbone.layers[0].weight, state["model.backbone.layers.0.weight"])


class NoStep(Method):
    def begin_train(self):
        pass

    def predict(self, x):
        return x


class NoPredict(Method):
    def update_train(self, batch):
        return {}


@pytest.mark.parametrize("factory, message", [
    ("NoStep", "method 'incomplete' declares phase 'train' but NoStep defines no update_train\\(self, batch\\)"),
    ("NoPredict", "method 'incomplete' cannot be built: .*abstract"),
])
def test_a_method_missing_part_of_the_contract_is_a_clear_error(tiny_digits, factory, message):
    spec = MethodSpec("incomplete", f"{__name__}:{factory}", "uda", (Phase("train", frozenset({"source"})),), {})
    local = registry_with(spec)
    request = request_for(tiny_digits, "incomplete", steps=1)
    with pytest.raises(UdabenchError, match=message):
        execute(prepare(local, request), local, request)


def test_knobs_added_later_keep_old_run_keys_at_their_neutral_value():
    from udabench.hparams import KEY_NEUTRAL
    from udabench.runner import run_key

    before = {"steps": 10, "hparams": {"lr": 0.01}}
    assert run_key("dann", "mnist-usps", 0, {"steps": 10, "hparams": {"lr": 0.01, **KEY_NEUTRAL}}) == \
        run_key("dann", "mnist-usps", 0, before)
    assert run_key("dann", "mnist-usps", 0, {"steps": 10, "hparams": {"lr": 0.01, "backbone_lr_mult": 0.1}}) != \
        run_key("dann", "mnist-usps", 0, before)
