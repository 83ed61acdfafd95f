"""What one isolated execution returns, and the limits it ran under."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["passed", "failed", "error", "timeout", "memory_exceeded", "killed"]


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30  # address space; Python needs ~100 MB of it just to start
    processes: int = 64
    file_bytes: int = 16 << 20
    tmpfs_bytes: int = 64 << 20
    output_bytes: int = 64 << 10  # stdout and stderr are each cut to this
    open_files: int = 64

    def for_job(self) -> dict:
        """The limits as the sandboxed side reads them (setrlimit wants whole CPU seconds)."""
        return dict(asdict(self), cpu_seconds=int(self.cpu_seconds))


@dataclass(frozen=True)
class TestOutcome:
    name: str
    passed: bool
    error: str = ""


@dataclass(frozen=True)
class Result:
    status: Status
    tests: list[TestOutcome] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    wall_seconds: float = 0.0
    reason: str = ""
    stdout_truncated: bool = False  # the program printed more than Limits.output_bytes; stdout holds a prefix

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)
