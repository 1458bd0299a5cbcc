"""3C-GAN's Office-31 table as printed in the thesis-defence slides (ResNet-50 backbone, accuracy %, mean ± std).

The slides print each column head over three lines ("A", "↓", "W"); here they read "A→W" and so on.
"""

from udabench.api import ReportedRow, ReportedTable, cells_of

OFFICE31_COLUMNS = (("office31-a-w", "A→W"), ("office31-d-w", "D→W"), ("office31-w-d", "W→D"),
                    ("office31-a-d", "A→D"), ("office31-d-a", "D→A"), ("office31-w-a", "W→A"), ("avg", "Avg"))
OFFICE31_TASKS = tuple(key for key, _ in OFFICE31_COLUMNS if key != "avg")
_KEYS = [key for key, _ in OFFICE31_COLUMNS]
BACKBONE = "ResNet50"

# (label, reference mark, udabench method, values in column order, bold columns)
_ROWS = [
    ("ResNet50", "[40]", "source-only",
     [(68.4, 0.2), (96.7, 0.1), (99.3, 0.1), (68.9, 0.2), (65.2, 0.3), (60.7, 0.3), 76.1], ()),
    ("DAN", "[72]", None, [(80.5, 0.4), (97.1, 0.2), (99.6, 0.1), (78.6, 0.2), (63.6, 0.3), (62.8, 0.2), 80.4], ()),
    ("RTN", "[75]", None, [(84.5, 0.2), (96.8, 0.1), (99.4, 0.1), (77.5, 0.3), (66.2, 0.2), (64.8, 0.3), 81.6], ()),
    ("DANN", "[29]", "dann", [(82.6, 0.4), (96.9, 0.2), (99.3, 0.2), (81.5, 0.4), (68.4, 0.5), (67.5, 0.5), 82.7], ()),
    ("ADDA", "[131]", "adda", [(86.2, 0.5), (96.2, 0.3), (98.4, 0.3), (77.8, 0.3), (69.5, 0.4), (68.9, 0.5), 82.9], ()),
    ("JAN", "[74]", None, [(86.0, 0.4), (96.7, 0.3), (99.7, 0.1), (85.1, 0.4), (69.2, 0.4), (70.7, 0.5), 84.6], ()),
    ("MADA", "[92]", None, [(90.0, 0.2), (97.4, 0.1), (99.6, 0.1), (87.8, 0.2), (70.3, 0.3), (66.4, 0.3), 85.2], ()),
    ("GenToAdapt", "[110]", None,
     [(89.5, 0.5), (97.9, 0.3), (99.8, 0.2), (87.7, 0.5), (72.8, 0.3), (71.4, 0.4), 86.5], ()),
    ("Our Model", "", "3cgan", [(93.7, 0.2), (98.5, 0.1), (99.8, 0.2), (92.7, 0.4), (75.3, 0.5), (77.8, 0.1), 89.6],
     OFFICE31_TASKS),
]

OFFICE31_TABLE = ReportedTable(
    name="3cgan-office31",
    title="3C-GAN: Office-31 with ResNet50, accuracy (%)",
    source='Li et al., "Model Adaptation: Unsupervised Domain Adaptation without Source Data" (3C-GAN), '
           "CVPR 2020, Office-31 table (based on ResNet50), as shown in Rui Li's thesis-defence "
           "slides (City University of Hong Kong)",
    columns=OFFICE31_COLUMNS,
    rows=tuple(ReportedRow(label, cells_of(_KEYS, values), method, backbone=BACKBONE, bold=frozenset(bold),
                           citation=citation)
               for label, citation, method, values, bold in _ROWS),
)
