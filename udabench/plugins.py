"""Discovers plugins through the ``udabench`` entry-point group and keeps one registry per kind."""

from __future__ import annotations

import difflib
import inspect
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from udabench import hookspecs
from udabench.errors import UdabenchError, unknown_name_error
from udabench.specs import BackboneSpec, DatasetSpec, MethodSpec, MetricSpec, SuiteSpec, TaskSpec

ENTRY_POINT_GROUP = "udabench"
# Plugins to skip, by distribution or entry-point name, comma-separated: the way out of a name that
# two installed distributions both register, without uninstalling either.
DISABLE_VARIABLE = "UDABENCH_DISABLE_PLUGINS"
KINDS = ("datasets", "tasks", "backbones", "methods", "metrics", "suites")
SPEC_TYPES = {"datasets": DatasetSpec, "tasks": TaskSpec, "backbones": BackboneSpec, "methods": MethodSpec,
              "metrics": MetricSpec, "suites": SuiteSpec}


@dataclass
class Registry:
    """Every registered spec by kind and name, with the distribution that provided it.

    A name that two plugins register is in neither's place: it is kept in ``conflicts`` with the
    distributions that registered it, and only asking for it (``get``) fails, with a message that
    says how to choose. ``problems`` holds, by distribution, the warnings about its plugins.
    """

    specs: dict[str, dict[str, object]] = field(default_factory=lambda: {k: {} for k in KINDS})
    providers: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    warnings: list[str] = field(default_factory=list)
    conflicts: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    entry_points: dict[str, list[str]] = field(default_factory=dict)  # distribution -> its plugin labels
    skipped: list[str] = field(default_factory=list)  # "distribution:entry point" left out on request
    problems: dict[str, list[str]] = field(default_factory=dict)

    def warn(self, line: str, *distributions: str) -> None:
        self.warnings.append(line)
        for distribution in distributions:
            self.problems.setdefault(distribution, []).append(line)

    def add(self, kind: str, spec, provider: str) -> None:
        clash = self.conflicts[kind].get(spec.name)
        if clash is None and spec.name in self.providers[kind]:
            clash = self.conflicts[kind][spec.name] = [self.providers[kind].pop(spec.name)]
            del self.specs[kind][spec.name]
        if clash is not None:
            clash.append(provider)
            self.warn(f"udabench: {self.conflict_message(kind, spec.name)}", *clash)
            return
        self.specs[kind][spec.name] = spec
        self.providers[kind][spec.name] = provider

    def conflict_message(self, kind: str, name: str) -> str:
        """What to do about ``name`` being registered by more than one distribution."""
        providers = sorted(self.conflicts[kind][name], key=lambda p: (p != "udabench", p))  # built-ins first
        times = "twice" if len(providers) == 2 else f"{len(providers)} times"
        if len(set(providers)) == 1:
            return (f"{kind[:-1]} '{name}' is registered {times} by '{providers[0]}': give each of its {kind} "
                    "a name of its own")
        named = ", ".join(f"'{p}'" for p in providers[:-1]) + f" and by '{providers[-1]}'"
        # Suggest leaving out a third-party distribution rather than udabench's built-ins.
        other = ([p for p in providers if p != "udabench"] or providers)[-1]
        return (f"{kind[:-1]} '{name}' is registered {times}: by {named}; to use it, leave one out: "
                f"pip uninstall {other}, or skip it with {DISABLE_VARIABLE}={other}")

    def get(self, kind: str, name: str):
        """The spec called ``name``; a family spec (``timm:``) matches ``timm:<anything>``."""
        table = self.specs[kind]
        if name in table:
            return table[name]
        if name in self.conflicts[kind]:
            raise UdabenchError(self.conflict_message(kind, name))
        prefix, sep, _ = name.partition(":")
        if sep and prefix + ":" in table:
            return table[prefix + ":"]
        raise unknown_name_error(kind[:-1], name, table)

    def names(self, kind: str) -> list[str]:
        return sorted(self.specs[kind])

    def resolves(self, kind: str, name: str) -> bool:
        """Whether ``get(kind, name)`` would return a spec."""
        try:
            self.get(kind, name)
        except UdabenchError:
            return False
        return True

    def task_problems(self, task, clashes: bool = True) -> list[str]:
        """Why ``task`` (a TaskSpec) cannot run here: datasets or a backbone that are not registered, and
        (with ``clashes``) ones that are registered more than once, with what to do about those."""
        problems = []
        for kind, name, what in (("datasets", task.source, "its source dataset"),
                                 ("datasets", task.target, "its target dataset"),
                                 ("backbones", task.backbone, "its backbone")):
            if self.resolves(kind, name):
                continue
            if name not in self.conflicts[kind]:
                problems.append(f"{what} '{name}' is not registered{_did_you_mean(name, self.specs[kind])}")
            elif clashes:
                problems.append(f"{what} '{name}': {self.conflict_message(kind, name)}")
        return problems


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def disabled_plugins() -> set[str]:
    """The distribution and entry-point names of ``UDABENCH_DISABLE_PLUGINS``."""
    return {name.strip() for name in os.environ.get(DISABLE_VARIABLE, "").split(",") if name.strip()}


def _distribution_name(entry_point) -> str:
    dist = getattr(entry_point, "dist", None)
    return dist.metadata["Name"] if dist is not None else entry_point.value


def new_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("udabench")
    manager.add_hookspecs(hookspecs)
    return manager


def load_registry(extra_plugins=(), warn=True) -> Registry:
    """Load every plugin of the entry-point group (plus ``extra_plugins``, given as
    ``(module, provider name)``) and collect their specs.

    A plugin that fails to import or to answer its hooks, or whose module implements no hook (its
    functions lack ``@hookimpl``), is reported as a one-line warning naming its distribution and
    what to do; the others keep working. Plugins named in ``UDABENCH_DISABLE_PLUGINS`` (distribution
    or entry-point names) are not loaded. Tasks made with ``TaskSpec.based_on`` are resolved against
    their base once every plugin has registered.
    """
    manager = new_plugin_manager()
    registry = Registry()
    providers: dict[int, str] = {}
    disabled = disabled_plugins()
    matched: set[str] = set()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = _distribution_name(entry_point)
        registry.entry_points.setdefault(dist, []).append(entry_point.name)
        if {dist, entry_point.name} & disabled:
            matched |= {dist, entry_point.name} & disabled
            registry.skipped.append(f"{dist}:{entry_point.name}")
            continue
        try:
            module = entry_point.load()
            if manager.is_registered(module):  # two entry points may name one module
                continue
            manager.register(module, name=f"{dist}:{entry_point.name}")
        except Exception as exc:  # a broken plugin must not take the others down
            registry.warn(
                f"udabench: plugin '{entry_point.name}' from distribution '{dist}' failed to load: "
                f"{type(exc).__name__}: {exc}", dist)
            continue
        providers[id(module)] = dist
        _check_hooks(manager, module, f"plugin '{entry_point.name}' from distribution '{dist}'", registry, dist)
    for module, provider in extra_plugins:
        registry.entry_points.setdefault(provider, []).append(getattr(module, "__name__", provider))
        if provider in disabled:
            matched.add(provider)
            registry.skipped.append(provider)
            continue
        manager.register(module, name=provider)
        providers[id(module)] = provider
        _check_hooks(manager, module, f"plugin '{getattr(module, '__name__', provider)}' from '{provider}'",
                     registry, provider)
    for name in sorted(disabled - matched):
        registry.warn(f"udabench: {DISABLE_VARIABLE} names '{name}', which is no installed plugin's distribution "
                      f"or entry-point name{_did_you_mean(name, _plugin_names(registry))} "
                      f"(installed: {', '.join(sorted(registry.entry_points)) or 'none'})")

    for kind in KINDS:
        hook = getattr(manager.hook, f"udabench_{kind}")
        for impl in hook.get_hookimpls():
            provider = providers.get(id(impl.plugin), impl.plugin_name)
            try:
                specs = impl.function() or []
            except Exception as exc:
                registry.warn(
                    f"udabench: plugin from distribution '{provider}' failed in udabench_{kind}: "
                    f"{type(exc).__name__}: {exc}", provider)
                continue
            wrong = [spec for spec in specs if not isinstance(spec, SPEC_TYPES[kind])]
            if wrong:
                registry.warn(
                    f"udabench: plugin from distribution '{provider}' returned {type(wrong[0]).__name__} from "
                    f"udabench_{kind}, expected {SPEC_TYPES[kind].__name__}; its {kind} are ignored", provider)
                continue
            for spec in specs:
                registry.add(kind, spec, provider)
    resolve_bases(registry)
    if warn:
        for line in registry.warnings:
            print(line, file=sys.stderr)
    return registry


def _plugin_names(registry: Registry) -> set[str]:
    return set(registry.entry_points) | {name for names in registry.entry_points.values() for name in names}


def _check_hooks(manager, module, label: str, registry: Registry, provider: str) -> None:
    """Warn about a plugin module whose hook functions would be silently ignored: no ``@hookimpl``,
    or a decorated name that is no udabench hook."""
    hook_names = sorted(name for name in vars(hookspecs) if name.startswith("udabench_"))
    registered, unmarked, unknown = [], [], []
    for attribute in sorted(dir(module)):
        if not attribute.startswith("udabench_"):
            continue
        value = getattr(module, attribute, None)
        marked = manager.parse_hookimpl_opts(module, attribute) is not None
        if marked and attribute in hook_names:
            registered.append(attribute)
        elif attribute in hook_names and inspect.isfunction(value):
            unmarked.append(attribute)
        elif marked or (inspect.isfunction(value)
                        and difflib.get_close_matches(attribute, hook_names, n=1, cutoff=0.85)):
            unknown.append(attribute)  # a misspelt hook, decorated or not
    fixes = []
    if unmarked:
        fixes.append(f"{' and '.join(unmarked)} lack{'s' if len(unmarked) == 1 else ''} @hookimpl "
                     "(from udabench.hookspecs import hookimpl, then put @hookimpl above each)")
    for name in unknown:
        fixes.append(f"{name} is no udabench hook{_did_you_mean(name, hook_names)}")
    if not registered:
        detail = "; ".join(fixes) or (f"module '{module.__name__}' defines none of the hooks "
                                      f"({', '.join(hook_names)}); the entry point must name the plugin module")
        registry.warn(f"udabench: {label} registers nothing: {detail}", provider)
    elif fixes:
        registry.warn(f"udabench: {label}: {'; '.join(fixes)}; those functions are ignored", provider)


def resolve_bases(registry: Registry) -> None:
    """Replace every task made with ``TaskSpec.based_on`` by its resolved spec; a task whose base is
    unknown (or cannot be resolved) is left out with a warning naming it."""
    tasks = registry.specs["tasks"]
    done: dict[str, object] = {}

    def resolve(name: str, chain: tuple[str, ...]):
        if name in done:
            return done[name]
        spec = tasks[name]
        result = spec
        if spec.pending_base:
            reason = None
            if spec.base in chain or spec.base == name:
                reason = f"is based on '{spec.base}', which is based on it in turn ({' -> '.join((*chain, name, spec.base))})"
            elif spec.base in registry.conflicts["tasks"]:
                reason = f"is based on '{spec.base}', which is registered by {' and by '.join(registry.conflicts['tasks'][spec.base])}"
            elif spec.base not in tasks:
                reason = (f"is based on '{spec.base}', which no plugin registers{_did_you_mean(spec.base, tasks)}; "
                          "fix the name given to TaskSpec.based_on or install the plugin that registers it")
            elif resolve(spec.base, (*chain, name)) is None:
                reason = f"is based on '{spec.base}', which is left out (see above)"
            else:
                try:
                    result = spec.resolved_with(done[spec.base])
                except (ValueError, TypeError) as exc:
                    reason = f"cannot start from '{spec.base}': {exc}"
            if reason is not None:
                provider = registry.providers["tasks"][name]
                registry.warn(f"udabench: task '{name}' from distribution '{provider}' {reason}; the task is left out",
                              provider)
                result = None
        done[name] = result
        return result

    for name in list(tasks):
        resolve(name, ())
    for name, spec in done.items():
        if spec is None:
            del tasks[name]
            del registry.providers["tasks"][name]
        else:
            tasks[name] = spec
