"""Registers the generated ``toy-digits`` and ``toy-digits-m`` datasets and the ``toy-digits-m`` task."""

from udabench.hookspecs import hookimpl
from udabench.specs import DatasetSpec, TaskSpec

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
    ]


@hookimpl
def udabench_tasks():
    return [
        TaskSpec("toy-digits-m", "toy-digits", "toy-digits-m", 28, 3, "dann-digits", mean=(0.5,) * 3,
                 std=(0.5,) * 3, suite="toy",
                 description="generated clean digits -> digits over coloured noise; needs no download"),
    ]
