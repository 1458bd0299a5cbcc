"""Registers generated data that needs no download: the ``toy-digits-m`` classification task, the
``toy-2d`` task of points in the plane, the ``toy-scenes`` segmentation task, their datasets, and the
``toy-mlp`` and ``tiny-segnet`` networks."""

from udabench.api import BackboneSpec, DatasetSpec, TaskSpec, hookimpl
from udabench_toy.points import MOON_CLASSES, POINT_SIZE, POINT_SIZES, ROTATION_DEGREES, SHIFT
from udabench_toy.scenes import SCENE_CLASSES, SCENE_SIZE, SCENE_SIZES

DIGITS = tuple(str(d) for d in range(10))
SIZES = {"train": 5000, "test": 1000}
# toy-2d's protocol values (a method takes those of its hyperparameters it has; --set still wins):
# networks and phases small enough that a run takes seconds, and the values at which, at seed 0 and
# the default 3000 steps, source-only fails on the turned moons and DANN and 3C-GAN fix them (README).
TOY_2D_HPARAMS = {
    "bottleneck_dim": 32,  # toy-mlp's 64 features -> 32, no dropout: the points are not noisy images
    "dropout": 0.0,
    "source_steps": 1000,  # source phases: the source moons are learnt (source accuracy 1.0) long before
    "translate_steps": 500,  # CyCADA's translate phase, Label2Image's GAN phase: short, for the CPU
    "gan_steps": 1000,
    "discriminator_dim": 64,  # DANN's, ADDA's and CyCADA's feature discriminators, for 32 features
    "noise_dim": 8,  # the generators of 3C-GAN and Label2Image: a few dimensions of noise for a point
    "generator_width": 16,
    "discriminator_width": 16,
    "samples_per_class": 64,  # 3C-GAN's samples drawn per class in each panel
    # 3C-GAN: a VAT perturbation of norm 0.8 over the 2 x 8 x 8 pixels moves a point by 0.1 (its 64
    # pixels share it), less than half the gap between the moons (about 0.25); the clustering
    # regulariser at the weight attributed to the paper outside digits (1; at 0.1 the target
    # accuracy fell from 0.78 to 0.50); the semantic loss at 1, so that G draws each class where C
    # puts it (at 0.1 most samples of both classes lay on one line between the moons); and C's
    # cross-entropy on generated points at 0.1, so that C follows the target's clusters rather than a
    # generator that has not spread out yet (at 1, a 2000-step run followed G's clumps to 0.33).
    "vat_epsilon": 0.8,
    "lambda_clu": 1.0,
    "lambda_s": 1.0,
    "lambda_g": 0.1,
}


@hookimpl
def udabench_datasets():
    return [
        DatasetSpec("toy-digits", "digits rendered in white on black with random size, place and slant",
                    None, "1", ("train", "test"), DIGITS, (28, 28), 1, SIZES,
                    generator="udabench_toy.render:clean_digits"),
        DatasetSpec("toy-digits-m", "other digits of the same kind over coloured noise, inverted where "
                    "the digit is (MNIST-M style)", None, "3", ("train", "test"), DIGITS, (28, 28), 3, SIZES,
                    generator="udabench_toy.render:textured_digits"),
        DatasetSpec("toy-moons", "two interleaving moons in the plane, each point a flat 2-channel image",
                    None, "1", ("train", "test"), MOON_CLASSES, (POINT_SIZE, POINT_SIZE), 2, POINT_SIZES,
                    generator="udabench_toy.points:source_moons"),
        DatasetSpec("toy-moons-turned", f"the same moons turned by {ROTATION_DEGREES:g} degrees and shifted by "
                    f"{SHIFT}", None, "1", ("train", "test"), MOON_CLASSES, (POINT_SIZE, POINT_SIZE), 2,
                    POINT_SIZES, generator="udabench_toy.points:target_moons"),
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
        TaskSpec("toy-2d", "toy-moons", "toy-moons-turned", POINT_SIZE, 2, "toy-mlp", mean=(0.5,) * 2,
                 std=(0.5,) * 2, suite="toy", hparams=TOY_2D_HPARAMS, points=True,
                 description=f"two moons in the plane -> the same turned by {ROTATION_DEGREES:g} degrees and "
                             "shifted; points, not images: each run draws the decision regions; seconds to minutes on a CPU"),
        TaskSpec("toy-scenes", "toy-scenes", "toy-scenes-m", SCENE_SIZE, 3, "tiny-segnet", mean=(0.5,) * 3,
                 std=(0.5,) * 3, suite="toy", kind="segmentation", classes=SCENE_CLASSES, augment=("hflip",),
                 class_subsets={"miou_objects": ("box", "disc")},
                 description="generated flat-coloured scenes -> recoloured noisy scenes, mIoU over 4 classes; "
                             "needs no download"),
    ]


@hookimpl
def udabench_backbones():
    return [
        BackboneSpec("toy-mlp", "udabench_toy.mlp:point_mlp",
                     "two 64-unit ReLU layers over a point (the mean of each channel over the image; toy-2d)"),
        BackboneSpec("tiny-segnet", "udabench_toy.segnet:tiny_segnet",
                     "a three-conv segmentation network for the generated scenes and tests (48x32 input)"),
    ]
