"""Registers the SynSigns and GTSRB datasets, the ``synsign-gtsrb`` task with its protocol, and the
``signs`` suite."""

from udabench.api import UNPINNED, DatasetSpec, SuiteSpec, TaskSpec, hookimpl
from udabench_digits.reported import SYNTHETIC_TABLE
from udabench_signs.reported import reported_for

# The 43 GTSRB classes by ClassId. SynSigns draws the same 43 signs and its labelling file is read
# as using the same numbering, which is what makes SynSigns -> GTSRB one shared label space.
SIGN_CLASSES = (
    "Speed limit (20km/h)", "Speed limit (30km/h)", "Speed limit (50km/h)", "Speed limit (60km/h)",
    "Speed limit (70km/h)", "Speed limit (80km/h)", "End of speed limit (80km/h)", "Speed limit (100km/h)",
    "Speed limit (120km/h)", "No passing", "No passing for vehicles over 3.5 metric tons",
    "Right-of-way at the next intersection", "Priority road", "Yield", "Stop", "No vehicles",
    "Vehicles over 3.5 metric tons prohibited", "No entry", "General caution", "Dangerous curve to the left",
    "Dangerous curve to the right", "Double curve", "Bumpy road", "Slippery road", "Road narrows on the right",
    "Road work", "Traffic signals", "Pedestrians", "Children crossing", "Bicycles crossing",
    "Beware of ice/snow", "Wild animals crossing", "End of all speed and passing limits", "Turn right ahead",
    "Turn left ahead", "Ahead only", "Go straight or right", "Go straight or left", "Keep right", "Keep left",
    "Roundabout mandatory", "End of no passing", "End of no passing by vehicles over 3.5 metric tons",
)
# No commit hash of the GTSRB hub copy could be verified (no hub access where it was registered):
# UNPINNED ("main") loads the hub's current files, and runs and 'list datasets -v' say so.
# Sign images vary in size in both datasets; image_size records the 40x40 of the DANN protocol.
SIGN_SIZE = (40, 40)


@hookimpl
def udabench_datasets():
    return [
        DatasetSpec(
            "synsigns",
            "SynSigns: 100,000 synthetic traffic signs of the 43 GTSRB classes (Moiseev et al. 2013). "
            "The archive has no test split; udabench's choice: an image is in 'test' when the SHA-256 "
            "of its file name falls in one bucket of ten, else in 'train' (90,028 / 9,972 of the "
            "full archive), so the split never depends on file order",
            # The archive names its images train/0.png .. train/99999.png (no zero padding); these
            # sizes are what synsigns_split_of makes of those 100,000 names.
            None, UNPINNED, ("train", "test"), SIGN_CLASSES, SIGN_SIZE, 3,
            {"train": 90028, "test": 9972},
            local_loader="udabench_signs.archives:load_synsigns",
            homepage="synthetic_data.zip of Moiseev et al. 2013, linked from the DANN page "
                     "http://yaroslav.ganin.net; PATH is the unpacked synthetic_data folder, "
                     "which holds train/*.png and train_labelling.txt",
        ),
        DatasetSpec(
            "gtsrb",
            "GTSRB: German Traffic Sign Recognition Benchmark, real photographs of 43 sign classes. "
            "From the official archives each image is cropped to its ROI box (udabench's choice: the "
            "DANN protocol works on the sign itself); the hub copy holds uncropped images and a "
            "reduced train split (26,640 images per its card)",
            # Official sizes below; tanganke/gtsrb serves train 26,640 / test 12,630 (see above).
            "tanganke/gtsrb", UNPINNED, ("train", "test"), SIGN_CLASSES, SIGN_SIZE, 3,
            {"train": 39209, "test": 12630},
            local_loader="udabench_signs.archives:load_gtsrb",
            homepage="https://benchmark.ini.rub.de (GTSRB_Final_Training_Images.zip, "
                     "GTSRB_Final_Test_Images.zip and GTSRB_Final_Test_GT.zip, unpacked into one folder)",
        ),
    ]


@hookimpl
def udabench_tasks():
    return [
        TaskSpec("synsign-gtsrb", "synsigns", "gtsrb", 40, 3, "dann-signs", mean=(0.5,) * 3, std=(0.5,) * 3,
                 suite="signs",
                 description="SynSigns -> GTSRB, 40x40 RGB; GTSRB train unlabelled, tested on GTSRB test",
                 reported=reported_for("synsign-gtsrb")),
    ]


@hookimpl
def udabench_suites():
    return [
        SuiteSpec("signs", "Traffic-sign adaptation", ("synsign-gtsrb",), (SYNTHETIC_TABLE,), metric="accuracy",
                  description="SynSigns -> GTSRB, the Syn.Sign -> GTSRB column of 3C-GAN's synthetic-to-real table"),
    ]
