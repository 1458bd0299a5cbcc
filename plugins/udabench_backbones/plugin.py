"""Registers the built-in backbones (their code lives in ``networks``, imported only to build)."""

from udabench.api import BackboneSpec, hookimpl


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
        BackboneSpec("fcn8s-vgg16", "udabench_backbones.segmentation:fcn8s_vgg16",
                     "FCN-8s (Long et al. 2015, at-once) on VGG16 with fc6/fc7 as 7x7x4096/1x1x4096 convs; "
                     "the FCN8s-VGG16 rows (SourceOnly, CyCADA, SUIT, Label2Image-DA) of the segmentation tables"),
        BackboneSpec("deeplabv2", "udabench_backbones.segmentation:deeplabv2_resnet101",
                     "DeepLab-v2 on ResNet-101 as in AdaptSegNet (output stride 8, ASPP of 3x3 convs at rates "
                     "6/12/18/24 summed); the Deeplab-v2 rows (SourceOnly, SUIT, Label2Image-DA) of the tables"),
        BackboneSpec("deeplabv3", "udabench_backbones.segmentation:deeplabv3_resnet101",
                     "DeepLab-v3 on ResNet-101 (output stride 8, ASPP 1x1 + 3x3 at 12/24/36 + image pooling, "
                     "256 channels with BN); the Deeplab-v3 rows of SUIT's transplant table"),
    ]
