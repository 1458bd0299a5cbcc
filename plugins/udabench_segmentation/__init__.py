"""Semantic segmentation (GTA5/SYNTHIA -> Cityscapes): for now only the ``segmentation`` suite and its tables.

The datasets, tasks, segmentation networks and the ``miou`` metric are not registered yet.
"""
