"""Numbers the thesis-defence slides report for the traffic-sign task, derived from the table they are printed in.

The Syn.Sign -> GTSRB column belongs to 3C-GAN's synthetic-to-real table (Li et al., CVPR 2020), whose
other column is a digit task; the table is kept once, as data, in ``udabench_digits.reported``.
"""

from udabench.api import ReportedResult
from udabench_digits.reported import SYNTHETIC_TABLE


def reported_for(task: str) -> tuple[ReportedResult, ...]:
    """Every reported row for ``task``, in the table's order (none for tasks the table lacks)."""
    if task != "synsign-gtsrb":
        return ()
    return SYNTHETIC_TABLE.reported_for(task)
