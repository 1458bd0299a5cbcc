"""Registers the ``office31`` suite: its six task names and 3C-GAN's Office-31 table.

Only the suite and the table exist so far: the Office-31 datasets and the ``office31-*`` tasks come
later, so a leaderboard of this suite shows the paper's numbers and no reproduced runs until then.
"""

from udabench.hookspecs import hookimpl
from udabench.specs import SuiteSpec
from udabench_office31.reported import OFFICE31_TABLE, OFFICE31_TASKS


@hookimpl
def udabench_suites():
    return [
        SuiteSpec("office31", "Office-31 object recognition", OFFICE31_TASKS, (OFFICE31_TABLE,), metric="accuracy",
                  description="the six Office-31 directions between Amazon, DSLR and Webcam (tasks not "
                              "registered yet)"),
    ]
