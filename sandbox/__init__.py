"""Isolated execution of untrusted Python: ``run_python``, ``run_io``, ``SandboxPool``, ``Limits``, ``Result``.

The judge (the tests) and the candidate (the untrusted program) run in two different
sandboxes; only plain data crosses between them (flywheel_sandbox.wire). See flywheel_sandbox.runner for
the backends and flywheel_sandbox.bwrap, flywheel_sandbox.seccomp and flywheel_sandbox.cgroups for the isolation.
"""

from flywheel_sandbox.pool import SandboxPool
from flywheel_sandbox.result import Limits, Result, TestOutcome
from flywheel_sandbox.runner import SandboxUnavailable, bwrap_available, run_io, run_python

__all__ = ["Limits", "Result", "SandboxPool", "SandboxUnavailable", "TestOutcome", "bwrap_available", "run_io",
           "run_python"]
