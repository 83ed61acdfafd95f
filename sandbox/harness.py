"""Runs inside the sandbox under /usr/bin/python3: the program, then each test, reporting on a pipe.

The host decides pass/fail from what arrives on that pipe *and* from its own list of the
tests it expected, so a program that exits early, or never reaches a test, fails.
Standard library only: this file runs under the system interpreter in the sandbox.
"""

import json
import os
import sys
import traceback


def report(channel, record):
    channel.write(json.dumps(record) + "\n")
    channel.flush()


def main():
    channel = os.fdopen(int(sys.argv[1]), "w")
    program_path, tests_path = sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None
    namespace = {"__name__": "__main__"}
    sys.stdin = open(os.devnull)
    try:
        code = compile(open(program_path).read(), "program.py", "exec")
        exec(code, namespace)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001
        report(channel, {"kind": "program_error", "error": "".join(traceback.format_exception_only(type(error), error)).strip()})
        sys.exit(1)
    report(channel, {"kind": "program_done"})
    if tests_path is None:
        return
    test_namespace = dict(namespace)
    exec(compile(open(tests_path).read(), "tests.py", "exec"), test_namespace)
    for name in [n for n in test_namespace if n.startswith("test") and callable(test_namespace[n])]:
        try:
            test_namespace[name]()
            report(channel, {"kind": "test", "name": name, "passed": True})
        except BaseException as error:  # noqa: BLE001
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
            report(channel, {"kind": "test", "name": name, "passed": False, "error": text[:2000]})


if __name__ == "__main__":
    main()
