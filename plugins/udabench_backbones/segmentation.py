"""Segmentation networks: FCN-8s on VGG16, DeepLab-v2 and DeepLab-v3 on ResNet-101.

Each factory has the signature of a segmentation backbone,
``factory(in_channels, resolution, num_classes, weights="none") -> nn.Module``, and returns a
network that maps a normalised batch ``(N, in_channels, H, W)`` to class logits
``(N, num_classes, H, W)`` at the input size, for any ``H`` and ``W`` (``resolution``, the task's
``(height, width)``, is only a hint and is not needed). Every network has

* ``num_classes`` and ``dense = True``;
* ``encoder``: the ImageNet part, a timm model whose state dict keys are timm's (what
  ``weights=pretrained`` initialises; methods may treat it as the backbone, e.g. for a lower
  learning rate); everything else (score layers, ASPP) is initialised randomly or to zero;
* ``features(x)``: the deepest encoder feature map (documented per network).

``weights`` (see ``udabench.weights``): ``none`` initialises randomly; ``pretrained`` and
``pretrained:TAG`` take timm's published ImageNet weights for the encoder (timm's default tag for
the architecture, or ``TAG``) through ``timm.create_model(pretrained=True)``, from the Hugging Face
Hub or its local cache, an unreachable hub being a one-line ``UdabenchError``; a file path loads a
state dict of the whole segmentation network (keys ``encoder.*`` and the head's, as
``network.state_dict()`` saves them) or, if no key starts with ``encoder.``, a state dict of the
timm encoder alone (e.g. ``timm.create_model('resnet101.tv_in1k', pretrained=True).state_dict()``
saved where the hub is reachable; its ImageNet classifier is dropped) with the head left at its
initialisation. Either must fit exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from udabench.api import UdabenchError


def _upsample(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _timm_encoder(architecture: str, in_channels: int, weights: str, what: str, **options) -> nn.Module:
    """timm's ``architecture`` without its classifier, initialised as ``weights`` says (a file is loaded later)."""
    import timm

    from udabench.api import weights as weights_module

    from .networks import _pretrained_timm

    if weights_module.kind(weights) == weights_module.PRETRAINED:
        tag = weights_module.pretrained_tag(weights)
        name = f"{architecture}.{tag}" if tag else architecture
        published = name in timm.list_pretrained(name) if tag else bool(timm.list_pretrained(f"{architecture}.*"))
        if not published:
            known = ", ".join(t.split(".", 1)[1] for t in timm.list_pretrained(f"{architecture}.*")) or "none"
            raise UdabenchError(f"{what}: timm has no pretrained weights '{name}' for its encoder "
                                f"(tags of {architecture}: {known})")
        return _pretrained_timm(name, in_channels, **options)
    return timm.create_model(architecture, pretrained=False, num_classes=0, in_chans=in_channels, **options)


def _load_file(network: nn.Module, path: str, what: str, classifier: tuple[str, ...]) -> None:
    """Load ``path`` into the whole ``network``, or into ``network.encoder`` if it holds only encoder keys."""
    from udabench.api import weights as weights_module

    keys = list(weights_module.read_state_dict(path, what))
    if any(key.startswith("encoder.") for key in keys):
        weights_module.load_into(network, path, what)
    else:
        weights_module.load_into(network.encoder, path, f"{what} (encoder)", ignore_prefixes=classifier)


def _classifier_keys(encoder: nn.Module) -> tuple[str, ...]:
    classifier = getattr(encoder, "pretrained_cfg", {}).get("classifier") or ()
    return (classifier,) if isinstance(classifier, str) else tuple(classifier)


# ---------------------------------------------------------------------------------------------------
# FCN-8s (Long, Shelhamer and Darrell, CVPR 2015) on VGG16


class VGG16Encoder(nn.Module):
    """timm's VGG16 ``features`` (conv1_1..pool5) and ``pre_logits`` (fc6, fc7 as convolutions).

    fc6 keeps VGG's full 7x7x512 -> 4096 kernel and fc7 its 4096 -> 4096 (so that ImageNet weights
    initialise them, as in the paper), with the 7x7 kernel zero-padded by 3 so that fc7 has the
    size of pool5 (the paper instead pads the image by 100 px and crops). Dropout 0.5 follows fc6
    (``pre_logits.drop``) as in VGG; the FCN head drops fc7. State dict keys are timm's.
    """

    def __init__(self, vgg: nn.Module):
        super().__init__()
        self.features = vgg.features
        self.pre_logits = vgg.pre_logits
        self.pre_logits.fc1.padding = (3, 3)
        self.pretrained_cfg = getattr(vgg, "pretrained_cfg", {})

    def stages(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(pool3, pool4, fc7)``: 256 channels at stride 8, 512 at 16, 4096 at 32."""
        pool3 = self.features[:17](x)
        pool4 = self.features[17:24](pool3)
        pool5 = self.features[24:](pool4)
        mlp = self.pre_logits
        fc7 = mlp.act2(mlp.fc2(mlp.drop(mlp.act1(self._fc6(pool5)))))
        return pool3, pool4, fc7

    def _fc6(self, pool5: torch.Tensor) -> torch.Tensor:
        """fc6, a 7x7 convolution zero-padded by 3; on a map smaller than 4 pixels a side only the
        kernel's centre meets pixels, so only that part is applied (the same result, and a CPU
        backward pass of seconds rather than half a minute)."""
        fc6 = self.pre_logits.fc1
        centre_h, centre_w = fc6.kernel_size[0] // 2, fc6.kernel_size[1] // 2
        reach_h, reach_w = min(centre_h, pool5.shape[-2] - 1), min(centre_w, pool5.shape[-1] - 1)
        if (reach_h, reach_w) == (centre_h, centre_w):
            return fc6(pool5)
        weight = fc6.weight[:, :, centre_h - reach_h:centre_h + reach_h + 1, centre_w - reach_w:centre_w + reach_w + 1]
        return F.conv2d(pool5, weight, fc6.bias, padding=(reach_h, reach_w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)[2]


class FCN8s(nn.Module):
    """FCN-8s, the "at-once" variant: fc7, pool4 and pool3 scored and fused in one network.

    ``pool4`` is scaled by 0.01 and ``pool3`` by 1e-4 before scoring, as in the paper's at-once
    net (``pool3_scale``/``pool4_scale``; 1 gives the unscaled skips); the score layers start at
    zero as in the paper. Upsampling (score_fr x2, fused x2, fused x8) is fixed bilinear
    interpolation (the paper learns the two x2 steps from a bilinear start) to the skip's exact
    size. Any input size works: the input is zero-padded at the bottom and right to a multiple of
    32 (zero is the dataset mean after normalisation) so that pool3/pool4/fc7 line up exactly, and
    the logits are cropped back to the input size.
    """

    dense = True

    def __init__(self, encoder: VGG16Encoder, num_classes: int, pool3_scale: float = 1e-4,
                 pool4_scale: float = 0.01):
        super().__init__()
        self.num_classes = num_classes
        self.pool3_scale, self.pool4_scale = pool3_scale, pool4_scale
        self.encoder = encoder
        width = encoder.pre_logits.fc2.out_channels
        self.drop7 = nn.Dropout(0.5)
        self.score_fr = nn.Conv2d(width, num_classes, 1)
        self.score_pool4 = nn.Conv2d(512, num_classes, 1)
        self.score_pool3 = nn.Conv2d(256, num_classes, 1)
        for layer in (self.score_fr, self.score_pool4, self.score_pool3):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @staticmethod
    def _pad(x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return F.pad(x, (0, -width % 32, 0, -height % 32))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """fc7 (N, 4096, ceil(H/32), ceil(W/32)) after ReLU, of the input zero-padded to a multiple of 32.

        The dropout after fc6 is active in training mode; call ``eval()`` for a fixed feature extractor.
        """
        return self.encoder(self._pad(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pool3, pool4, fc7 = self.encoder.stages(self._pad(x))
        score = self.score_fr(self.drop7(fc7))
        score = _upsample(score, pool4.shape[-2:]) + self.score_pool4(pool4 * self.pool4_scale)
        score = _upsample(score, pool3.shape[-2:]) + self.score_pool3(pool3 * self.pool3_scale)
        score = _upsample(score, (pool3.shape[-2] * 8, pool3.shape[-1] * 8))
        return score[..., :height, :width]


def fcn8s_vgg16(in_channels: int, resolution: tuple[int, int], num_classes: int, weights: str = "none") -> FCN8s:
    """FCN-8s on VGG16 (fc6 7x7x4096, fc7 4096; about 134M parameters); ``weights`` as in the module doc."""
    from udabench.api import weights as weights_module

    what = "backbone 'fcn8s-vgg16'"
    vgg = _timm_encoder("vgg16", in_channels, weights, what, drop_rate=0.5)
    network = FCN8s(VGG16Encoder(vgg), num_classes)
    if weights_module.kind(weights) == "file":
        _load_file(network, weights, what, _classifier_keys(vgg))
    return network


# ---------------------------------------------------------------------------------------------------
# DeepLab-v2 and DeepLab-v3 on a dilated ResNet-101


def _resnet101_encoder(in_channels: int, weights: str, what: str, output_stride: int) -> nn.Module:
    """timm's ResNet-101 without pooling or classifier, dilated to ``output_stride``; ``encoder(x)`` is layer4."""
    return _timm_encoder("resnet101", in_channels, weights, what, global_pool="", output_stride=output_stride)


class ASPPv2(nn.Module):
    """DeepLab-v2's classifier: parallel 3x3 convolutions (dilation 6, 12, 18, 24) to the classes, summed."""

    def __init__(self, in_channels: int, num_classes: int, rates=(6, 12, 18, 24)):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=rate, dilation=rate) for rate in rates)
        for branch in self.branches:
            nn.init.normal_(branch.weight, 0.0, 0.01)
            nn.init.zeros_(branch.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(branch(x) for branch in self.branches)


class DeepLab(nn.Module):
    """A dilated ResNet encoder, a classifier on its last feature map, logits upsampled to the input size.

    ``features(x)``: ResNet layer4 (N, 2048, ceil(H/s), ceil(W/s)) after ReLU, ``s`` the output
    stride (8 here: layer3 and layer4 dilated 2 and 4 instead of strided).
    """

    dense = True

    def __init__(self, encoder: nn.Module, classifier: nn.Module, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.encoder = encoder
        self.classifier = classifier

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's last feature map (ResNet layer4)."""
        return self.encoder.forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _upsample(self.classifier(self.features(x)), x.shape[-2:])


def deeplabv2_resnet101(in_channels: int, resolution: tuple[int, int], num_classes: int,
                        weights: str = "none") -> DeepLab:
    """DeepLab-v2 as in AdaptSegNet: ResNet-101 at output stride 8 and the four-rate ASPP summed."""
    from udabench.api import weights as weights_module

    what = "backbone 'deeplabv2'"
    encoder = _resnet101_encoder(in_channels, weights, what, output_stride=8)
    network = DeepLab(encoder, ASPPv2(encoder.num_features, num_classes), num_classes)
    if weights_module.kind(weights) == "file":
        _load_file(network, weights, what, _classifier_keys(encoder))
    return network


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ASPPv3(nn.Module):
    """DeepLab-v3's head: ASPP (1x1, three dilated 3x3, image pooling; 256 channels, BN), a 1x1
    projection with BN, dropout 0.1 and a 1x1 classifier.

    The image-pooling branch has a biased 1x1 convolution and ReLU but no batch norm: batch norm
    of a 1x1 map needs more than one image per batch, and segmentation methods often train with one.
    """

    def __init__(self, in_channels: int, num_classes: int, rates=(12, 24, 36), width: int = 256):
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn_relu(in_channels, width)]
                                      + [_conv_bn_relu(in_channels, width, 3, rate) for rate in rates])
        self.pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, width, 1), nn.ReLU(inplace=True))
        self.project = _conv_bn_relu(width * (len(rates) + 2), width)
        self.dropout = nn.Dropout(0.1)
        self.classify = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [branch(x) for branch in self.branches]
        parts.append(self.pooling(x).expand(-1, -1, *x.shape[-2:]))
        return self.classify(self.dropout(self.project(torch.cat(parts, dim=1))))


def deeplabv3_resnet101(in_channels: int, resolution: tuple[int, int], num_classes: int,
                        weights: str = "none") -> DeepLab:
    """DeepLab-v3: ResNet-101 at output stride 8 and ASPP at rates 12, 24, 36 with image pooling."""
    from udabench.api import weights as weights_module

    what = "backbone 'deeplabv3'"
    encoder = _resnet101_encoder(in_channels, weights, what, output_stride=8)
    network = DeepLab(encoder, ASPPv3(encoder.num_features, num_classes), num_classes)
    if weights_module.kind(weights) == "file":
        _load_file(network, weights, what, _classifier_keys(encoder))
    return network
