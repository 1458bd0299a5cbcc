"""The code that trains a run: its method's and backbone's source files, hashed into the run's key.

A run's outcome depends on the method's code as much as on its hyperparameters, so a run key that
ignored the code would hand back a stored result after the method changed. The identity of a run's
code is: the distribution and version that registered the method, and a hash of the source files of
the method's package, of the backbone's module, and of the udabench modules those import (the
shared method helpers, the translators), found by reading their import statements; a name imported
from the public namespace ``udabench.api`` counts as the module it comes from, and a module of
another ``udabench_*`` plugin package that a method imports counts too. Modules that
only describe things (specs, errors, hook specifications, the registry) are left out, so editing a
docstring there reruns nothing. Importing this module never imports torch.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from importlib import metadata
from pathlib import Path

# udabench modules that name or describe things but do not compute a run's numbers.
# (Hyperparameter values are in the key already; ``udabench.hparams`` holds their defaults and help.)
DESCRIPTIVE = frozenset({"udabench", "udabench.specs", "udabench.errors", "udabench.hookspecs",
                         "udabench.plugins", "udabench.hparams", "udabench.api"})
PUBLIC = "udabench.api"  # the plugin authors' namespace: a name imported from it counts as its own module


def _behind_public(name: str) -> str | None:
    """The module behind a name of the public namespace (``udabench.api.sgd`` -> ``udabench.optim``)."""
    from udabench import api  # plain Python: importing it imports no torch

    module = api.module_of(name.rpartition(".")[2])
    return module if module and module.startswith("udabench.") else None


def _module_file(name: str) -> Path | None:
    parent = name.rpartition(".")[0]
    if parent and getattr(_module_file(parent), "name", None) != "__init__.py":
        return None  # a name inside a module is not a module (and finding it would import that module)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imported_udabench_modules(path: Path, package: str | None) -> set[str]:
    """The ``udabench.*`` modules and ``udabench_*`` plugin modules that ``path`` imports (absolute or
    relative imports): a method built on another plugin's code (AdaBN on source-only's) depends on it."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except (OSError, SyntaxError):
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        if names and names[0] == PUBLIC:
            names = [module for module in map(_behind_public, names[1:]) if module]
        found.update(name for name in names if name.split(".")[0] == "udabench" or name.startswith("udabench_"))
    return found


def source_files(roots: list[str]) -> list[Path]:
    """The files behind ``roots`` (module names; a package stands for all its modules) and the udabench
    modules they import, transitively, less the descriptive ones."""
    files: dict[Path, str] = {}
    pending = []
    for root in roots:
        path = _module_file(root)
        if path is None:
            continue
        if path.name == "__init__.py":  # a package: every module in it
            for child in sorted(path.parent.rglob("*.py")):
                relative = child.relative_to(path.parent).with_suffix("")
                parts = [p for p in relative.parts if p != "__init__"]
                pending.append((child, ".".join([root, *parts])))
        else:
            pending.append((path, root))
    while pending:
        path, name = pending.pop()
        if path in files:
            continue
        files[path] = name
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in _imported_udabench_modules(path, package):
            if imported in DESCRIPTIVE:
                continue
            imported_path = _module_file(imported)
            if imported_path is not None and imported_path not in files:
                pending.append((imported_path, imported))
    return sorted(files, key=lambda p: files[p])


@functools.lru_cache(maxsize=None)
def _digest(roots: tuple[str, ...]) -> str:
    hasher = hashlib.sha256()
    for path in source_files(list(roots)):
        hasher.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hasher.hexdigest()[:16]


def digest(roots: list[str]) -> str:
    """A short hash of the contents of :func:`source_files` (names relative to their modules, so the
    same code installed elsewhere hashes the same); computed once per process."""
    return _digest(tuple(roots))


def _top_module(factory: str) -> str:
    return factory.partition(":")[0]


def code_identity(method_factory: str, method_provider: str, backbone_factory: str) -> dict[str, str]:
    """``{"method": "<distribution> <version> <hash>", "backbone": "<hash>"}`` for a run's key."""
    try:
        version = metadata.version(method_provider)
    except (metadata.PackageNotFoundError, ValueError):
        version = "unversioned"
    package = _top_module(method_factory).split(".")[0]
    return {"method": f"{method_provider} {version} {digest([package])}",
            "backbone": digest([_top_module(backbone_factory)])}


def code_status(record, registry) -> str:
    """Whether a stored run was trained by the code installed now: ``current``, ``changed`` (its
    method's or backbone's code differs: a rerun would train it again), ``gone`` (the method or
    backbone is no longer registered) or ``unrecorded`` (stored before runs carried their code)."""
    recorded = record.get("config", {}).get("code")
    if not recorded:
        return "unrecorded"
    try:
        method = registry.get("methods", record["method"])
        backbone = registry.get("backbones", record["config"].get("backbone", ""))
    except Exception:
        return "gone"
    now = code_identity(method.factory, registry.providers["methods"].get(method.name, "unknown"), backbone.factory)
    return "current" if now == recorded else "changed"
