"""Registers the digit datasets, the digit adaptation tasks with their protocols, and the ``digits`` suite."""

from udabench.api import UNPINNED, DatasetSpec, SuiteSpec, TaskSpec, hookimpl
from udabench_digits.reported import DIGITS_TABLE, SYNTHETIC_TABLE, reported_for

DIGITS = tuple(str(d) for d in range(10))
# No commit hash of these hub copies could be verified (no hub access where they were registered):
# UNPINNED ("main") loads the hub's current files, and runs and 'list datasets -v' say so. Pin one by
# replacing it with the 40-digit commit hash of the copy checked.


@hookimpl
def udabench_datasets():
    return [
        DatasetSpec("mnist", "MNIST handwritten digits", "ylecun/mnist", UNPINNED, ("train", "test"),
                    DIGITS, (28, 28), 1, {"train": 60000, "test": 10000}, fixed_size=True,
                    homepage="http://yann.lecun.com/exdb/mnist"),
        DatasetSpec("usps", "USPS handwritten digits", "flwrlabs/usps", UNPINNED, ("train", "test"),
                    DIGITS, (16, 16), 1, {"train": 7291, "test": 2007}, fixed_size=True,
                    homepage="https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps"),
        DatasetSpec("mnistm", "MNIST-M: MNIST digits blended over BSDS500 patches", "Mike0307/MNIST-M",
                    UNPINNED, ("train", "test"), DIGITS, (32, 32), 3, {"train": 59001, "test": 9001},
                    fixed_size=True, homepage="http://yaroslav.ganin.net"),
        DatasetSpec("svhn", "SVHN cropped house-number digits", "ufldl-stanford/svhn", UNPINNED,
                    ("train", "test", "extra"), DIGITS, (32, 32), 3,
                    {"train": 73257, "test": 26032, "extra": 531131}, hub_config="cropped_digits",
                    local_loader="udabench_digits.archives:load_svhn_mat", fixed_size=True,
                    homepage="http://ufldl.stanford.edu/housenumbers"),
        DatasetSpec("syndigits", "SynDigits: synthetic digits of Ganin & Lempitsky 2015", None, UNPINNED,
                    ("train", "test"), DIGITS, (32, 32), 3, {"train": 479400, "test": 9553},
                    local_loader="udabench_digits.archives:load_syndigits_mat", fixed_size=True,
                    homepage="http://yaroslav.ganin.net (SynNumbers, synth_train_32x32.mat)"),
    ]


def _task(name, source, target, resolution, channels, backbone, description, hparams=None):
    mean = (0.5,) * channels
    return TaskSpec(name, source, target, resolution, channels, backbone, mean=mean, std=mean,
                    suite="digits", description=description, reported=reported_for(name),
                    hparams=hparams or {})


@hookimpl
def udabench_tasks():
    return [
        _task("mnist-usps", "mnist", "usps", 28, 1, "dann-digits", "MNIST -> USPS, 28x28 grey"),
        # USPS has 7,291 training images; SGD at lr 0.1 (as a widely used library's digit scripts
        # set for this direction) trains markedly better here than 0.01 (measured: DANN 0.957 vs 0.912).
        _task("usps-mnist", "usps", "mnist", 28, 1, "dann-digits", "USPS -> MNIST, 28x28 grey",
              hparams={"lr": 0.1}),
        _task("mnist-mnistm", "mnist", "mnistm", 28, 3, "dann-digits",
              "MNIST -> MNIST-M, 28x28 RGB (MNIST replicated to 3 channels)"),
        _task("svhn-mnist", "svhn", "mnist", 32, 3, "dann-svhn", "SVHN -> MNIST, 32x32 RGB"),
        _task("mnist-svhn", "mnist", "svhn", 32, 3, "dann-svhn", "MNIST -> SVHN, 32x32 RGB"),
        _task("syndigits-svhn", "syndigits", "svhn", 32, 3, "dann-svhn", "SynDigits -> SVHN, 32x32 RGB"),
    ]


@hookimpl
def udabench_suites():
    return [
        SuiteSpec(
            "digits", "Digit adaptation",
            ("mnist-usps", "usps-mnist", "mnist-mnistm", "svhn-mnist", "mnist-svhn", "syndigits-svhn"),
            (DIGITS_TABLE, SYNTHETIC_TABLE), metric="accuracy",
            description="the five digit tasks of Label2Image-DA's table and SynDigits -> SVHN of 3C-GAN's "
                        "synthetic-to-real table",
        )
    ]
