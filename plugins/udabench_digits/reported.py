"""The thesis-defence slides' digit tables as data: the single source of the numbers the papers report for digit tasks.

Two tables of the thesis-defence slides cover digit tasks: Label2Image-DA's digit table
and 3C-GAN's synthetic-to-real table, whose second column (Syn.Sign -> GTSRB) the signs plugin uses.
Each is transcribed row by row as printed: labels with their reference marks, "-" cells left out,
"value ± std", bold cells and row groups. ``TaskSpec.reported`` is derived from these tables.
"""

from udabench.api import ReportedResult, ReportedRow, ReportedTable, cells_of

DIGIT_COLUMNS = (("mnist-usps", "MNIST→USPS"), ("usps-mnist", "USPS→MNIST"), ("mnist-mnistm", "MNIST→MNIST-M"),
                 ("svhn-mnist", "SVHN→MNIST"), ("mnist-svhn", "MNIST→SVHN"))
_DIGIT_KEYS = [key for key, _ in DIGIT_COLUMNS]

NOT_GAN = "Not GAN-based Adaptation"
GAN = "GAN-based Adaptation"
OURS = "Our results"

# (label, reference mark, udabench method, values in column order (None: "-"), group, bold columns)
_DIGIT_ROWS = [
    ("MMD", "[7]", None, [81.1, None, 76.9, 71.1, None], NOT_GAN, ()),
    ("CORAL", "[5]", None, [81.7, None, 57.7, 63.1, None], NOT_GAN, ()),
    ("DA_assoc", "[33]", None, [None, None, 89.5, 97.6, None], NOT_GAN, ()),
    ("DANN", "[43]", "dann", [85.1, 73.0, 77.4, 73.9, 35.7], NOT_GAN, ()),
    ("ADDA", "[44]", "adda", [(89.4, 0.2), (90.1, 0.8), None, (76.0, 1.8), None], NOT_GAN, ()),
    ("ATT", "[10]", None, [None, None, 94.2, 86.2, 52.8], NOT_GAN, ()),
    ("DSN", "[16]", None, [91.3, None, 83.2, 82.7, None], NOT_GAN, ()),
    ("DRCN", "[32]", None, [(91.8, 0.1), (73.7, 0.1), None, (82.0, 0.2), (40.1, 0.1)], NOT_GAN, ()),
    ("VADA", "[45]", None, [None, None, 97.7, 97.9, 73.3], NOT_GAN, ()),
    ("DIRT-T", "[45]", None, [None, None, 98.9, 99.4, 76.5], NOT_GAN, ()),
    ("UNIT", "[53]", None, [95.9, 93.5, None, 90.5, None], GAN, ()),
    ("DuplexGAN", "[48]", None, [96.01, 98.75, None, 92.46, 62.65], GAN, ()),
    ("GenToAdapt", "[47]", None, [(95.3, 0.7), (90.8, 1.3), None, (92.4, 0.9), None], GAN, ()),
    ("CoGAN", "[52]", None, [(91.2, 0.8), (89.1, 0.8), 62.0, None, None], GAN, ()),
    ("PixelDA", "[12]", None, [95.9, None, 98.2, None, None], GAN, ()),
    ("SBADA-GAN C_t", "[55]", None, [96.7, 94.4, 99.1, 72.2, 59.2], GAN, ()),
    ("SBADA-GAN", "[55]", None, [97.6, 95.0, 99.4, 76.1, 61.1], GAN, ()),
    ("CyCADA pixel only", "[26]", "cycada-pixel", [(95.6, 0.2), (96.4, 0.1), None, (70.3, 0.2), None], GAN, ()),
    ("CyCADA pixel+feat", "[26]", "cycada", [(95.6, 0.2), (96.5, 0.1), None, (90.4, 0.4), None], GAN, ()),
    ("SourceOnly", "", "source-only", [(92.4, 1.7), (86.1, 1.3), (54.2, 0.9), (76.4, 1.5), (57.3, 2.1)], OURS, ()),
    ("Label2Image-DA", "", "label2image", [(96.9, 0.5), (98.9, 0.1), (97.1, 0.2), (99.0, 0.1), None], OURS, ()),
    ("Label2Image-DA with L_reg", "", "label2image-reg",
     [(98.1, 0.3), (99.4, 0.1), (99.2, 0.1), (99.5, 0.03), (91.3, 0.2)], OURS,
     ("mnist-usps", "svhn-mnist", "mnist-svhn")),
]

DIGITS_TABLE = ReportedTable(
    name="label2image-digits",
    title="Label2Image-DA: digit adaptation, accuracy (%)",
    source='Li et al., "Generating Target Image-Label Pairs for Unsupervised Domain Adaptation" '
           "(Label2Image-DA), IEEE TIP 2020, digit table, as shown in Rui Li's thesis-defence "
           "slides (City University of Hong Kong)",
    columns=DIGIT_COLUMNS,
    rows=tuple(ReportedRow(label, cells_of(_DIGIT_KEYS, values), method, group=group, bold=frozenset(bold),
                           citation=citation)
               for label, citation, method, values, group, bold in _DIGIT_ROWS),
)

SYNTHETIC_COLUMNS = (("syndigits-svhn", "Syn.Digits → SVHN"), ("synsign-gtsrb", "Syn.Sign → GTSRB"))

# (label, udabench method, Syn.Digits -> SVHN, Syn.Sign -> GTSRB); the table prints no reference marks
_SYNTHETIC_ROWS = [
    ("DANN", "dann", 91.1, 88.7), ("DSN", None, 91.2, 93.1), ("AssocDA", None, 91.8, 97.6),
    ("VADA", None, 94.8, 98.8), ("DIRT-T", None, 96.1, 99.5), ("Source-Only", "source-only", 86.2, 78.3),
    ("3C-GAN (Ours)", "3cgan", 95.9, 99.6),
]

SYNTHETIC_TABLE = ReportedTable(
    name="3cgan-synthetic",
    title="3C-GAN: adaptation from synthetic to real images, accuracy (%)",
    source='Li et al., "Model Adaptation: Unsupervised Domain Adaptation without Source Data" (3C-GAN), '
           "CVPR 2020, synthetic-to-real table (Syn.Digits → SVHN, Syn.Sign → GTSRB), as shown in Rui "
           "Li's thesis-defence slides (City University of Hong Kong)",
    columns=SYNTHETIC_COLUMNS,
    rows=tuple(ReportedRow(label, cells_of([key for key, _ in SYNTHETIC_COLUMNS], [digits, signs]), method)
               for label, method, digits, signs in _SYNTHETIC_ROWS),
)

TABLES = (DIGITS_TABLE, SYNTHETIC_TABLE)


def reported_for(task: str) -> tuple[ReportedResult, ...]:
    """Every reported row for ``task``, table by table in the tables' row order."""
    return tuple(result for table in TABLES for result in table.reported_for(task))
