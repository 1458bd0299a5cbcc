"""Source-only baseline: the task model trained on labelled source data alone."""
