"""Registers generated data that needs no download: the ``toy-digits-m`` classification task, the
``toy-scenes`` segmentation task, their datasets, and the ``tiny-segnet`` network."""

from udabench.hookspecs import hookimpl
from udabench.specs import BackboneSpec, DatasetSpec, TaskSpec
from udabench_toy.scenes import SCENE_CLASSES, SCENE_SIZE, SCENE_SIZES

DIGITS = tuple(str(d) for d in range(10))
SIZES = {"train": 5000, "test": 1000}


@hookimpl
def udabench_datasets():
    return [
        DatasetSpec("toy-digits", "digits rendered in white on black with random size, place and slant",
                    None, "1", ("train", "test"), DIGITS, (28, 28), 1, SIZES,
                    generator="udabench_toy.render:clean_digits"),
        DatasetSpec("toy-digits-m", "other digits of the same kind over coloured noise, inverted where "
                    "the digit is (MNIST-M style)", None, "3", ("train", "test"), DIGITS, (28, 28), 3, SIZES,
                    generator="udabench_toy.render:textured_digits"),
        DatasetSpec("toy-scenes", "flat-coloured boxes and discs over ground and sky, labelled per pixel",
                    None, "1", ("train", "test"), SCENE_CLASSES, SCENE_SIZE, 3, SCENE_SIZES,
                    generator="udabench_toy.scenes:source_scenes"),
        DatasetSpec("toy-scenes-m", "other scenes of the same kind in other colours over noise",
                    None, "1", ("train", "test"), SCENE_CLASSES, SCENE_SIZE, 3, SCENE_SIZES,
                    generator="udabench_toy.scenes:target_scenes"),
    ]


@hookimpl
def udabench_tasks():
    return [
        TaskSpec("toy-digits-m", "toy-digits", "toy-digits-m", 28, 3, "dann-digits", mean=(0.5,) * 3,
                 std=(0.5,) * 3, suite="toy",
                 description="generated clean digits -> digits over coloured noise; needs no download"),
        TaskSpec("toy-scenes", "toy-scenes", "toy-scenes-m", SCENE_SIZE, 3, "tiny-segnet", mean=(0.5,) * 3,
                 std=(0.5,) * 3, suite="toy", kind="segmentation", classes=SCENE_CLASSES, augment=("hflip",),
                 class_subsets={"miou_objects": ("box", "disc")},
                 description="generated flat-coloured scenes -> recoloured noisy scenes, mIoU over 4 classes; "
                             "needs no download"),
    ]


@hookimpl
def udabench_backbones():
    return [
        BackboneSpec("tiny-segnet", "udabench_toy.segnet:tiny_segnet",
                     "a three-conv segmentation network for the generated scenes and tests (48x32 input)"),
    ]
