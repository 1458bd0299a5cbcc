"""Image-to-image networks that translation methods share (CyCADA, SUIT): a ResNet-style
translator, a PatchGAN discriminator and the least-squares GAN loss.

The translator and discriminator follow CycleGAN's official code in shape (reflection-padded 7x7
stem, stride-2 downsampling, residual blocks, transposed-convolution upsampling, tanh; 4x4
convolutions with LeakyReLU 0.2 and instance norm), with N(0, 0.02) initial weights. They are fully
convolutional, so the same network takes digits and street scenes.
"""

from __future__ import annotations

import torch
from torch import nn

from udabench.specs import size_of


def _init_weights(module: nn.Module) -> None:
    """CycleGAN's initialisation: N(0, 0.02) convolution weights, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ResidualBlock(nn.Module):
    """x + (pad, conv3, instance norm, ReLU, pad, conv3, instance norm)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width),
        )

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """A ResNet-style image translator from ``channels`` to ``channels`` channels, same size, tanh output.

    7x7 stem, ``downsamplings`` stride-2 convolutions (doubling the width), ``blocks`` residual blocks,
    as many stride-2 transposed convolutions back to the input's exact size, a 7x7 convolution, tanh.
    """

    def __init__(self, channels: int, width: int, blocks: int, downsamplings: int):
        super().__init__()
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7),
                                  nn.InstanceNorm2d(width), nn.ReLU(inplace=True))
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        self.up_norm = nn.ModuleList()
        for index in range(downsamplings):
            narrow, wide = width * 2 ** index, width * 2 ** (index + 1)
            self.down.append(nn.Sequential(nn.Conv2d(narrow, wide, 3, stride=2, padding=1),
                                           nn.InstanceNorm2d(wide), nn.ReLU(inplace=True)))
            self.up.insert(0, nn.ConvTranspose2d(wide, narrow, 3, stride=2, padding=1))
            self.up_norm.insert(0, nn.Sequential(nn.InstanceNorm2d(narrow), nn.ReLU(inplace=True)))
        self.blocks = nn.Sequential(*[ResidualBlock(width * 2 ** downsamplings) for _ in range(blocks)])
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh())
        self.apply(_init_weights)

    def forward(self, x):
        h = self.stem(x)
        sizes = []
        for down in self.down:
            sizes.append(h.shape[-2:])
            h = down(h)
        h = self.blocks(h)
        for up, norm, size in zip(self.up, self.up_norm, reversed(sizes)):
            h = norm(up(h, output_size=size))  # output_size undoes odd sizes (28 -> 14 -> 7 -> 14 -> 28)
        return self.head(h)


def patch_discriminator(channels: int, width: int, layers: int, resolution: int | tuple[int, int]) -> nn.Sequential:
    """PatchGAN: one real/fake score per overlapping patch, no sigmoid (LSGAN).

    ``layers`` stride-2 4x4 convolutions (the first without normalisation), then two stride-1 4x4
    convolutions, the last giving one channel. Stride-2 layers are dropped while the map entering the
    stride-1 part would be smaller than 3 px, so that instance norm always sees several positions.
    """
    size = min(size_of(resolution))
    kept = 0
    while kept < layers and size // 2 >= 3:
        size //= 2
        kept += 1
    kept = max(kept, 1)
    modules: list[nn.Module] = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
    current = width
    for index in range(1, kept):
        wider = width * min(2 ** index, 8)
        modules += [nn.Conv2d(current, wider, 4, stride=2, padding=1), nn.InstanceNorm2d(wider),
                    nn.LeakyReLU(0.2, inplace=True)]
        current = wider
    wider = width * min(2 ** kept, 8)
    modules += [nn.Conv2d(current, wider, 4, stride=1, padding=1), nn.InstanceNorm2d(wider),
                nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(wider, 1, 4, stride=1, padding=1)]
    discriminator = nn.Sequential(*modules)
    discriminator.apply(_init_weights)
    return discriminator


def lsgan_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean (score - 1)^2 for ``real``, mean score^2 otherwise."""
    return ((scores - 1.0) ** 2).mean() if real else (scores ** 2).mean()
