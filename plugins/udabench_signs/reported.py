"""Numbers the seed's tables report for the traffic-sign task, row by row, with their source.

Synthetic-to-real table: Li et al., "Model Adaptation: Unsupervised Domain Adaptation without Source
Data" (3C-GAN), CVPR 2020, as shown in the seed's thesis-defence slides (classification accuracy, %).
The table has two columns, Syn.Digits -> SVHN and Syn.Sign -> GTSRB; only the second is used here.
"""

from udabench.specs import ReportedResult

SYNTHETIC_TABLE = "seed: 3C-GAN (Li et al., CVPR 2020), synthetic-to-real table, Syn.Sign -> GTSRB column"

# (paper row label, udabench method or None, Syn.Sign -> GTSRB accuracy)
_SIGN_ROWS = [
    ("DANN", "dann", 88.7), ("DSN", None, 93.1), ("AssocDA", None, 97.6), ("VADA", None, 98.8),
    ("DIRT-T", None, 99.5), ("Source-Only", "source-only", 78.3), ("3C-GAN (Ours)", "3cgan", 99.6),
]


def reported_for(task: str) -> tuple[ReportedResult, ...]:
    """Every reported row for ``task``, in the table's order (none for tasks the table lacks)."""
    if task != "synsign-gtsrb":
        return ()
    return tuple(ReportedResult(label, value, SYNTHETIC_TABLE, udabench_method=method)
                 for label, method, value in _SIGN_ROWS)
