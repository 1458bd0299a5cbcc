"""An example udabench plugin: the ``entropy-min`` method (entropy minimisation on the target).

Nothing is imported here: ``udabench list`` imports :mod:`udabench_example.plugin` only, and the
torch code in :mod:`udabench_example.method` is imported when a run starts.
"""
