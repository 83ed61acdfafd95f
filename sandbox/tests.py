"""The host's half of the test contract: name the tests before the run, turn what a run reported into a Result.

Tests are ``def test_*`` functions, bare top-level asserts (each becomes one test,
``test_assert_N``), or a checker function called at the top level, as HumanEval publishes
them (``def check(candidate): assert ...`` then ``check(entry_point)``). A checker of one
parameter is split into one test per statement of its body that asserts
(``test_check_1``...), each after the body's other statements that come before it, so the
score is per case as the data set counts it. A checker with statements after its last assert
(a helper's calls, a raise-based check) is not split: it runs whole, as the harness runs it,
as one test. Any other top-level call of a function the
tests define becomes one test (``test_call_N``). Tests that define no test run nothing,
and that is status ``error`` "no test ran", never a pass. They run in the judge sandbox, never beside the candidate
(flywheel_sandbox.judge), so the judge's report is trusted as it stands; what the candidate
printed or returned is never read as a result. stdin/stdout tasks are compared here on
the host, by the rule of the set they come from (``same_output``): token by token per line,
ASCII blanks only, blank lines ignored (APPS, CodeContests and your own data), or
LiveCodeBench's own line and Decimal comparison.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
import signal
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flywheel_sandbox.result import Result, TestOutcome


@dataclass(frozen=True)
class PreparedTests:
    source: str
    names: tuple[str, ...]
    # Cases split out of a checker: each counts only when one of its asserts actually ran (the judge counts them
    # on its side; a case whose asserts all sat in a branch not taken is not a test that passed).
    counted: tuple[str, ...] = ()


def _function(name: str, body: list[ast.stmt]) -> ast.FunctionDef:
    return ast.FunctionDef(name=name, args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                                       defaults=[]), body=body, decorator_list=[], returns=None,
                           type_params=[])


class _ExplainAsserts:
    """``assert a OP b`` -> evaluate each side once into a temporary, then assert with both values in the message.

    Walks statement lists only (bodies of defs, loops, ifs, withs, trys, matches), never into expressions,
    where no assert can stand: a NodeTransformer over every node cost the host more than the job itself.
    """

    _BODIES = ("body", "orelse", "finalbody")

    def __init__(self, count: bool = False):
        self.count = count  # precede each assert with a call of the judge's __fw_count__()

    def visit(self, node: ast.AST) -> ast.AST:
        for field in self._BODIES:
            statements = getattr(node, field, None)
            if isinstance(statements, list):
                setattr(node, field, self._statements(statements))
        for child in getattr(node, "handlers", ()) or getattr(node, "cases", ()):
            self.visit(child)
        return node

    def _statements(self, statements: list[ast.stmt]) -> list[ast.stmt]:
        rewritten = []
        for statement in statements:
            if isinstance(statement, ast.Assert):
                if self.count:
                    rewritten.append(ast.copy_location(ast.Expr(ast.Call(ast.Name("__fw_count__", ast.Load()), [], [])),
                                                       statement))
                rewritten.extend(self._assert(statement))
            else:
                rewritten.append(self.visit(statement))
        return rewritten

    def _assert(self, node: ast.Assert) -> list[ast.stmt]:
        test = node.test
        if node.msg is not None or not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return [node]
        left, right = ast.Name("__fw_left__", ast.Store()), ast.Name("__fw_right__", ast.Store())
        shown = _shown(_OP_TEXT.get(type(test.ops[0]), "?"))
        check = ast.Assert(test=ast.Compare(left=ast.Name("__fw_left__", ast.Load()), ops=test.ops,
                                            comparators=[ast.Name("__fw_right__", ast.Load())]), msg=shown)
        return [ast.copy_location(ast.Assign(targets=[left], value=test.left), node),
                ast.copy_location(ast.Assign(targets=[right], value=test.comparators[0]), node),
                ast.copy_location(check, node)]


def _shown(operator: str) -> ast.JoinedStr:
    """f'{__fw_left__!r:.300} OP {__fw_right__!r:.300}', built directly (parsing it per assert cost more than the rest)."""
    def value(name: str) -> ast.FormattedValue:
        return ast.FormattedValue(ast.Name(name, ast.Load()), ord("r"), ast.JoinedStr([ast.Constant(".300")]))
    return ast.JoinedStr([value("__fw_left__"), ast.Constant(f" {operator} "), value("__fw_right__")])


_OP_TEXT = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
            ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}


def _asserts(node: ast.AST) -> bool:
    """Whether ``node`` asserts something itself (asserts inside a nested def or class do not count)."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Assert):
            return True
        pending.extend(child for child in ast.iter_child_nodes(current)
                       if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)))
    return False


def _checker_call(node: ast.stmt, checkers: dict[str, ast.FunctionDef]) -> ast.Call | None:
    """``check(f)`` standing alone at the top level, where ``check`` is a function the tests define."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name):
        return node.value if node.value.func.id in checkers else None
    return None


def _split_checker(checker: ast.FunctionDef, call: ast.Call) -> list[list[ast.stmt]] | None:
    """One body per asserting statement of a one-parameter checker, or None when it does not split cleanly.

    Each body binds the parameter, runs the checker's statements that assert nothing and come before, then the
    one that asserts: a case never re-runs another case, so one that raises fails alone.
    """
    params = checker.args
    if (len(params.args) != 1 or params.posonlyargs or params.kwonlyargs or params.vararg or params.kwarg
            or len(call.args) != 1 or call.keywords
            or any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal, ast.Await))
                   for statement in checker.body for n in ast.walk(statement))):
        return None
    bind = ast.copy_location(ast.Assign(targets=[ast.Name(params.args[0].arg, ast.Store())], value=call.args[0]), call)
    cases, setup = [], []
    for statement in checker.body:
        # A helper defined in the checker asserts only when called, so its definition is setup, not a case.
        if _asserts(statement) and not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            cases.append([bind, *setup, copy.deepcopy(statement)])  # its own copy: the assert is rewritten per case
            setup_before_last_case = len(setup)
        else:
            setup.append(statement)
    if not cases or len(setup) > setup_before_last_case:
        # Statements after the last assert (a helper's calls, a raise-based check) would run in no case: the
        # harness runs them, so the checker runs whole, as one test.
        return None
    return cases


@functools.lru_cache(maxsize=512)
def prepare_tests(source: str) -> PreparedTests:
    """List the tests, wrapping bare asserts and checker calls in functions; raises SyntaxError for tests that do not parse.

    Cached by source: a round judges N samples of a prompt against the same tests, and preparing them (parse,
    rewrite, unparse) costs the host more than a pooled execution does.
    """
    tree = ast.parse(source)
    checkers = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    # Cases come from the checkers as written, before any assert in them is rewritten below.
    splits = {}
    for node in tree.body:
        call = _checker_call(node, checkers)
        if call is not None:
            splits[id(node)] = (call, _split_checker(checkers[call.func.id], call))
    explain, counting = _ExplainAsserts(), _ExplainAsserts(count=True)
    body, names, counted, counts = [], [], [], {"assert": 0, "call": 0}

    def add(name: str, statements: list[ast.stmt], where: ast.stmt, count: bool = False) -> None:
        body.append((counting if count else explain).visit(ast.copy_location(_function(name, statements), where)))
        names.append(name)
        if count:
            counted.append(name)

    for node in tree.body:
        if isinstance(node, ast.Assert):
            counts["assert"] += 1
            add(f"test_assert_{counts['assert']}", [node], node)
        elif id(node) in splits:
            call, cases = splits[id(node)]
            if cases is None:
                counts["call"] += 1
                add(f"test_call_{counts['call']}", [node], node)
            else:
                prefix = f"test_{call.func.id}" + ("" if call.func.id not in counts else f"_{counts[call.func.id] + 1}")
                counts[call.func.id] = counts.get(call.func.id, 0) + 1
                for number, statements in enumerate(cases, start=1):
                    add(f"{prefix}_{number}", statements, node, count=True)
        else:
            body.append(explain.visit(node))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                names.append(node.name)
    # only unparsed (the judge compiles the text), so no fix_missing_locations pass over the tree
    return PreparedTests(ast.unparse(ast.Module(body=body, type_ignores=[])), tuple(names), tuple(counted))


_TOKEN = re.compile(r"[^ \t\r\f\v\n]+")  # a run of anything but ASCII blanks


def _tokens_same(actual: str, expected: str) -> bool:
    """Token by token per line, as APPS's, TACO's and CodeContests' checkers read output: lines are split at
    '\n' only and tokens at ASCII blanks only (a Unicode separator such as U+2028, U+3000, NBSP or \x1e is part
    of a token), and blank lines are ignored."""
    def lines(text: str) -> list[list[str]]:
        return [tokens for tokens in (_TOKEN.findall(line) for line in text.split("\n")) if tokens]
    return lines(actual) == lines(expected)


def _livecodebench_same(actual: str, expected: str) -> bool:
    """LiveCodeBench's grade_stdio, rule for rule (lcb_runner/evaluation/testing_util.py): the output stripped,
    split at '\n', each line stripped (Python's str.strip, so Unicode blanks at a line's ends go); the same
    number of lines; each line equal, or its str.split() tokens equal as Decimals."""
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.strip().split("\n")]

    def decimals(line: str) -> list[Decimal] | None:
        try:
            return [Decimal(token) for token in line.split()]
        except (InvalidOperation, ValueError):
            return None
    got, want = lines(actual), lines(expected)
    if len(got) != len(want):
        return False
    for line, reference in zip(got, want):
        if line == reference:
            continue
        as_numbers = decimals(line)
        if as_numbers is None or as_numbers != decimals(reference):
            return False
    return True


OUTPUT_RULES = {"tokens": _tokens_same, "livecodebench": _livecodebench_same}


def same_output(actual: str, expected: str, rule: str = "tokens") -> bool:
    """Whether a stdin/stdout run's output is the expected one, by ``rule`` (a key of OUTPUT_RULES)."""
    return OUTPUT_RULES[rule](actual, expected)


def judge_run(run, prepared: PreparedTests | None) -> Result:
    """One Result from a flywheel_sandbox.worker.Run, judged the same way for every job."""
    events = run.events
    outcomes = []
    if prepared is not None:
        reported = {e["name"]: e for e in events if e.get("kind") == "test" and e.get("name") in prepared.names}
        for name in prepared.names:
            event = reported.get(name)
            if event is None:
                outcomes.append(TestOutcome(name, False, "never reported"))
            else:
                outcomes.append(TestOutcome(name, event.get("passed") is True, str(event.get("error", ""))[:2000]))
        # A checker's case that passed without running any of its asserts is no test: it is left out, unless no
        # case ran one (then the checker as a whole returned without a failure, which its harness calls a pass).
        idle = {name for name in prepared.counted if reported.get(name, {}).get("passed") is True
                and reported[name].get("asserted") == 0}
        if idle and len(idle) < len(prepared.counted):
            outcomes = [o for o in outcomes if o.name not in idle]
    errors = [str(e.get("error", "")) for e in events if e.get("kind") == "program_error"]
    memory = run.memory_exceeded or "MemoryError" in run.stderr or any("MemoryError" in text for text in errors)

    def result(status: str, reason: str = "") -> Result:
        return Result(status=status, tests=outcomes, stdout=run.stdout, stderr=run.stderr, exit_code=run.exit_code,
                      wall_seconds=run.wall_seconds, reason=reason,
                      stdout_truncated=run.output_truncated)

    if run.cpu_exceeded or (run.exit_code is not None and run.exit_code == -signal.SIGXCPU):
        return result("timeout", "CPU time limit reached")
    if run.timed_out:
        return result("timeout", "wall-clock limit reached")
    if memory:
        return result("memory_exceeded", "memory limit reached")
    if run.lost:
        return result("killed", f"the sandbox was lost and replaced ({run.lost})")
    if run.exit_code is not None and run.exit_code < 0:
        return result("killed", f"killed by signal {-run.exit_code}")
    if prepared is not None and not prepared.names:
        return result("error", "no test ran: the tests define no test_* function, no assert and no checker call")
    if prepared is None:
        if run.exit_code == 0:
            return result("passed")
        lines = run.stderr.strip().splitlines()
        return result("error" if lines else "failed", lines[-1][:2000] if lines else f"exit code {run.exit_code}")
    failed_loading = [str(e.get("error", "")) for e in events if e.get("kind") == "tests_failed_loading"]
    if failed_loading:  # an assertion that fails while the tests load judges the program, like any other
        return result("failed", f"an assertion failed while the tests loaded: {failed_loading[0][:2000]}")
    if errors:
        return result("error", errors[0][:2000])
    if run.judge_failed:
        return result("error", run.judge_failed[:2000])
    if not any(e.get("kind") == "program_done" for e in events):
        return result("error", "the program never finished loading")
    failed = [o for o in outcomes if not o.passed]
    if failed:
        return result("failed", f"{len(failed)}/{len(outcomes)} tests failed; first: {failed[0].name}: "
                                f"{failed[0].error[:300]}")
    return result("passed")
