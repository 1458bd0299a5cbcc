"""AdaBN: the adapt phase re-estimates every batch-norm layer's statistics on target batches and
changes no weight; its source phase is source-only's training."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from methodkit import TinyBackbone, check_logs
from methodkit import state as snapshot
from udabench.cli import main
from udabench.api import Batch, MethodContext, is_batch_norm
from udabench_adabn.method import AdaBN
from udabench_adabn.plugin import udabench_methods

SPEC = udabench_methods()[0]
NUM_CLASSES = 3


class Identity(nn.Flatten):
    """A backbone that hands its (N, 2, 1, 1) input on as two features."""

    out_features = 2


def build(backbone, channels, resolution, bottleneck_dim, dropout=0.0):
    hparams = {**SPEC.hparams, "bottleneck_dim": bottleneck_dim, "dropout": dropout}
    context = MethodContext(NUM_CLASSES, channels, resolution, hparams, {"source": 2, "adapt": 3}, lambda: backbone)
    method = AdaBN(context)
    method.train()
    return method


def adapt(method, batches):
    method.begin_phase("adapt", len(batches))
    for step, x in enumerate(batches):
        check_logs(method.update("adapt", step, Batch(target_x=x)))


def batch_norm(method):
    [layer] = [m for m in method.modules() if is_batch_norm(m)]
    return layer


def test_the_running_mean_is_the_mean_of_the_target_features_seen():
    """Two features passed through unchanged: the statistics can be checked by hand."""
    method = build(Identity(), channels=2, resolution=1, bottleneck_dim=2)
    with torch.no_grad():
        linear = method.model.bottleneck[0]
        linear.weight.copy_(torch.eye(2))
        linear.bias.zero_()
    layer = batch_norm(method)
    layer.running_mean.fill_(100.0)  # statistics a source phase left, to be forgotten
    layer.running_var.fill_(100.0)
    layer.num_batches_tracked.fill_(50)
    batches = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[5.0, 6.0], [7.0, 8.0]])]
    adapt(method, [x.view(2, 2, 1, 1) for x in batches])
    # The mean of the four feature vectors; the variance the mean of the two batches' unbiased
    # variances (1 and 3 -> 2, 5 and 7 -> 2).
    assert torch.equal(layer.running_mean, torch.tensor([4.0, 5.0]))
    assert torch.equal(layer.running_var, torch.tensor([2.0, 2.0]))
    assert int(layer.num_batches_tracked) == 2


def test_adapt_changes_the_statistics_and_no_weight():
    torch.manual_seed(0)
    method = build(TinyBackbone(1, 4, dropout=0.5), channels=1, resolution=4, bottleneck_dim=8, dropout=0.5)
    method.begin_phase("source", 2)
    for step in range(2):
        x = torch.randn(8, 1, 4, 4)
        check_logs(method.update("source", step, Batch(source_x=x, source_y=torch.arange(8) % NUM_CLASSES)))
    before = snapshot(method)
    target = [torch.randn(8, 1, 4, 4) * 3 + 2 for _ in range(3)]  # another domain: shifted, wider
    adapt(method, target)
    after = snapshot(method)
    parameters = {name for name, _ in method.named_parameters()}
    assert parameters and all(torch.equal(before[name], after[name]) for name in parameters)
    layer = batch_norm(method)
    assert not torch.equal(before["model.bottleneck.1.running_mean"], layer.running_mean)
    assert not torch.equal(before["model.bottleneck.1.running_var"], layer.running_var)
    # The statistics of the network that predicts: dropout (in the backbone here) plays no part.
    method.eval()
    with torch.no_grad():
        features = method.model.bottleneck[0](method.model.backbone(torch.cat(target)))
    torch.testing.assert_close(layer.running_mean, features.mean(0))
    assert int(layer.num_batches_tracked) == 3


def run(*args):
    assert main(["run", "--task", "toy-digits-m", "--device", "cpu", "--threads", "1", "--batch-size", "16",
                 "--eval-points", "1", "--no-progress", "--json", *map(str, args)]) == 0


def weights(record):
    return torch.load(Path(record["artifacts"]) / "model.pt")


def test_end_to_end_from_scratch_and_from_a_source_only_run(store_path, capsys):
    """Its source phase trains what source-only trains (with the bottleneck's batch norm, which
    source-only leaves out by default); --source-run takes such a source-only run."""
    run("--method", "source-only", "--steps", 20, "--set", "bottleneck_bn=true", "--store", store_path)
    source = json.loads(capsys.readouterr().out)
    run("--method", "adabn", "--set", "source_steps=20", "--set", "adapt_steps=5", "--store", store_path)
    scratch = json.loads(capsys.readouterr().out)
    run("--method", "adabn", "--set", "adapt_steps=5", "--source-run", source["run_id"], "--store", store_path)
    reused = json.loads(capsys.readouterr().out)
    assert scratch["config"]["phase_steps"] == {"source": 20, "adapt": 5}
    assert reused["config"]["phase_steps"] == {"adapt": 5} and reused["config"]["source_run"] == source["key"]
    for record in (scratch, reused):
        assert record["status"] == "ok" and 0.0 <= record["metrics"]["accuracy"] <= 1.0
    trained, from_scratch, from_source = weights(source), weights(scratch), weights(reused)
    statistics = {name for name in trained if "running_" in name or "num_batches_tracked" in name}
    assert statistics
    for name in trained:
        if name in statistics:
            assert not torch.equal(trained[name], from_source[name])
        else:  # the same weights: adapt changed none, and the source phase is source-only's
            assert torch.equal(trained[name], from_scratch[name]) and torch.equal(trained[name], from_source[name])
