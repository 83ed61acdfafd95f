"""``python -m flywheel_sandbox run PROGRAM.py [--tests TESTS.py] [--timeout S] [--json]``: exit 0 when passed, 1 otherwise.

``python -m flywheel_sandbox docker-image`` builds the docker backend's image offline (flywheel_sandbox.docker_image).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flywheel_sandbox.result import Limits
from flywheel_sandbox.runner import SandboxUnavailable, run_python

# Control characters (terminal escapes, newlines), bidi overrides and isolates, and zero-width joiners:
# any of them in a message could print a line that reads like another verdict.
_CONTROL = set(range(0x20)) | set(range(0x7F, 0xA0)) | set(range(0x200B, 0x2010)) | set(range(0x202A, 0x202F)) \
    | set(range(0x2066, 0x206A)) | {0x061C, 0xFEFF, 0x2028, 0x2029}


def printable(text: str) -> str:
    """``text`` on one line, every control, bidi or invisible character (and a lone surrogate) shown as an escape."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if ord(ch) in _CONTROL or 0xD800 <= ord(ch) <= 0xDFFF
                   else ch for ch in text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flywheel_sandbox", description="Run untrusted Python in isolation.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a program, optionally with tests")
    run.add_argument("program", type=Path)
    run.add_argument("--tests", type=Path)
    run.add_argument("--timeout", type=float, default=Limits().wall_seconds, help="wall-clock seconds")
    run.add_argument("--backend", choices=["bwrap", "docker", "process"], default="bwrap")
    run.add_argument("--allow-unsafe", action="store_true", help="needed for the 'process' backend")
    run.add_argument("--json", action="store_true", help="print the Result as JSON")
    image = sub.add_parser("docker-image", help="build the docker backend's image offline from the system Python")
    image.add_argument("--tag", default="flywheel-sandbox:latest")
    args = parser.parse_args(argv)
    if args.command == "docker-image":
        from flywheel_sandbox.docker_image import build_image

        print(build_image(args.tag))
        return 0
    limits = Limits(wall_seconds=args.timeout, cpu_seconds=max(1, int(args.timeout)))
    try:
        result = run_python(args.program.read_text(), args.tests.read_text() if args.tests else None, limits,
                            backend=args.backend, allow_unsafe=args.allow_unsafe, pooled=False)
    except (OSError, SandboxUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(printable(f"{result.status}: {sum(t.passed for t in result.tests)}/{len(result.tests)} tests passed "
                        f"in {result.wall_seconds:.3f}s {result.reason}"))
        for test in result.tests:
            if not test.passed:
                print(printable(f"  {test.name}: {test.error[:500]}"))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
