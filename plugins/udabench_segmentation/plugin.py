"""Registers GTA5, SYNTHIA (RAND-CITYSCAPES) and Cityscapes, the tasks GTA5 -> Cityscapes and
SYNTHIA -> Cityscapes, and the ``segmentation`` suite with the three tables of the thesis-defence slides (SUIT's comparison,
its generator transplant, Label2Image-DA's comparison).

None of the three datasets has a Hugging Face Hub copy that udabench can pin: each is read from the
folder its official archives unpack to (``--data gta5=PATH`` or a data root holding ``gta5/``,
``synthia/``, ``cityscapes/``); ``udabench_segmentation.datasets`` documents the layouts.
"""

from udabench.api import DatasetSpec, SuiteSpec, TaskSpec, hookimpl
from udabench_segmentation.datasets import (CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, SYNTHIA_13_CLASSES,
                                            SYNTHIA_CLASSES)
from udabench_segmentation.reported import LABEL2IMAGE_TABLE, SUIT_TABLE, TRANSPLANT_TABLE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The papers' evaluation size of Cityscapes (AdaptSegNet, SUIT); both domains are kept at it, so
# GTA5's 1914x1052 frames are resized to 1024x512 as well. --resolution 512x256 halves it.
RESOLUTION = (512, 1024)  # (height, width)
# DeepLab's recipe as AdaptSegNet trains it: SGD 2.5e-4, momentum 0.9, weight decay 5e-4, poly
# schedule; the networks start from ImageNet encoders.
PROTOCOL = {"lr": 2.5e-4, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False, "lr_schedule": "poly",
            "weights": "pretrained"}


@hookimpl
def udabench_datasets():
    return [
        DatasetSpec("gta5", "GTA5 (Richter et al. 2016): 24,966 frames of a video game, 1914x1052, labelled "
                    "with Cityscapes ids; 'train' is every frame (the UDA protocol), 'sample' 500 of them for "
                    "source metrics", None, "1.0", ("train", "sample"), CITYSCAPES_CLASSES, (1052, 1914), 3,
                    {"train": 24966, "sample": 500}, local_loader="udabench_segmentation.datasets:load_gta5",
                    homepage="https://download.visinf.tu-darmstadt.de/data/from_games/"),
        DatasetSpec("synthia", "SYNTHIA RAND-CITYSCAPES (Ros et al. 2016): 9,400 rendered frames, 1280x760, "
                    "16 classes shared with Cityscapes; 'train' is every frame, 'sample' 500 of them",
                    None, "1.0", ("train", "sample"), SYNTHIA_CLASSES, (760, 1280), 3,
                    {"train": 9400, "sample": 500}, local_loader="udabench_segmentation.datasets:load_synthia",
                    homepage="https://synthia-dataset.net/downloads/"),
        DatasetSpec("cityscapes", "Cityscapes (Cordts et al. 2016) fine annotations: 2,975 train and 500 val "
                    "street scenes, 2048x1024, 19 evaluated classes", None, "1.0", ("train", "val"),
                    CITYSCAPES_CLASSES, (1024, 2048), 3, {"train": 2975, "val": 500},
                    local_loader="udabench_segmentation.datasets:load_cityscapes",
                    homepage="https://www.cityscapes-dataset.com/downloads/"),
    ]


def _task(name: str, source: str, classes, description: str, **extra) -> TaskSpec:
    return TaskSpec(name, source, "cityscapes", RESOLUTION, 3, "fcn8s-vgg16", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    train_split="train", test_split="val", source_test_split="sample", suite="segmentation",
                    kind="segmentation", classes=classes, palette=_palette(classes), augment=("hflip",),
                    hparams=dict(PROTOCOL), description=description, **extra)


def _palette(classes):
    return tuple(CITYSCAPES_PALETTE[CITYSCAPES_CLASSES.index(name)] for name in classes)


@hookimpl
def udabench_tasks():
    return [
        _task("gta5-cityscapes", "gta5", CITYSCAPES_CLASSES,
              "GTA5 -> Cityscapes: all GTA5 frames and the Cityscapes train images (unlabelled) for training, "
              "Cityscapes val for testing; 19 classes, 1024x512, mIoU",
              reported=SUIT_TABLE.reported_for("gta5-cityscapes")),
        _task("synthia-cityscapes", "synthia", SYNTHIA_CLASSES,
              "SYNTHIA -> Cityscapes: the 16 shared classes (Cityscapes' terrain, truck and train ignored), "
              "1024x512; mIoU over 16 classes and miou13 over the 13 of the mIoU* protocol",
              class_subsets={"miou13": SYNTHIA_13_CLASSES}),
    ]


@hookimpl
def udabench_suites():
    return [
        SuiteSpec("segmentation", "Semantic segmentation from synthetic to real street scenes",
                  ("gta5-cityscapes", "synthia-cityscapes"), (SUIT_TABLE, TRANSPLANT_TABLE, LABEL2IMAGE_TABLE),
                  metric="miou", task_metrics={"synthia-cityscapes": "miou13"},
                  description="GTA5 -> Cityscapes (mIoU, 19 classes) and SYNTHIA -> Cityscapes (mIoU over the 13 "
                              "classes of the SYNTHIA numbers in the thesis-defence slides), FCN8s-VGG16 and DeepLab-v2"),
    ]
