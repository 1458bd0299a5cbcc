"""How a run's arithmetic executes on its device: bf16 autocast (``--precision``) and the
channels-last memory format of convolutional ResNets (``--channels-last``).

``precision`` changes the numbers a run computes, so a bf16 run has its own key (the request's
``config`` holds ``precision`` only when it is not the default ``fp32``, which keeps the keys of runs
stored before the option existed). ``channels_last`` only reorders the same tensors in memory (a
different choice of convolution kernels on CUDA, which is not bit-deterministic there anyway), so it
is recorded in a run's details but is not part of its key.
"""

from __future__ import annotations

import contextlib
import re

# Backbones whose convolutions run faster channels-last on CUDA (tensor-core kernels of cuDNN).
RESNET_BACKBONE = re.compile(r"timm:(resnet|resnext|wide_resnet|seresnet|seresnext|resnetv2)")


def autocast(device, precision: str):
    """The context in which a run's updates and evaluation forward passes run: bf16 autocast on
    ``device`` (CUDA or CPU), or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def use_channels_last(setting: str, device, backbone_name: str) -> bool:
    """``on``/``off`` as given; ``auto``: on for a timm ResNet on CUDA, off otherwise."""
    if setting == "auto":
        return device.type == "cuda" and bool(RESNET_BACKBONE.match(backbone_name))
    return setting == "on"


def to_channels_last(method) -> None:
    """The method's 4-D parameters and buffers (convolution weights) in channels-last order."""
    import torch

    method.to(memory_format=torch.channels_last)
