"""Registers the Office-31 datasets (``office31-amazon``, ``-dslr``, ``-webcam``), the six
``office31-*`` tasks with their protocol, and the ``office31`` suite with 3C-GAN's table.

The data has no Hugging Face Hub copy: ``udabench_office31.archives`` reads the official layout
(``DOMAIN/images/CLASS/*.jpg``). Nothing here imports torch.
"""

from udabench.api import DatasetSpec, SuiteSpec, TaskSpec, hookimpl
from udabench_office31.archives import ALL, ARCHIVE, CLASSES
from udabench_office31.reported import OFFICE31_TABLE, OFFICE31_TASKS

DOMAINS = {"a": "amazon", "d": "dslr", "w": "webcam"}
SIZES = {"amazon": 2817, "dslr": 498, "webcam": 795}
DESCRIPTIONS = {"amazon": "product photos from amazon.com", "dslr": "photos taken with a digital SLR camera",
                "webcam": "photos taken with a low-resolution web camera"}
# The recipe keeps every image at 256x256 (its first step resizes to that) and feeds 224x224 crops.
CACHE = 256
INPUT = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENT = ("random_resized_crop", "hflip")
# The recipe of the widely used Transfer-Learning-Library (TLlib) Office-31 scripts, where a method
# has these hyperparameters: torchvision's ImageNet ResNet-50 weights (timm's tv_in1k copy), the
# backbone at a tenth of the learning rate, a bottleneck without dropout.
PROTOCOL = {"weights": "pretrained:tv_in1k", "backbone_lr_mult": 0.1, "dropout": 0.0}
HOMEPAGE = (f"{ARCHIVE} (Office-31, Saenko et al. ECCV 2010), linked from the authors' Office dataset "
            "page and commonly fetched as the Google Drive file 0B4IapRTv9pJ1WGZVd1VDMmhwdlE; unpacked it holds amazon/, dslr/ and webcam/, each "
            "with images/<class>/*.jpg. PATH may be the domain's folder or the folder holding all three")


@hookimpl
def udabench_datasets():
    return [
        DatasetSpec(
            f"office31-{domain}",
            f"Office-31 {domain}: {SIZES[domain]} {DESCRIPTIONS[domain]}, 31 office object classes. "
            f"Office-31 has no official train/test split: the one split '{ALL}' holds every image, which the "
            "UDA protocol trains on (source labelled, target unlabelled) and tests on (target). The "
            "photographs vary in size; image_size records the 256x256 the recipe resizes them to",
            None, "main", (ALL,), CLASSES, (CACHE, CACHE), 3, {ALL: SIZES[domain]},
            local_loader=f"udabench_office31.archives:load_{domain}",
            homepage=HOMEPAGE, root_folders=("office31",),
        )
        for domain in DOMAINS.values()
    ]


def _task(name: str) -> TaskSpec:
    source, target = (DOMAINS[letter] for letter in name.removeprefix("office31-").split("-"))
    return TaskSpec(
        name, f"office31-{source}", f"office31-{target}", INPUT, 3, "timm:resnet50",
        mean=IMAGENET_MEAN, std=IMAGENET_STD, train_split=ALL, test_split=ALL, suite="office31",
        description=f"Office-31 {source} -> {target}: every image of both domains for training (target "
                    f"unlabelled), every {target} image for testing; {INPUT}x{INPUT} RGB crops of {CACHE}x{CACHE} "
                    "images (random resized crop and flip for training, centre crop for testing)",
        reported=OFFICE31_TABLE.reported_for(name), hparams=dict(PROTOCOL),
        cache_resolution=CACHE, augment=AUGMENT,
    )


@hookimpl
def udabench_tasks():
    return [_task(name) for name in OFFICE31_TASKS]


@hookimpl
def udabench_suites():
    return [
        SuiteSpec("office31", "Office-31 object recognition", OFFICE31_TASKS, (OFFICE31_TABLE,), metric="accuracy",
                  description="the six Office-31 directions between Amazon, DSLR and Webcam, ResNet-50 "
                              "from ImageNet weights"),
    ]
