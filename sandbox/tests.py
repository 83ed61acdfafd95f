"""The host's half of the test contract: rewrite asserts before the run, verify values after it.

Tests are ``def test_*`` functions or bare top-level asserts (each becomes one test).
Every ``assert`` becomes ``__fw_check__(id, op, left, right)``; the sandbox reports the
values as Python literals and the host compares them again here, so nothing the
untrusted code does to comparison, exceptions or the harness's own checks can make a
failed assertion pass. A test passes only if the harness reported it passed, every
assertion it reported holds here, and it reported at least one assertion if it has any.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

from sandbox.result import TestOutcome

_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
        ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
_CHECK = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
          ">=": operator.ge, "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
          "is": lambda a, b: a is b or (a is None and b is None) or (type(a) is bool and a == b),
          "is not": lambda a, b: not (a is b or (type(a) is bool and a == b)),
          "truth": lambda a, _: bool(a)}


@dataclass(frozen=True)
class PreparedTests:
    source: str
    names: list[str]
    asserts: dict[str, int]  # test name -> assert statements it contains


class _RewriteAsserts(ast.NodeTransformer):
    def __init__(self):
        self.count = 0

    def visit_Assert(self, node: ast.Assert) -> ast.Expr:
        self.count += 1
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _OPS:
            op, left, right = _OPS[type(test.ops[0])], test.left, test.comparators[0]
        else:
            op, left, right = "truth", test, ast.Constant(None)
        message = node.msg if node.msg is not None else ast.Constant(None)
        call = ast.Call(func=ast.Name("__fw_check__", ast.Load()), args=[ast.Constant(self.count), ast.Constant(op),
                        left, right, message], keywords=[])
        return ast.copy_location(ast.Expr(call), node)


def _function(name: str, body: list[ast.stmt]) -> ast.FunctionDef:
    return ast.FunctionDef(name=name, args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                                       defaults=[]), body=body, decorator_list=[], returns=None,
                           type_params=[])


def prepare_tests(source: str) -> PreparedTests:
    """Rewrite asserts and list the tests; raises SyntaxError for tests that do not parse."""
    tree = ast.parse(source)
    body, names, asserts = [], [], {}
    for node in tree.body:
        if isinstance(node, ast.Assert):
            name = f"test_assert_{len([n for n in names if n.startswith('test_assert_')]) + 1}"
            body.append(_function(name, [node]))
            names.append(name)
        else:
            body.append(node)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                names.append(node.name)
    module = ast.Module(body=body, type_ignores=[])
    for node in module.body:
        rewriter = _RewriteAsserts()
        rewriter.visit(node)
        if isinstance(node, ast.FunctionDef) and node.name in names:
            asserts[node.name] = rewriter.count
    return PreparedTests(ast.unparse(ast.fix_missing_locations(module)), names, asserts)


def _decode(value):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__fw_set__":
        return frozenset(_decode(v) for v in value[1])
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__fw_float__":
        return float(value[1])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(v) for v in value)
    if isinstance(value, dict):
        return {_decode(k): _decode(v) for k, v in value.items()}
    return value


def check_record(record: dict) -> tuple[bool, str]:
    """Re-evaluate one reported assertion on the host from its literal values."""
    if "error" in record:
        return False, record["error"]
    try:
        left, right = _decode(ast.literal_eval(record["left"])), _decode(ast.literal_eval(record["right"]))
        holds = bool(_CHECK[record["op"]](left, right))
    except Exception as error:  # noqa: BLE001 - malformed report: not a pass
        return False, f"unreadable assertion report ({type(error).__name__})"
    return holds, "" if holds else f"assertion {record['id']} failed: {record['left'][:200]} {record['op']} {record['right'][:200]}"


def parse_events(raw: str) -> list[dict]:
    events = []
    for line in raw.splitlines():
        try:
            event = ast.literal_eval(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(event, dict) and isinstance(event.get("kind"), str):
            events.append(event)
    return events


def judge_tests(events: list[dict], prepared: PreparedTests) -> list[TestOutcome]:
    """Per-test outcomes as the host sees them; a test missing from the report is a failure."""
    reported = {e["name"]: e for e in events if e["kind"] == "test" and e.get("name") in prepared.names}
    checks: dict[str, list[dict]] = {}
    for event in events:
        if event["kind"] == "assert":
            checks.setdefault(event.get("test"), []).append(event)
    outcomes = []
    for name in prepared.names:
        event = reported.get(name)
        if event is None:
            outcomes.append(TestOutcome(name, False, "never reported"))
            continue
        errors = [reason for ok, reason in map(check_record, checks.get(name, [])) if not ok]
        if not event.get("passed"):
            outcomes.append(TestOutcome(name, False, str(event.get("error", ""))[:2000]))
        elif errors:
            outcomes.append(TestOutcome(name, False, f"harness said passed, host disagrees: {errors[0]}"))
        elif prepared.asserts.get(name, 0) and not checks.get(name):
            outcomes.append(TestOutcome(name, False, "no assertion was reported"))
        else:
            outcomes.append(TestOutcome(name, True))
    return outcomes


def build_result(raw_events: str, prepared: PreparedTests | None, *, exit_code: int | None, timed_out: bool,
                 stdout: str, stderr: str, wall_seconds: float):
    """One Result from what a run reported, judged the same way for every backend."""
    import signal

    from sandbox.result import Result

    events = parse_events(raw_events)
    outcomes = judge_tests(events, prepared) if prepared else []
    memory = "MemoryError" in stderr or any("MemoryError" in str(e.get("error", "")) for e in events)

    def result(status: str, reason: str = "") -> Result:
        return Result(status=status, tests=outcomes, stdout=stdout, stderr=stderr, exit_code=exit_code,
                      wall_seconds=wall_seconds, reason=reason)

    if timed_out:
        return result("timeout", "wall-clock limit reached")
    if exit_code is not None and exit_code < 0 and -exit_code == signal.SIGXCPU:
        return result("timeout", "CPU time limit reached")
    if memory:
        return result("memory_exceeded", "memory limit reached")
    if exit_code is not None and exit_code < 0:
        return result("killed", f"killed by signal {-exit_code}")
    errors = [e for e in events if e["kind"] == "program_error"]
    if errors:
        return result("error", str(errors[0].get("error", "")))
    if not any(e["kind"] == "program_done" for e in events):
        return result("error", f"program exited (code {exit_code}) before the harness finished running it")
    if prepared is None:
        return result("passed" if exit_code == 0 else "failed")
    failed = [o for o in outcomes if not o.passed]
    if failed:
        return result("failed", f"{len(failed)}/{len(outcomes)} tests failed; first: {failed[0].name}: {failed[0].error[:300]}")
    if exit_code != 0:
        return result("failed", f"exit code {exit_code} after the tests")
    return result("passed")
