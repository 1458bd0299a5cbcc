"""Registers the ``segmentation`` suite: GTA5 -> Cityscapes and SYNTHIA -> Cityscapes, and the seed's
three segmentation tables (SUIT's comparison and generator transplant, Label2Image-DA's comparison).

Only the suite and the tables exist so far: the datasets, the two tasks and the ``miou`` metric the
suite names come later, so its leaderboard shows the papers' numbers and no reproduced runs until then.
"""

from udabench.hookspecs import hookimpl
from udabench.specs import SuiteSpec
from udabench_segmentation.reported import LABEL2IMAGE_TABLE, SUIT_TABLE, TRANSPLANT_TABLE


@hookimpl
def udabench_suites():
    return [
        SuiteSpec("segmentation", "Semantic segmentation from synthetic to real street scenes",
                  ("gta5-cityscapes", "synthia-cityscapes"), (SUIT_TABLE, TRANSPLANT_TABLE, LABEL2IMAGE_TABLE),
                  metric="miou",
                  description="GTA5 -> Cityscapes and SYNTHIA -> Cityscapes, mean IoU (tasks and metric not "
                              "registered yet)"),
    ]
