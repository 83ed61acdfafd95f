"""Programs in other languages than Python, compiled and run in the sandbox (flywheel_sandbox.programs).

In every language, five right and five certainly-wrong solutions of stdin/stdout tasks are judged right; the
hostile programs are in test_programs_hostile.py (a file of their own, so that xdist runs the two side by side).
"""

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from flywheel_sandbox import Limits
from flywheel_sandbox.languages import LANGUAGES, language_named
from flywheel_sandbox.artifacts import CompileCache
from flywheel_sandbox.programs import build, run_built, run_io_program
from flywheel_sandbox.runner import bwrap_available
from tests.sandbox.programs_by_language import RIGHT, TASKS, WRONG

pytestmark = pytest.mark.skipif(not bwrap_available() or os.geteuid() != 0,
                                reason="bubblewrap as root is needed (make setup installs it)")
LIMITS = Limits(cpu_seconds=1, wall_seconds=6)
COMPILED = sorted(name for name, language in LANGUAGES.items() if language.compile)


def test_every_language_has_its_toolchain_installed():
    missing = [name for name in LANGUAGES if shutil.which(LANGUAGES[name].version[0], path="/usr/bin") is None]
    assert missing == [], f"scripts/setup.sh installs these toolchains: {missing}"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_right_solutions_pass_and_wrong_ones_fail(language):
    jobs = [(True, task, code) for task, code in RIGHT[language].items()] + \
           [(False, task, code) for task, code in WRONG[language].items()]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda job: run_io_program(language, job[2], TASKS[job[1]], LIMITS), jobs))
    for (right, task, _), result in zip(jobs, results):
        assert result.passed == right, (task, right, result.status, result.reason)
        assert len(result.tests) == (3 if result.tests else 0)
    by_task = {task: result for (right, task, _), result in zip(jobs, results) if not right}
    assert by_task["words"].status == "failed"  # a compile (or syntax) error is the program's failure, not 'error'
    if LANGUAGES[language].compile:
        assert by_task["words"].reason.startswith("compile error:") and by_task["words"].tests == []
    assert by_task["factorial"].status == "timeout" and "CPU seconds" in by_task["factorial"].reason
    assert [t.passed for t in by_task["max"].tests] == [True, False, True]  # only the all-negative case fails


def test_a_compiled_program_is_cached_by_its_source_and_runs_read_only(tmp_path):
    cache = CompileCache(entries=3)
    cpp = language_named("c++")
    first = build(cpp, RIGHT["cpp"]["sum"], cache=cache)
    again = build(cpp, RIGHT["cpp"]["sum"], cache=cache)
    assert first.folder == again.folder and again.cached and not first.cached
    other = build(cpp, RIGHT["cpp"]["sum"] + "\n// another source\n", cache=cache)
    assert other.folder != first.folder and not other.cached
    tamper = build(cpp, '#include <cstdio>\nint main(){FILE*f=fopen("/prog/main","w");puts(f?"wrote":"refused");}',
                   cache=cache)
    step = run_built(cpp, "", tamper, b"", LIMITS)
    assert step.stdout == b"refused\n"
    assert run_built(cpp, RIGHT["cpp"]["sum"], first, b"2 3\n", LIMITS).stdout == b"5\n"
    build(cpp, "int main(){}", cache=cache)  # a fourth entry: the least recently used one goes
    assert not first.folder.exists()



def test_cpp_compiles_against_the_precompiled_standard_header_and_cannot_change_it():
    """g++ -H marks a precompiled header it uses with '!': the sandboxed compile finds the host's at /pch. A program
    that includes another header first (where GCC cannot use it) still compiles and runs, and the compile step
    cannot write the header that every later compile reads."""
    from flywheel_sandbox.artifacts import precompiled_headers
    from flywheel_sandbox.programs import COMPILE_LIMITS, _source_folder, compile_command, sandboxed

    cpp = language_named("cpp")
    headers = precompiled_headers(cpp)
    assert headers is not None and (headers / "bits" / "stdc++.h.gch").stat().st_size > 0
    code = "#include <bits/stdc++.h>\nint main() { std::puts(\"ok\"); }\n"
    source = _source_folder(cpp, code)
    try:
        command, binds = compile_command(cpp, code, COMPILE_LIMITS, source)
        step = sandboxed(["/bin/sh", "-c", 'mkdir -p /work/out && "$@"', "compile", *command, "-H"], COMPILE_LIMITS,
                         binds=binds, address_space=False)
        assert step.status == "passed", step.stderr[-2000:]
        assert step.stderr.decode().splitlines()[0] == "! /pch/bits/stdc++.h.gch"
        write = sandboxed(["/bin/sh", "-c", "echo x > /pch/bits/stdc++.h.gch || rm -f /pch/bits/stdc++.h.gch"],
                          COMPILE_LIMITS, binds=binds, address_space=False)
        assert write.status != "passed"
        assert (headers / "bits" / "stdc++.h.gch").stat().st_size > 1000
    finally:
        shutil.rmtree(source, ignore_errors=True)
    included_late = "#include <iostream>\n#include <bits/stdc++.h>\n#include <bits/stdc++.h>\nint main() { std::vector<int> v{2, 1}; " \
                    "std::sort(v.begin(), v.end()); std::cout << v[0] << v[1]; }\n"
    assert run_io_program("cpp", included_late, [("", "12")], LIMITS).passed


def test_the_precompiled_header_is_made_once_per_machine_in_a_folder_of_the_users_own(tmp_path):
    """Two processes with the same temporary folder: the first builds it there, the second finds it (same folder,
    same file, untouched), and nothing half-built is left beside it. A folder that others can write is not
    trusted: the header is then made in a private folder."""
    import subprocess
    import sys

    probe = ("from flywheel_sandbox.languages import LANGUAGES\n"
             "from flywheel_sandbox.artifacts import precompiled_headers\n"
             "folder = precompiled_headers(LANGUAGES['cpp'])\n"
             "print(folder, (folder / 'bits' / 'stdc++.h.gch').stat().st_mtime_ns)\n")
    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    first, second = (subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                                    env=environment) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    cache = tmp_path / f"flywheel-precompiled-{os.getuid()}"
    folder = first.stdout.split()[0]
    assert folder.startswith(str(cache / "cpp-")) and [path.name for path in cache.iterdir()] == [folder.split("/")[-1]]
    cache.chmod(0o777)  # as if another user had made it, open to anyone
    third = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=environment)
    assert third.returncode == 0 and not third.stdout.startswith(str(cache)), third.stdout + third.stderr
