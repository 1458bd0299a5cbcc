"""Numbers the seed's tables report for the digit tasks, row by row, with their source.

Digit table: Li et al., "Cross-domain image-to-image translation / Label2Image-DA", IEEE TIP 2020,
as shown in the seed's thesis-defence slides (classification accuracy, %). Synthetic-to-real table:
Li et al., "Model Adaptation: Unsupervised Domain Adaptation without Source Data", CVPR 2020.
"""

from udabench.specs import ReportedResult

DIGITS_TABLE = "seed: Label2Image-DA (Li et al., IEEE TIP 2020), digit adaptation table"
SYNTHETIC_TABLE = "seed: 3C-GAN (Li et al., CVPR 2020), synthetic-to-real table"

# (paper row label, udabench method or None, {task: (value, std or None)})
_DIGIT_ROWS = [
    ("MMD", None, {"mnist-usps": (81.1, None), "mnist-mnistm": (76.9, None), "svhn-mnist": (71.1, None)}),
    ("CORAL", None, {"mnist-usps": (81.7, None), "mnist-mnistm": (57.7, None), "svhn-mnist": (63.1, None)}),
    ("DA_assoc", None, {"mnist-mnistm": (89.5, None), "svhn-mnist": (97.6, None)}),
    ("DANN", "dann", {"mnist-usps": (85.1, None), "usps-mnist": (73.0, None), "mnist-mnistm": (77.4, None),
                      "svhn-mnist": (73.9, None), "mnist-svhn": (35.7, None)}),
    ("ADDA", "adda", {"mnist-usps": (89.4, 0.2), "usps-mnist": (90.1, 0.8), "svhn-mnist": (76.0, 1.8)}),
    ("ATT", None, {"mnist-mnistm": (94.2, None), "svhn-mnist": (86.2, None), "mnist-svhn": (52.8, None)}),
    ("DSN", None, {"mnist-usps": (91.3, None), "mnist-mnistm": (83.2, None), "svhn-mnist": (82.7, None)}),
    ("DRCN", None, {"mnist-usps": (91.8, 0.1), "usps-mnist": (73.7, 0.1), "svhn-mnist": (82.0, 0.2),
                    "mnist-svhn": (40.1, 0.1)}),
    ("VADA", None, {"mnist-mnistm": (97.7, None), "svhn-mnist": (97.9, None), "mnist-svhn": (73.3, None)}),
    ("DIRT-T", None, {"mnist-mnistm": (98.9, None), "svhn-mnist": (99.4, None), "mnist-svhn": (76.5, None)}),
    ("UNIT", None, {"mnist-usps": (95.9, None), "usps-mnist": (93.5, None), "svhn-mnist": (90.5, None)}),
    ("DuplexGAN", None, {"mnist-usps": (96.01, None), "usps-mnist": (98.75, None), "svhn-mnist": (92.46, None),
                         "mnist-svhn": (62.65, None)}),
    ("GenToAdapt", None, {"mnist-usps": (95.3, 0.7), "usps-mnist": (90.8, 1.3), "svhn-mnist": (92.4, 0.9)}),
    ("CoGAN", None, {"mnist-usps": (91.2, 0.8), "usps-mnist": (89.1, 0.8), "mnist-mnistm": (62.0, None)}),
    ("PixelDA", None, {"mnist-usps": (95.9, None), "mnist-mnistm": (98.2, None)}),
    ("SBADA-GAN C_t", None, {"mnist-usps": (96.7, None), "usps-mnist": (94.4, None), "mnist-mnistm": (99.1, None),
                             "svhn-mnist": (72.2, None), "mnist-svhn": (59.2, None)}),
    ("SBADA-GAN", None, {"mnist-usps": (97.6, None), "usps-mnist": (95.0, None), "mnist-mnistm": (99.4, None),
                         "svhn-mnist": (76.1, None), "mnist-svhn": (61.1, None)}),
    ("CyCADA pixel only", "cycada-pixel", {"mnist-usps": (95.6, 0.2), "usps-mnist": (96.4, 0.1),
                                           "svhn-mnist": (70.3, 0.2)}),
    ("CyCADA pixel+feat", "cycada", {"mnist-usps": (95.6, 0.2), "usps-mnist": (96.5, 0.1),
                                     "svhn-mnist": (90.4, 0.4)}),
    ("SourceOnly", "source-only", {"mnist-usps": (92.4, 1.7), "usps-mnist": (86.1, 1.3),
                                   "mnist-mnistm": (54.2, 0.9), "svhn-mnist": (76.4, 1.5),
                                   "mnist-svhn": (57.3, 2.1)}),
    ("Label2Image-DA", "label2image", {"mnist-usps": (96.9, 0.5), "usps-mnist": (98.9, 0.1),
                                       "mnist-mnistm": (97.1, 0.2), "svhn-mnist": (99.0, 0.1)}),
    ("Label2Image-DA with L_reg", "label2image-reg", {"mnist-usps": (98.1, 0.3), "usps-mnist": (99.4, 0.1),
                                                      "mnist-mnistm": (99.2, 0.1), "svhn-mnist": (99.5, 0.03),
                                                      "mnist-svhn": (91.3, 0.2)}),
]

_SYNTHETIC_ROWS = [
    ("DANN", "dann", 91.1), ("DSN", None, 91.2), ("AssocDA", None, 91.8), ("VADA", None, 94.8),
    ("DIRT-T", None, 96.1), ("Source-Only", "source-only", 86.2), ("3C-GAN (Ours)", "3cgan", 95.9),
]


def reported_for(task: str) -> tuple[ReportedResult, ...]:
    """Every reported row for ``task``, in the table's order."""
    rows = [ReportedResult(label, value, DIGITS_TABLE, std, udabench_method=method)
            for label, method, cells in _DIGIT_ROWS
            for cell_task, (value, std) in cells.items() if cell_task == task]
    if task == "syndigits-svhn":
        rows += [ReportedResult(label, value, SYNTHETIC_TABLE, udabench_method=method)
                 for label, method, value in _SYNTHETIC_ROWS]
    return tuple(rows)
