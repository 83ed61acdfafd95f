"""The wheel installs verifiers/ and sandbox/ under distinct import names, and leaves no package out."""

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDER_OF = {"flywheel_verifiers": "verifiers", "flywheel_sandbox": "sandbox"}


def declared_packages() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_every_package_folder_is_declared():
    """An explicit package list (needed to rename folders) must not silently drop a new subpackage."""
    found = set()
    for top in ("flywheel", "dagster_project", "verifiers", "sandbox"):
        for init in (ROOT / top).rglob("__init__.py"):
            parts = list(init.parent.relative_to(ROOT).parts)
            parts[0] = {folder: name for name, folder in FOLDER_OF.items()}.get(parts[0], parts[0])
            found.add(".".join(parts))
    assert found == set(declared_packages())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"  # a clean copy: a stale build/ folder in the checkout would leak into the wheel
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "flywheel", "dagster_project", "verifiers", "sandbox"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (ROOT / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(folder), str(source)], check=True, capture_output=True, cwd=folder)
    (built,) = folder.glob("flywheel-*.whl")
    return built


def test_the_wheel_holds_the_distinct_names_only(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {"flywheel_verifiers", "flywheel_sandbox", "flywheel", "dagster_project"} <= tops
    assert not tops & {"verifiers", "sandbox"}
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in zipfile.ZipFile(wheel).namelist()
                                                    if n.endswith("entry_points.txt"))).decode()
    assert "math = flywheel_verifiers.math:MathVerifier" in entry_points


def test_outside_the_checkout_only_the_distinct_names_import(tmp_path):
    """From any other folder `verifiers` is whatever else the user installed (here: nothing), not ours."""
    code = ("import importlib.util as u, flywheel_verifiers.math, flywheel_sandbox\n"
            "print(u.find_spec('verifiers') is None, u.find_spec('sandbox') is None)\n"
            "from flywheel_sandbox import run_python\n")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["True", "True"]


CODE_VERSION = "from flywheel.round.lineage import code_version; import flywheel_verifiers; print(code_version())"


def _code_version_installed_from(site: Path) -> str:
    """code_version() with the package imported from ``site`` (a wheel's files), the venv's packages beside it but
    not its editable finder (-S: no .pth file runs)."""
    path = [str(site), sysconfig.get_paths()["purelib"]]
    found = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {path!r}; {CODE_VERSION}"],
                           capture_output=True, text=True, cwd=site, timeout=120)
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


def test_a_wheel_install_versions_the_checkers_code_as_the_checkout_does(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    checkout = subprocess.run([sys.executable, "-c", CODE_VERSION], capture_output=True, text=True, check=True,
                              cwd=tmp_path).stdout.strip()
    assert _code_version_installed_from(site) == checkout  # the same sources, the same version, installed either way
    checker = site / "flywheel_verifiers" / "math.py"
    checker.write_text(checker.read_text() + "\n# a changed checker\n")
    assert _code_version_installed_from(site) != checkout  # so verify is stale after a checker changes
