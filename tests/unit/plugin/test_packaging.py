"""The layout users were given, and what the wheel installs: every package of the tree and the suites as
``pytest_oslab.suites`` (nothing else at the top of site-packages); at the checkout's root ``pytest`` collects the
suites and only them; the top-level conftest stops a checkout run judged by another copy of the plugin."""
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_wheel_lists_every_package_of_the_tree_and_the_suites_inside_the_namespace():
    setuptools = PYPROJECT["tool"]["setuptools"]
    tree = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "pytest_oslab").rglob("__init__.py")}
    assert set(setuptools["packages"]) == tree | {"pytest_oslab.suites"}
    assert setuptools["package-dir"] == {"pytest_oslab.suites": "suites"}
    assert (REPO / "suites" / "__init__.py").is_file()
    assert {p.split(".")[0] for p in setuptools["packages"]} == {"pytest_oslab"}


def test_at_the_checkout_root_pytest_collects_the_suites_only():
    assert PYPROJECT["tool"]["pytest"]["ini_options"]["testpaths"] == ["suites"]
    done = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    tests = [line for line in done.stdout.splitlines() if "::" in line]
    assert done.returncode == 0, done.stdout + done.stderr
    assert tests and all(line.startswith("suites/test_") for line in tests), tests[:5]


def _checkout_conftest():
    spec = importlib.util.spec_from_file_location("checkout_conftest", REPO / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_checkout_run_needs_the_checkouts_own_plugin(tmp_path):
    conftest = _checkout_conftest()
    assert conftest.plugin_mismatch(REPO, str(REPO / "pytest_oslab" / "__init__.py")) == ""
    elsewhere = tmp_path / "site-packages" / "pytest_oslab" / "__init__.py"
    line = conftest.plugin_mismatch(REPO, str(elsewhere))
    assert line == (f"oslab: this checkout ({REPO}) would run with pytest_oslab from {elsewhere.parent}; install "
                    f"the checkout's own: make venv (or pip install -e {REPO})")
