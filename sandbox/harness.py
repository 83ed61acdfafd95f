"""Runs inside the sandbox (system Python, standard library only): the program, then each test.

Results go to a pipe, never to stdout. Every ``assert`` in the tests has been rewritten
by the host (sandbox.tests.rewrite_tests) into ``__fw_check__(id, op, left, right)``: the
values are serialised here with exact-type checks, using builtins captured before the
untrusted program ran, and the host compares them again itself. So an object whose
``__eq__`` always returns True, a patched ``AssertionError`` or builtins, an early exit or a
printed "all tests passed" never turns into a pass.
"""

import os
import sys
import traceback

# Captured at import, before any untrusted code runs in this process.
_type, _repr, _len, _sorted, _write = type, repr, len, sorted, os.write
_PLAIN = (int, float, str, bool, type(None), bytes)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_MAX_DEPTH = 20


class Unserialisable(Exception):
    pass


def encode(value, depth=0):
    """A Python literal of plain values only (the host reads it with ast.literal_eval)."""
    kind = _type(value)
    if depth > _MAX_DEPTH:
        raise Unserialisable("value nested too deeply")
    if kind is float and value != value or kind is float and value in (float("inf"), float("-inf")):
        return "('__fw_float__', %s)" % _repr(_repr(value))
    if kind in _PLAIN:
        return _repr(value)
    if kind is list or kind is tuple:
        inner = ", ".join(encode(item, depth + 1) for item in value)
        return "[%s]" % inner if kind is list else "(%s%s)" % (inner, "," if _len(value) == 1 else "")
    if kind is set or kind is frozenset:
        return "('__fw_set__', (%s,))" % ", ".join(encode(item, depth + 1) for item in value)
    if kind is dict:
        return "{%s}" % ", ".join("%s: %s" % (encode(k, depth + 1), encode(v, depth + 1)) for k, v in value.items())
    raise Unserialisable("a value of type %s cannot be checked (tests must compare plain values)" % kind.__name__)


class Channel:
    def __init__(self, fd):
        self.fd = fd

    def send(self, record):
        data = (_repr(record) + "\n").encode()
        while data:
            data = data[_write(self.fd, data):]


def run_job(channel, program_source, tests_source, test_names):
    """Execute the program, then each named test, reporting every step on ``channel``."""
    current = {"test": None}

    def check(assert_id, op, left, right, message=None):
        try:
            record = {"kind": "assert", "test": current["test"], "id": assert_id, "op": op,
                      "left": encode(left), "right": encode(right)}
        except Unserialisable as error:
            channel.send({"kind": "assert", "test": current["test"], "id": assert_id, "op": op, "error": str(error)})
            raise AssertionError(str(error)) from None
        channel.send(record)
        if not _holds(op, left, right):
            shown = "%s %s %s" % (record["left"][:200], op, record["right"][:200]) if op != "truth" else record["left"][:200]
            raise AssertionError("%s (%s)" % (message, shown) if message is not None else shown)

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.stdin = open(os.devnull)
    try:
        exec(compile(program_source, "program.py", "exec"), namespace)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001
        channel.send({"kind": "program_error", "error": "".join(traceback.format_exception_only(_type(error), error)).strip()[:2000]})
        return
    channel.send({"kind": "program_done"})
    if tests_source is None:
        return
    namespace["__fw_check__"] = check
    try:
        exec(compile(tests_source, "tests.py", "exec"), namespace)
    except BaseException as error:  # noqa: BLE001
        channel.send({"kind": "program_error", "error": "tests failed to load: %s" % error})
        return
    for name in test_names:
        current["test"] = name
        try:
            namespace[name]()
            channel.send({"kind": "test", "name": name, "passed": True})
        except BaseException as error:  # noqa: BLE001
            text = "".join(traceback.format_exception_only(_type(error), error)).strip()
            channel.send({"kind": "test", "name": name, "passed": False, "error": text[:2000]})


def _holds(op, left, right):
    # Only plain values reach here (encode succeeded), so these comparisons run no user code.
    if op == "truth":
        return _type(left) is bool and left is True or (_type(left) is not bool and bool(left))
    return {"==": lambda: left == right, "!=": lambda: left != right, "<": lambda: left < right,
            "<=": lambda: left <= right, ">": lambda: left > right, ">=": lambda: left >= right,
            "in": lambda: left in right, "not in": lambda: left not in right,
            "is": lambda: left is right, "is not": lambda: left is not right}[op]()


def main():
    """One-shot mode: ``harness.py FD PROGRAM [TESTS NAMES...]`` (the per-execution bwrap runner)."""
    fd, program = int(sys.argv[1]), sys.argv[2]
    tests = sys.argv[3] if len(sys.argv) > 3 else None
    names = sys.argv[4:]
    run_job(Channel(fd), open(program).read(), open(tests).read() if tests else None, names)


if __name__ == "__main__":
    main()
