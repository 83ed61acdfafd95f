"""Every module of flywheel/, verifiers/, sandbox/ and dagster_project/ has at least one fast test (the inner loop,
`make test-fast`, reaches all of them).

A module counts when a test file that holds at least one test not marked ``slow`` imports it, runs it with
``python -m``, or mirrors it (tests/sandbox/test_zygote.py for sandbox/zygote.py: a module that runs as a
program, inside a sandbox or a container, is tested through the command that runs it); a package counts when
one of its modules does, and a module its package's ``__init__`` re-exports (flywheel/config/sft.py) counts
when the package does: its tests reach it through that public face. A file's slow tests and fast tests are not told
apart any finer: a module named only by a file's slow tests still counts there, so keep such a file's fast tests
about what it imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The source folders under their import names (pyproject.toml's package-dir)
PACKAGES = {"flywheel": "flywheel", "verifiers": "flywheel_verifiers", "sandbox": "flywheel_sandbox",
            "dagster_project": "dagster_project"}
RUN_AS_MODULE = re.compile(r"""["']-m["'],\s*["']([\w.]+)["']""")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Each module's import name, and the test file that would mirror it."""
    found = {}
    for folder, name in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root / folder)
            parts = (name, *relative.with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = \
                root / "tests" / folder / relative.parent / f"test_{path.stem}.py"
    return found


def _marked_slow(node: ast.AST) -> bool:
    return "mark.slow" in ast.unparse(node)


def named_by_fast_tests(tests: Path) -> tuple[set[str], set[Path]]:
    """Every module name a fast test file imports or runs (with its packages), and the fast test files."""
    named, fast_files = set(), set()
    for path in sorted(tests.rglob("*.py")):
        tree = ast.parse(path.read_text())
        file_slow = any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
                        and _marked_slow(node.value) for node in tree.body)
        functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and node.name.startswith("test")]
        if file_slow or not any(not any(_marked_slow(d) for d in f.decorator_list) for f in functions):
            continue
        fast_files.add(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                named.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                named.add(node.module)
                named.update(f"{node.module}.{alias.name}" for alias in node.names)
        for module in RUN_AS_MODULE.findall(path.read_text()):
            named.update({module, f"{module}.__main__"})
    with_packages = {prefix for name in named for prefix in (".".join(name.split(".")[:i]) for i in
                                                             range(1, name.count(".") + 2))}
    return with_packages, fast_files


def reexported(root: Path = ROOT) -> dict[str, str]:
    """module -> its package, for each module a package's ``__init__`` imports names from."""
    found = {}
    for module, _ in modules(root).items():
        folder = next(f for f, name in PACKAGES.items() if module.split(".")[0] == name)
        init = root / folder / Path(*module.split(".")[1:]) / "__init__.py"
        if init.exists():
            for node in ast.walk(ast.parse(init.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(module + "."):
                    found[node.module] = module
    return found


def test_every_module_has_a_fast_test():
    named, fast_files = named_by_fast_tests(ROOT / "tests")
    named |= {module for module, package in reexported().items() if package in named}
    missing = [module for module, mirror in modules().items() if module not in named and mirror not in fast_files]
    assert not missing, f"no fast test imports or runs: {', '.join(missing)} (add one; see tests/test_fast_tier.py)"


def test_a_module_named_only_by_slow_tests_is_found_missing(tmp_path):
    (tmp_path / "test_slow_file.py").write_text(
        "import pytest\nfrom flywheel.export import export_round\npytestmark = pytest.mark.slow\ndef test_a():\n    pass\n")
    (tmp_path / "test_slow_one.py").write_text(
        "import pytest\nimport flywheel.round.stopping\n@pytest.mark.slow\ndef test_a():\n    pass\n")
    (tmp_path / "test_fast.py").write_text(
        "import subprocess, sys\nfrom flywheel.curation import mixing\ndef test_a():\n"
        "    subprocess.run([sys.executable, '-m', 'flywheel_sandbox', 'run'])\n")
    named, fast_files = named_by_fast_tests(tmp_path)
    assert fast_files == {tmp_path / "test_fast.py"}
    assert {"flywheel", "flywheel.curation.mixing", "flywheel_sandbox", "flywheel_sandbox.__main__"} <= named
    assert not {"flywheel.export", "flywheel.round.stopping"} & named
