"""Run identity includes the code: a change to a method's source (or a udabench helper it imports)
gives its runs new keys, and ``results`` tells stored runs of older code apart."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from udabench import code
from udabench.hookspecs import hookimpl
from udabench.plugins import load_registry
from udabench.runner import RunRequest, prepare
from udabench.specs import MethodSpec, Phase


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """A method package on sys.path, ``mymethod_pkg``, whose files a test can rewrite."""
    package = tmp_path / "mymethod_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "method.py").write_text(textwrap.dedent("""
        from udabench.api import Method
        from .helpers import SCALE
        class Mine(Method):
            pass
    """))
    (package / "helpers.py").write_text("SCALE = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [n for n in sys.modules if n.startswith("mymethod_pkg")]:
        del sys.modules[name]
    code._digest.cache_clear()


def test_the_files_are_the_package_and_the_udabench_modules_it_imports(plugin_package):
    names = {str(p.relative_to(p.parents[1])) for p in code.source_files(["mymethod_pkg"])}
    assert {"mymethod_pkg/__init__.py", "mymethod_pkg/method.py", "mymethod_pkg/helpers.py",
            "udabench/method.py"} <= names  # Method, through udabench.api
    assert not any(name in names for name in ("udabench/specs.py", "udabench/errors.py", "udabench/hparams.py"))


def test_names_from_the_public_namespace_count_as_their_modules_and_finding_them_imports_no_torch():
    script = ("import sys; from udabench import code; "
              "print(sorted(p.name for p in code.source_files(['udabench_adabn']))); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split("\n")
    files = ast.literal_eval(out[0])
    # AdaBN's own package, source-only's method it builds on, and the helpers behind its udabench.api names
    assert {"method.py", "losses.py", "modes.py", "optim.py", "nets.py"} <= set(files)
    assert files.count("method.py") == 3  # udabench_adabn's, udabench_source_only's and udabench's contract
    assert "api.py" not in files and out[1] == "False"


def test_a_change_anywhere_in_the_package_changes_the_digest(plugin_package):
    before = code.digest(["mymethod_pkg"])
    code._digest.cache_clear()
    assert code.digest(["mymethod_pkg"]) == before  # stable
    (plugin_package / "helpers.py").write_text("SCALE = 2.0\n")
    code._digest.cache_clear()
    assert code.digest(["mymethod_pkg"]) != before


def test_the_run_key_names_the_code_and_results_mark_changed_code(plugin_package, tiny_digits):
    spec = MethodSpec("mine", "mymethod_pkg.method:Mine", "uda", (Phase("train", frozenset({"source"})),), {})
    module = type(sys)("mine_plugin")
    module.udabench_methods = hookimpl(lambda: [spec])
    registry = load_registry(extra_plugins=[(module, "udabench-mine")], warn=False)
    request = RunRequest(method="mine", task="mnist-usps", steps=3, device="cpu",
                         data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])})
    first = prepare(registry, request)
    assert first.config["code"]["method"].startswith("udabench-mine unversioned ")
    record = {"method": "mine", "config": first.config}
    assert code.code_status(record, registry) == "current"

    (plugin_package / "method.py").write_text((plugin_package / "method.py").read_text() + "\n# tuned\n")
    code._digest.cache_clear()
    second = prepare(registry, request)
    assert second.key != first.key
    assert code.code_status(record, registry) == "changed"
    assert code.code_status({"method": "mine", "config": {}}, registry) == "unrecorded"
    assert code.code_status({"method": "removed", "config": first.config}, registry) == "gone"


def test_the_built_in_methods_have_distinct_code():
    registry = load_registry(warn=False)
    backbone = registry.get("backbones", "dann-digits").factory
    identities = {name: code.code_identity(spec.factory, registry.providers["methods"][name], backbone)["method"]
                  for name, spec in registry.specs["methods"].items()}
    assert identities["dann"] != identities["source-only"]
    assert all(value.startswith("udabench ") for value in identities.values())
