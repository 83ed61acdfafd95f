"""The ``unit_tests`` verifier: run the prompt's reference tests against the response's code, sandboxed.

The code is the last complete fenced block in the response (```python ... ```), or the
whole response when it has none. Tests run in parallel, one sandbox each.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

from flywheel.verify import VerdictResult, VerifyItem
from sandbox.result import Limits
from sandbox.runner import run_python

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(response: str) -> str:
    """The last complete fenced code block, or the whole response if there is none."""
    blocks = _FENCE.findall(response)
    return blocks[-1][1] if blocks else response


class UnitTestVerifier:
    name = "unit_tests"
    domains = ("code",)

    def __init__(self, backend: str | None = None, allow_unsafe: bool | None = None, wall_seconds: float | None = None,
                 workers: int | None = None):
        # Environment variables let the round's sandbox resource configure a plugin it did not construct.
        self.backend = backend or os.environ.get("FLYWHEEL_SANDBOX_BACKEND", "bwrap")
        self.allow_unsafe = allow_unsafe if allow_unsafe is not None else os.environ.get("FLYWHEEL_SANDBOX_ALLOW_UNSAFE") == "1"
        self.limits = Limits(wall_seconds=wall_seconds or float(os.environ.get("FLYWHEEL_SANDBOX_TIMEOUT", "10")))
        self.workers = workers or max(1, os.cpu_count() or 1)

    def _verify_one(self, item: VerifyItem) -> VerdictResult:
        if not item.prompt.reference:
            return VerdictResult(False, 0.0, "prompt has no unit tests", "error")
        result = run_python(extract_code(item.sample.text), item.prompt.reference, self.limits,
                            backend=self.backend, allow_unsafe=self.allow_unsafe)
        passed_tests = sum(t.passed for t in result.tests)
        reason = f"{result.status}: {passed_tests}/{len(result.tests)} tests passed"
        if result.reason:
            reason += f" ({result.reason[:300]})"
        return VerdictResult(result.passed, passed_tests / max(1, len(result.tests)), reason, "ok", result.wall_seconds,
                             {"status": result.status, "tests": [t.__dict__ for t in result.tests]})

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self._verify_one, items))
