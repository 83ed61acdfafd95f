"""The ``unit_tests`` verifier: run the prompt's reference tests against the response's code, sandboxed.

The code is the last complete fenced block in the response (```python ... ```), or the
whole response when it has none. The reference is either Python tests (``def test_*``
functions, bare asserts, or a checker called at the top level as HumanEval's
``check(candidate)``, run by the judge against the candidate: flywheel_sandbox.judge), the same as
JSON ``{"tests": SOURCE, "prefix": CODE}`` where the program is ``prefix`` followed by the
response's code (HumanEval's prompt, so a completion that is only the function's body
runs as the data set's harness runs it), or a stdin/stdout task as JSON,
``{"io": [["input", "expected output"], ...], "compare": RULE}`` (APPS and CodeContests style), compared on
the host by RULE (flywheel_sandbox.tests.OUTPUT_RULES: "tokens" by default, "livecodebench"). flywheel.prompts.public_datasets writes these from the public data sets' own fields.
The score is the fraction of tests (cases) passed.

Verdicts: a reference that cannot run (tests that do not parse, malformed JSON) is
status ``error`` with reason ``reference invalid``, never a model failure. CPU time
across the job's processes decides ``timeout`` as a model failure (status ``ok``), the
same on a loaded machine; only the wall-clock backstop, which load can trip, gives
status ``timeout``. Sandbox settings come in as arguments (RoundConfig.verifier_options).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

from flywheel.verification.plugins import VerdictResult, VerifyItem
from flywheel_sandbox import Limits, run_io, run_python
from flywheel_sandbox.languages import is_python, language_named
from flywheel_sandbox.function_tests import harness_for
from flywheel_sandbox.programs import run_function_tests, run_io_program
from flywheel_sandbox.runner import default_pool_size
from flywheel_sandbox.tests import OUTPUT_RULES, prepare_tests

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(response: str) -> str:
    """The last complete fenced code block, or the whole response if there is none."""
    blocks = _FENCE.findall(response)
    return blocks[-1][1] if blocks else response


def parse_reference(reference: str) -> tuple[str, object, str]:
    """``(kind, payload, prefix)``: ``("tests", source, prefix)`` or ``("io", ([(input, output), ...], compare),
    prefix)``, ``compare`` naming the output rule (``"tokens"`` unless the reference says otherwise).

    Raises ValueError naming what is wrong.
    """
    kind, payload, prefix, _ = parse_reference_in(reference)
    return kind, payload, prefix


_ONE_FENCE = re.compile(r"\s*```[ \t]*([A-Za-z0-9_+#-]*)[ \t]*\n(.*?)\n?```\s*", re.DOTALL)


def unfenced(text: str) -> tuple[str | None, str]:
    """``(tag, body)`` of a text that is one fenced code block (``(None, text)`` otherwise): tests written as
    ```cpp ... ``` name their language by the fence."""
    found = _ONE_FENCE.fullmatch(text)
    return (found.group(1) or None, found.group(2)) if found else (None, text)


def reference_language(reference: str) -> str | None:
    """The language a reference names, or None (Python): a JSON reference's ``language``, else the fence tag
    of its ``tests`` (or of a plain reference that is one fenced block)."""
    stripped = reference.lstrip()
    language = None
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return None
        if isinstance(data, dict):
            language = data.get("language")
            if language is None and isinstance(data.get("tests"), str):
                language = unfenced(data["tests"])[0]
    else:
        language = unfenced(stripped)[0]
    if language is None or (isinstance(language, str) and is_python(language)):
        return None
    if not isinstance(language, str):
        raise ValueError(f"the reference's 'language' must be a name such as cpp, not {language!r}")
    return language_named(language).name


def parse_reference_in(reference: str) -> tuple[str, object, str, str | None]:
    """parse_reference's ``(kind, payload, prefix)`` and the language the answers are judged in (None: Python).
    Tests as source in another language than Python are judged by its harness (flywheel_sandbox.function_tests),
    where it has one."""
    language = reference_language(reference)
    stripped = reference.lstrip()
    if language is None:
        tag, body = unfenced(stripped) if not stripped.startswith("{") else (None, stripped)
        return (*_parse(body if tag else reference), None)
    data = json.loads(stripped) if stripped.startswith("{") else {"tests": stripped}
    if isinstance(data.get("tests"), str):
        tests = unfenced(data["tests"])[1]
        harness_for(language_named(language)).parse(tests)  # ValueError names what is wrong
        prefix = data.get("prefix") or ""
        if not isinstance(prefix, str):
            raise ValueError("the reference's 'prefix' must be a string of code")
        return "tests", tests, prefix, language
    return (*_parse(reference), language)


def _parse(reference: str) -> tuple[str, object, str]:
    stripped = reference.lstrip()
    prefix = ""
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as error:
            raise ValueError(f"a JSON reference that does not parse: {error}") from None
        if not isinstance(data, dict) or not ({"io", "tests"} & set(data)):
            raise ValueError('a JSON reference must be {"io": [[input, output], ...]} or {"tests": source}')
        prefix = data.get("prefix") or ""
        if not isinstance(prefix, str):
            raise ValueError("the reference's 'prefix' must be a string of code")
        if "tests" in data:
            if not isinstance(data["tests"], str):
                raise ValueError("the reference's 'tests' must be a string of Python tests")
            stripped = data["tests"]
        else:
            try:
                cases = [(str(given), str(expected)) for given, expected in data["io"]]
            except (ValueError, TypeError) as error:
                raise ValueError(f"stdin/stdout reference is not {{\"io\": [[input, output], ...]}}: {error}") from None
            if not cases:
                raise ValueError("stdin/stdout reference has no cases")
            compare = data.get("compare", "tokens")
            if compare not in OUTPUT_RULES:
                raise ValueError(f"the reference's 'compare' is {compare!r}; it must be one of {sorted(OUTPUT_RULES)}")
            return "io", (cases, compare), prefix
    elif stripped.startswith("["):
        raise ValueError("a JSON list is not a reference: MBPP-style assert strings are read by format: mbpp "
                         "(or join them into Python tests)")
    try:
        prepared = prepare_tests(stripped)
    except SyntaxError as error:
        raise ValueError(f"tests do not parse: {error}") from None
    if not prepared.names:
        raise ValueError("the tests define no test_* function, no assert and no checker call (such as HumanEval's "
                         "check(candidate))")
    return "tests", stripped, prefix


class UnitTestVerifier:
    name = "unit_tests"
    domains = ("code",)

    def __init__(self, backend: str = "bwrap", allow_unsafe: bool = False, cpu_seconds: float = 10.0,
                 wall_seconds: float | None = None, memory_bytes: int = 1 << 30, workers: int | None = None):
        self.backend, self.allow_unsafe = backend, allow_unsafe
        self.limits = Limits(cpu_seconds=max(1, int(cpu_seconds)), memory_bytes=memory_bytes,
                             wall_seconds=wall_seconds or 3 * cpu_seconds + 5)
        self.workers = workers or default_pool_size()  # as many jobs in flight as the pool has slots

    def check_reference(self, prompt) -> str | None:
        """Why this prompt's reference cannot be run, or None (flywheel check reads every one before a round)."""
        if not prompt.reference:
            return "the prompt has no unit tests"
        try:
            parse_reference_in(prompt.reference)
        except ValueError as error:
            return str(error)
        return None

    def _verify_one(self, item: VerifyItem) -> VerdictResult:
        if not item.prompt.reference:
            return VerdictResult(False, 0.0, "reference invalid: the prompt has no unit tests", "error")
        try:
            kind, reference, prefix, language = parse_reference_in(item.prompt.reference)
        except ValueError as error:
            return VerdictResult(False, 0.0, f"reference invalid: {error}", "error")
        code = extract_code(item.sample.text)
        if prefix:
            code = f"{prefix}\n{code}" if not code.startswith((" ", "\t")) else prefix + code
        options = {"backend": self.backend, "allow_unsafe": self.allow_unsafe}
        if language is not None:  # compiled and run in its own toolchain's sandboxes (flywheel_sandbox.programs)
            if self.backend != "bwrap":
                return VerdictResult(False, 0.0, f"reference invalid: {language} runs on the bwrap backend only, "
                                                 f"not {self.backend!r}", "error")
            if kind == "tests":
                result = run_function_tests(language, code, reference, self.limits, prompt=prefix)
                if result.status == "error":  # the tests' own fault: their expected values did not run
                    return VerdictResult(False, 0.0, f"reference invalid: {result.reason[:500]}", "error")
            else:
                cases, compare = reference
                result = run_io_program(language, code, cases, self.limits, compare=compare)
        elif kind == "io":
            cases, compare = reference
            result = run_io(code, cases, self.limits, compare=compare, **options)
        else:
            result = run_python(code, reference, self.limits, **options)
        passed_tests = sum(t.passed for t in result.tests)
        reason = f"{result.status}: {passed_tests}/{len(result.tests)} tests passed"
        if result.reason:
            reason += f" ({result.reason[:300]})"
        # Only the wall-clock backstop depends on load; every other outcome is the program's own.
        status = "timeout" if result.status == "timeout" and "wall-clock" in result.reason else "ok"
        return VerdictResult(result.passed, passed_tests / max(1, len(result.tests)), reason, status,
                             result.wall_seconds, {"status": result.status, "tests": [t.__dict__ for t in result.tests]})

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self._verify_one, items))
