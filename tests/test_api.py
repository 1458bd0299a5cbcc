"""The public namespace for plugin authors: every name resolves, torch waits until it is needed, and
the built-in plugins and examples import from it alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import udabench.api as api

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_resolves():
    missing = [name for name in api.__all__ if getattr(api, name, None) is None]
    assert not missing
    assert sorted(dir(api)) == sorted(api.__all__)


def test_an_unknown_name_is_an_attribute_error():
    try:
        api.no_such_helper
    except AttributeError as error:
        assert "no_such_helper" in str(error)
    else:
        raise AssertionError("an unknown name resolved")


def test_importing_the_namespace_and_registering_specs_does_not_import_torch():
    code = ("import sys, udabench.api as api; "
            "api.MethodSpec(name='m', factory='x:M', setting='uda', phases=(api.SOURCE_PHASE,), hparams={}); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def core_imports(path: Path) -> set[str]:
    """The ``udabench`` modules a file imports (``udabench_*`` plugin packages are not core)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if node.module == "udabench":
                found.update(names[1:])
            elif node.module.startswith("udabench."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names
                         if alias.name == "udabench" or alias.name.startswith("udabench."))
    return found


def test_plugins_and_examples_import_the_core_through_the_public_namespace_alone():
    files = [*ROOT.glob("plugins/*/*.py"), *ROOT.glob("examples/*/*/*.py")]
    assert len(files) > 30
    strays = {str(path.relative_to(ROOT)): sorted(core_imports(path) - {"udabench.api"})
              for path in files if core_imports(path) - {"udabench.api"}}
    assert not strays
