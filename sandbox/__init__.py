"""Isolated execution of untrusted Python: ``run_python``, ``run_io``, ``SandboxPool``, ``Limits``, ``Result``.

The judge (the tests) and the candidate (the untrusted program) run in two different
sandboxes; only plain data crosses between them (sandbox.wire). See sandbox.runner for
the backends and sandbox.bwrap, sandbox.seccomp and sandbox.cgroups for the isolation.
"""

from sandbox.pool import SandboxPool
from sandbox.result import Limits, Result, TestOutcome
from sandbox.runner import SandboxUnavailable, bwrap_available, run_io, run_python

__all__ = ["Limits", "Result", "SandboxPool", "SandboxUnavailable", "TestOutcome", "bwrap_available", "run_io",
           "run_python"]
