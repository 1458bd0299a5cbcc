"""Feature extractors; each returns an ``nn.Module`` with an ``out_features`` attribute."""

from __future__ import annotations

import logging

import torch
from torch import nn

from udabench.api import UdabenchError


class ConvFeatures(nn.Module):
    """A convolutional stack followed by flattening; ``out_features`` is measured, not guessed."""

    def __init__(self, layers: nn.Sequential, in_channels: int, resolution: int):
        super().__init__()
        self.layers = layers
        with torch.no_grad():
            probe = torch.zeros(1, in_channels, resolution, resolution)
            try:
                self.out_features = int(self.layers(probe).flatten(1).shape[1])
            except RuntimeError as exc:
                raise UdabenchError(f"backbone cannot take {resolution}x{resolution} input: {exc}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(1)


def dann_digits(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 32, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )
    return ConvFeatures(layers, in_channels, resolution)


def dann_svhn(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(inplace=True),
    )
    return ConvFeatures(layers, in_channels, resolution)


def dann_signs(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 96, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(96, 144, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(144, 256, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )
    return ConvFeatures(layers, in_channels, resolution)


def lenet(in_channels: int, resolution: int) -> ConvFeatures:
    layers = nn.Sequential(
        nn.Conv2d(in_channels, 20, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Conv2d(20, 50, 5), nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
    )
    return ConvFeatures(layers, in_channels, resolution)


def timm_model(in_channels: int, resolution: int, model: str, weights: str = "none") -> nn.Module:
    """A timm model without its classifier. ``model`` may carry a pretrained tag (``resnet50.tv_in1k``).

    ``weights`` (see ``udabench.weights``): ``none`` initialises randomly; ``pretrained`` and
    ``pretrained:TAG`` take timm's published weights (the tag in ``model``, else ``TAG``, else timm's
    default for the architecture) through ``timm.create_model(pretrained=True)``, which reads them
    from the Hugging Face Hub or its local cache; a file path loads that state dict (an ImageNet
    classifier in it is dropped; everything else must fit).
    """
    import timm

    from udabench.api import weights as weights_module

    architecture, _, model_tag = model.partition(".")
    if architecture not in timm.list_models():
        raise UdabenchError(f"timm has no model '{architecture}' (see timm.list_models())")
    kind = weights_module.kind(weights)
    name = model
    if kind == weights_module.PRETRAINED:
        tag = weights_module.pretrained_tag(weights)
        if tag and model_tag and tag != model_tag:
            raise UdabenchError(f"timm:{model}: weights={weights} asks for the tag '{tag}', but the backbone "
                                f"name carries '{model_tag}'; name the tag once")
        name = f"{architecture}.{tag}" if tag and not model_tag else model
        published = name in timm.list_pretrained(name) if "." in name else bool(timm.list_pretrained(f"{name}.*"))
        if not published:
            known = ", ".join(t.split(".", 1)[1] for t in timm.list_pretrained(f"{architecture}.*")) or "none"
            raise UdabenchError(f"timm has no pretrained weights '{name}' (tags of {architecture}: {known})")
        return _pretrained_timm(name, in_channels)
    if model_tag and model not in timm.list_pretrained(model):
        raise UdabenchError(f"timm has no model '{model}' (unknown tag '{model_tag}' of {architecture})")
    network = timm.create_model(model, pretrained=False, num_classes=0, in_chans=in_channels)
    if kind == "file":
        classifier = network.pretrained_cfg.get("classifier") or ()
        classifier = (classifier,) if isinstance(classifier, str) else tuple(classifier)
        weights_module.load_into(network, weights, f"backbone 'timm:{model}'", ignore_prefixes=classifier)
    network.out_features = network.num_features
    return network


def _pretrained_timm(name: str, in_channels: int, **options) -> nn.Module:
    """``timm.create_model(name, pretrained=True, **options)``; an unreachable source is a one-line error."""
    import timm

    config = timm.models.get_pretrained_cfg(name)
    config = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    source = (f"the Hugging Face Hub (hf-hub:{config['hf_hub_id']})" if config.get("hf_hub_id")
              else config.get("url") or "timm's download location")
    # The hub client logs each retry of an unreachable host; the error below says it once.
    loggers = [logging.getLogger(logger) for logger in ("huggingface_hub", "timm")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        network = timm.create_model(name, pretrained=True, num_classes=0, in_chans=in_channels, **options)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        detail = f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
        raise UdabenchError(
            f"timm:{name}: the pretrained weights could not be loaded from {source} ({detail}); "
            f"where the hub is reachable, save them (timm.create_model('{name}', pretrained=True).state_dict()) "
            "and pass --set weights=PATH, or train from scratch with --set weights=none"
        ) from None
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    network.out_features = network.num_features
    return network
