"""Registers the ``meter-digits`` dataset, read from local files only, and the ``mnist-meter`` task,
which takes the protocol of the built-in ``mnist-usps``. Imports no torch: specs only describe."""

from udabench.api import DatasetSpec, TaskSpec, hookimpl

DIGITS = tuple(str(digit) for digit in range(10))  # class names in label order: label 3 is "3"


@hookimpl
def udabench_datasets():
    return [
        DatasetSpec(
            name="meter-digits",
            description="single digits cropped from photographs of electricity-meter displays, RGB",
            # No Hugging Face Hub copy: udabench reads the files from --data meter-digits=PATH or from
            # <data root>/meter-digits, in the hub's parquet layout (train-00000-of-00001.parquet,
            # test-00000-of-00001.parquet; columns image and label).
            hub_id=None,
            # For local files the revision is a label of the release users should have. A run's key
            # names the folder's files and their sizes, not this label; the decoded-data cache is
            # keyed by the whole spec, so a new label decodes the files again.
            revision="v1",
            splits=("train", "test"),
            classes=DIGITS,
            # What the files hold, shown by 'udabench list datasets'. A run converts every image
            # to the task's size and channels (here 28x28 grey), bilinearly, at most 4x upwards.
            image_size=(32, 32),
            channels=3,
            homepage="https://example.org/meter-digits",
        )
    ]


@hookimpl
def udabench_tasks():
    return [
        # Every protocol field not given here is mnist-usps's: source mnist, 28x28, 1 channel,
        # mean and std 0.5, backbone dann-digits, its splits and hyperparameters. The papers'
        # numbers, suite and description of mnist-usps are not taken over.
        TaskSpec.based_on(
            "mnist-usps", name="mnist-meter", target="meter-digits",
            description="MNIST -> meter digits, under mnist-usps's protocol (28x28 grey)",
        )
    ]
