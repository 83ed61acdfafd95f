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
