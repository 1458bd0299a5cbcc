"""Segmentation backbones: FCN-8s/VGG16, DeepLab-v2 and DeepLab-v3 on ResNet-101 (tiny inputs, CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from udabench.errors import UdabenchError
from udabench.plugins import load_registry
from udabench.specs import takes_keyword
from udabench_backbones import segmentation

K = 5
FACTORIES = {
    "fcn8s-vgg16": segmentation.fcn8s_vgg16,
    "deeplabv2": segmentation.deeplabv2_resnet101,
    "deeplabv3": segmentation.deeplabv3_resnet101,
}


def _randomise_heads(network):
    """Give zero-initialised head parameters (FCN's score layers) random values, so outputs depend on them."""
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if not name.startswith("encoder.") and not parameter.any():
                parameter.normal_(0.0, 0.01)
    return network


@pytest.fixture(scope="module")
def networks():
    torch.manual_seed(0)
    return {name: _randomise_heads(factory(3, (64, 64), K)) for name, factory in FACTORIES.items()}


@pytest.fixture
def offline_hub(monkeypatch):
    """``timm.create_model(pretrained=True)`` fails as it does where the hub cannot be reached."""
    import timm

    create = timm.create_model

    def create_model(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load this file.\nsecond line")
        return create(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", create_model)


def test_registered_with_the_segmentation_signature():
    registry = load_registry(warn=False)
    for name, factory in FACTORIES.items():
        spec = registry.get("backbones", name)
        module_name, _, function = spec.factory.partition(":")
        assert getattr(__import__(module_name, fromlist=[function]), function) is factory
        assert takes_keyword(factory, "num_classes") and takes_keyword(factory, "weights")


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("size", [(48, 80), (65, 97)])
def test_logits_have_the_input_size(networks, name, size):
    network = networks[name].eval()
    with torch.no_grad():
        logits = network(torch.randn(2, 3, *size))
    assert logits.shape == (2, K, *size)
    assert torch.isfinite(logits).all()
    assert network.dense is True and network.num_classes == K


def test_fcn_takes_inputs_smaller_than_its_stride(networks):
    with torch.no_grad():
        assert networks["fcn8s-vgg16"].eval()(torch.randn(1, 3, 20, 28)).shape == (1, K, 20, 28)


@pytest.mark.parametrize("name", FACTORIES)
def test_gradients_reach_the_encoder_and_every_head_branch(networks, name):
    network = networks[name].train()
    network.zero_grad()
    logits = network(torch.randn(2, 3, 48, 80))
    F.cross_entropy(logits, torch.randint(0, K, (2, 48, 80))).backward()
    first_conv = next(p for n, p in network.encoder.named_parameters() if n.endswith("weight") and p.dim() == 4)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    for parameter_name, parameter in network.named_parameters():
        if not parameter_name.startswith("encoder.") and parameter_name.endswith("weight"):
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name
    network.zero_grad()


def test_fcn_skips_are_scaled_as_in_the_at_once_net(networks):
    network = networks["fcn8s-vgg16"]
    assert (network.pool3_scale, network.pool4_scale) == (1e-4, 0.01)
    assert network.encoder.pre_logits.fc1.kernel_size == (7, 7) and network.encoder.pre_logits.fc1.out_channels == 4096


@pytest.mark.parametrize("size", [(32, 64), (96, 160), (128, 128)])
def test_fcn_fc6_is_the_padded_7x7_convolution(networks, size):
    encoder = networks["fcn8s-vgg16"].encoder.eval()
    pool5 = torch.randn(1, 512, size[0] // 32, size[1] // 32)
    fc6 = encoder.pre_logits.fc1
    with torch.no_grad():
        torch.testing.assert_close(encoder._fc6(pool5), F.conv2d(pool5, fc6.weight, fc6.bias, padding=3))


def test_deeplabv3_trains_with_one_image(networks):
    network = networks["deeplabv3"].train()
    network(torch.randn(1, 3, 48, 48)).sum().backward()  # image pooling must not need batch norm over >1 value
    network.zero_grad()


@pytest.mark.parametrize("name, channels, side", [("fcn8s-vgg16", 4096, 2), ("deeplabv2", 2048, 8),
                                                  ("deeplabv3", 2048, 8)])
def test_features_are_the_deepest_encoder_map(networks, name, channels, side):
    # DeepLab's ResNet-101 is dilated to output stride 8 (a plain ResNet gives 2x2 at 64x64).
    with torch.no_grad():
        assert networks[name].eval().features(torch.randn(1, 3, 64, 64)).shape == (1, channels, side, side)


@pytest.mark.parametrize("name", FACTORIES)
def test_unreachable_hub_is_one_line_error(offline_hub, name):
    with pytest.raises(UdabenchError) as error:
        FACTORIES[name](3, (64, 64), K, weights="pretrained")
    message = str(error.value)
    assert "\n" not in message
    assert "could not be loaded" in message and "OSError" in message and "weights=none" in message


def test_pretrained_tag_reaches_timm_with_the_dilation(monkeypatch):
    import timm

    create, calls = timm.create_model, []

    def create_model(name, pretrained=False, **kwargs):
        calls.append((name, pretrained, kwargs))
        return create(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", create_model)
    network = segmentation.deeplabv2_resnet101(3, (64, 64), K, weights="pretrained:tv_in1k")
    (name, pretrained, kwargs), = calls
    assert (name, pretrained, kwargs["output_stride"], kwargs["num_classes"]) == ("resnet101.tv_in1k", True, 8, 0)
    with torch.no_grad():
        assert network.features(torch.randn(1, 3, 64, 64)).shape[-2:] == (8, 8)


def test_unknown_pretrained_tag_lists_the_known_ones():
    with pytest.raises(UdabenchError, match=r"no pretrained weights 'vgg16\.nope'.*tv_in1k"):
        segmentation.fcn8s_vgg16(3, (64, 64), K, weights="pretrained:nope")


@pytest.mark.parametrize("name", FACTORIES)
def test_state_dict_file_round_trip(networks, name, tmp_path):
    network = networks[name].eval()
    x = torch.randn(1, 3, 40, 72)
    with torch.no_grad():
        expected = network(x)
    assert expected.abs().max() > 0  # else a loader that did nothing could match
    path = tmp_path / "net.pt"
    torch.save(network.state_dict(), path)
    loaded = FACTORIES[name](3, (64, 64), K, weights=str(path)).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected)


def test_encoder_only_file_initialises_the_encoder(networks, tmp_path):
    network = networks["deeplabv2"].eval()
    state = dict(network.encoder.state_dict())
    state.update({"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)})  # timm's ImageNet head
    torch.save(state, tmp_path / "resnet101.pt")
    loaded = segmentation.deeplabv2_resnet101(3, (64, 64), K, weights=str(tmp_path / "resnet101.pt")).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.features(x), network.features(x))


def test_file_of_another_network_is_rejected(networks, tmp_path):
    torch.save(networks["deeplabv2"].state_dict(), tmp_path / "v2.pt")
    with pytest.raises(UdabenchError, match=r"backbone 'deeplabv3'.*does not fit"):
        segmentation.deeplabv3_resnet101(3, (64, 64), K, weights=str(tmp_path / "v2.pt"))
