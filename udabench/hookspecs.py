"""The hooks a udabench plugin may implement; each returns a list of specs from ``udabench.specs``.

A plugin is a module registered in the ``udabench`` entry-point group. It implements any of these
hooks with ``@udabench.hookimpl``. Keep the module light: it is imported by ``udabench list``, so
torch and datasets must only be imported by the code that specs name (factories, loaders).
"""

import pluggy

hookspec = pluggy.HookspecMarker("udabench")
hookimpl = pluggy.HookimplMarker("udabench")


@hookspec
def udabench_datasets():
    """Return the datasets this plugin provides.

    :return: a list of :class:`udabench.specs.DatasetSpec`, each with its hub id and revision,
        splits, classes, image size and channels.
    """


@hookspec
def udabench_tasks():
    """Return the adaptation tasks this plugin provides.

    :return: a list of :class:`udabench.specs.TaskSpec`. A task may name datasets and backbones
        from other plugins; names are resolved when a run starts.
    """


@hookspec
def udabench_backbones():
    """Return the feature extractors this plugin provides.

    :return: a list of :class:`udabench.specs.BackboneSpec`. A name ending in ``:`` registers a
        family (``timm:`` accepts ``timm:<model name>``).
    """


@hookspec
def udabench_methods():
    """Return the adaptation methods this plugin provides.

    :return: a list of :class:`udabench.specs.MethodSpec`. The spec carries the method's setting,
        phases and hyperparameter defaults; its ``factory`` names a subclass of
        :class:`udabench.method.Method`, imported only when a run starts.
    """


@hookspec
def udabench_metrics():
    """Return the metrics this plugin provides.

    :return: a list of :class:`udabench.specs.MetricSpec`, each a function of predicted and true
        labels.
    """


@hookspec
def udabench_suites():
    """Return the leaderboard suites this plugin provides.

    :return: a list of :class:`udabench.specs.SuiteSpec`: the tasks that form a leaderboard's
        columns and the papers' tables (as :class:`udabench.specs.ReportedTable` data) it is compared with.
    """
