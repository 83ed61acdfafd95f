import subprocess
import sys

from flywheel.config import PACKAGE_DIR


def test_library_never_imports_dagster():
    modules = sorted(p.relative_to(PACKAGE_DIR.parent).with_suffix("").as_posix().replace("/", ".")
                     for p in PACKAGE_DIR.rglob("*.py") if p.name != "__main__.py")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "bad = [m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')]\nprint(bad)\n")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def _environment_writes(path):
    """Lines of ``path`` that change this process's environment (os.environ[...] =, setdefault, putenv, ...)."""
    import ast

    def is_environ(node):
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else (
            [node.target] if isinstance(node, ast.AugAssign) else [])
        if any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets):
            found.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                (is_environ(node.func.value) and node.func.attr in {"setdefault", "update", "pop", "clear", "popitem"})
                or node.func.attr in {"putenv", "unsetenv"}):
            found.append(node.lineno)
    return found


def test_configuration_flows_through_arguments_not_the_process_environment():
    """Settings reach a stage through its config; a library that writes os.environ changes every other
    library in the process (and hides the setting from anyone calling the stage without Dagster)."""
    root = PACKAGE_DIR.parent
    writes = {str(path.relative_to(root)): lines
              for package in ("flywheel", "verifiers", "sandbox", "dagster_project")
              for path in sorted((root / package).rglob("*.py")) if (lines := _environment_writes(path))}
    assert writes == {}


def test_the_environment_scan_finds_writes(tmp_path):
    sample = tmp_path / "writes.py"
    sample.write_text("import os\nos.environ['A'] = '1'\nos.environ.setdefault('B', '2')\nos.putenv('C', '3')\n"
                      "env = dict(os.environ, D='4')\nprint(os.environ.get('E'))\n")
    assert _environment_writes(sample) == [2, 3, 4]
