"""Discovers plugins through the ``udabench`` entry-point group and keeps one registry per kind."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from udabench import hookspecs
from udabench.errors import UdabenchError, unknown_name_error
from udabench.specs import BackboneSpec, DatasetSpec, MethodSpec, MetricSpec, SuiteSpec, TaskSpec

ENTRY_POINT_GROUP = "udabench"
KINDS = ("datasets", "tasks", "backbones", "methods", "metrics", "suites")
SPEC_TYPES = {"datasets": DatasetSpec, "tasks": TaskSpec, "backbones": BackboneSpec, "methods": MethodSpec,
              "metrics": MetricSpec, "suites": SuiteSpec}


@dataclass
class Registry:
    """Every registered spec by kind and name, with the distribution that provided it."""

    specs: dict[str, dict[str, object]] = field(default_factory=lambda: {k: {} for k in KINDS})
    providers: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    warnings: list[str] = field(default_factory=list)

    def add(self, kind: str, spec, provider: str) -> None:
        existing = self.providers[kind].get(spec.name)
        if existing is not None:
            raise UdabenchError(
                f"{kind[:-1]} '{spec.name}' is registered twice: by '{existing}' and by '{provider}'"
            )
        self.specs[kind][spec.name] = spec
        self.providers[kind][spec.name] = provider

    def get(self, kind: str, name: str):
        """The spec called ``name``; a family spec (``timm:``) matches ``timm:<anything>``."""
        table = self.specs[kind]
        if name in table:
            return table[name]
        prefix, sep, _ = name.partition(":")
        if sep and prefix + ":" in table:
            return table[prefix + ":"]
        raise unknown_name_error(kind[:-1], name, table)

    def names(self, kind: str) -> list[str]:
        return sorted(self.specs[kind])


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

    A plugin that fails to import or to answer its hooks is reported as a one-line warning naming
    its distribution and the error; the others keep working.
    """
    manager = new_plugin_manager()
    registry = Registry()
    providers: dict[int, str] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = _distribution_name(entry_point)
        try:
            module = entry_point.load()
            if manager.is_registered(module):  # two entry points may name one module
                continue
            manager.register(module, name=f"{dist}:{entry_point.name}")
        except Exception as exc:  # a broken plugin must not take the others down
            registry.warnings.append(
                f"udabench: plugin '{entry_point.name}' from distribution '{dist}' failed to load: "
                f"{type(exc).__name__}: {exc}"
            )
            continue
        providers[id(module)] = dist
    for module, provider in extra_plugins:
        manager.register(module, name=provider)
        providers[id(module)] = provider

    for kind in KINDS:
        hook = getattr(manager.hook, f"udabench_{kind}")
        for impl in hook.get_hookimpls():
            provider = providers.get(id(impl.plugin), impl.plugin_name)
            try:
                specs = impl.function() or []
            except Exception as exc:
                registry.warnings.append(
                    f"udabench: plugin from distribution '{provider}' failed in udabench_{kind}: "
                    f"{type(exc).__name__}: {exc}"
                )
                continue
            wrong = [spec for spec in specs if not isinstance(spec, SPEC_TYPES[kind])]
            if wrong:
                registry.warnings.append(
                    f"udabench: plugin from distribution '{provider}' returned {type(wrong[0]).__name__} from "
                    f"udabench_{kind}, expected {SPEC_TYPES[kind].__name__}; its {kind} are ignored"
                )
                continue
            for spec in specs:
                registry.add(kind, spec, provider)
    if warn:
        for line in registry.warnings:
            print(line, file=sys.stderr)
    return registry
