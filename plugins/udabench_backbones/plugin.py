"""Registers the built-in backbones (their code lives in ``networks``, imported only to build)."""

from udabench.hookspecs import hookimpl
from udabench.specs import BackboneSpec


@hookimpl
def udabench_backbones():
    return [
        BackboneSpec("dann-digits", "udabench_backbones.networks:dann_digits",
                     "DANN paper MNIST network: conv5-32, pool2, conv5-48, pool2 (28x28)"),
        BackboneSpec("dann-svhn", "udabench_backbones.networks:dann_svhn",
                     "DANN paper SVHN/SynDigits network: conv5-64, pool3/2, conv5-64, pool3/2, conv5-128 (32x32)"),
        BackboneSpec("dann-signs", "udabench_backbones.networks:dann_signs",
                     "DANN paper traffic-sign network: conv5-96, pool2, conv3-144, pool2, conv5-256, pool2 (40x40)"),
        BackboneSpec("lenet", "udabench_backbones.networks:lenet",
                     "LeNet of ADDA's reference code: conv5-20, pool2, conv5-50, dropout, pool2"),
        BackboneSpec("timm:", "udabench_backbones.networks:timm_model",
                     "any timm model by name, e.g. timm:resnet50 or timm:resnet50.tv_in1k; initialised "
                     "as the weights hyperparameter says (random by default, ImageNet on Office-31)"),
    ]
