"""Programs in the languages of flywheel_sandbox.languages: compiled once, run once per case, each step a fresh sandbox.

The isolation is the Python sandbox's (flywheel_sandbox.bwrap): a uid of its own leased for the step, fresh
namespaces (no network), a read-only /usr and /etc, capped tmpfs for /work, /tmp and /dev/shm, no
capabilities, the seccomp filter, and a cgroup bounding memory, processes and CPU across every process of
the step. The step's command is PID 1 of its PID namespace, so nothing it started outlives it.

1. **Compile** (compiled languages). The source is mounted read-only at ``/src``. The compiler writes into
   ``/work/out``, on the step's tmpfs, and the step's last act is ``tar`` of that folder to its stdout; the
   host unpacks at most ``ARTIFACT_BYTES`` of it into a folder of its own (``tarfile``'s ``data`` filter: no
   links out, no device files, no set-uid bits). No step ever has a writable host folder. The compile step
   has its own limits (``COMPILE_LIMITS``); a compiler error, or a compiler bomb that runs out of CPU or
   memory, is the program's failure (status ``failed``, ``timeout`` or ``memory_exceeded``) with the
   diagnostics in the reason, never ``error``.
2. **Run**. What the compiler made (or the source itself) is mounted read-only at ``/prog``; the case's input
   is the step's stdin; stdout and stderr are read up to the output cap, and the output is compared on the
   host. The expected outputs never enter any sandbox.

What the host keeps between compiles (compiled programs, precompiled headers) is flywheel_sandbox.artifacts.
"""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path

from flywheel_sandbox import bwrap, seccomp
from flywheel_sandbox.cgroups import Cgroup
from flywheel_sandbox.artifacts import CompileCache, compile_cache, precompiled_headers, remove_tree, unpack
from flywheel_sandbox.languages import NODE_AMBIENT, Language, language_named
from flywheel_sandbox.result import Limits, Result, Status, TestOutcome
from flywheel_sandbox.tests import same_output

# A compiler needs more room than the program it makes: javac, tsc and go run on runtimes that reserve memory,
# and a template-heavy C++ file takes a while. A compiler bomb still ends here, as the program's failure.
COMPILE_LIMITS = Limits(wall_seconds=90.0, cpu_seconds=30, memory_bytes=1536 << 20, processes=64,
                        file_bytes=64 << 20, tmpfs_bytes=512 << 20, output_bytes=16 << 10, open_files=1024)
ARTIFACT_BYTES = 64 << 20  # the most a compile step may hand back (its tar on stdout)
_names = count()


@dataclass(frozen=True)
class Step:
    """One sandboxed command's outcome, as the host saw it."""

    status: Status  # passed: exited 0; failed: exited otherwise; timeout, memory_exceeded, killed
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    wall_seconds: float
    reason: str = ""


def _preexec(uid: int, limits: Limits, cgroup: Cgroup | None, address_space: bool):
    base = bwrap.preexec(uid, limits.processes, cgroup.join if cgroup else None)

    def run() -> None:
        base()
        cpu = max(1, int(limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # per process; the cgroup counts them all
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))

    return run


def sandboxed(command: list[str], limits: Limits, *, binds: tuple[tuple[str, str], ...] = (), stdin: bytes = b"",
              env: tuple[tuple[str, str], ...] = (), address_space: bool = True,
              stdout_bytes: int | None = None) -> Step:
    """Run ``command`` in a fresh sandbox under ``limits`` (stdout capped at ``stdout_bytes``, the output cap by
    default) and say how it ended. Everything it started is gone when this returns."""
    lease = bwrap.UidLease()
    cgroup = Cgroup.create(f"{os.getpid()}-program-{lease.uid}-{next(_names)}", limits.memory_bytes, limits.processes)
    filter_fd = seccomp.program_fd()
    settings = [arg for name, value in env for arg in ("--setenv", name, value)]
    argv = bwrap.argv(limits.tmpfs_bytes, filter_fd, binds) + settings + command
    caps = {"stdout": stdout_bytes or limits.output_bytes, "stderr": limits.output_bytes}
    cpu_before, oom_before = (cgroup.cpu_seconds(), cgroup.oom_kills()) if cgroup else (0.0, 0)
    with tempfile.TemporaryFile() as given:
        given.write(stdin)
        given.seek(0)
        started = time.monotonic()
        try:
            process = subprocess.Popen(argv, stdin=given, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={},
                                       pass_fds=(filter_fd,),
                                       preexec_fn=_preexec(lease.uid, limits, cgroup, address_space))
        finally:
            os.close(filter_fd)
        try:
            # the cgroup's CPU seconds across all of the step's processes end it too (a fork bomb of spinning
            # children has no process over RLIMIT_CPU), checked as it runs
            cpu_used = (lambda: cgroup.cpu_seconds() - cpu_before) if cgroup else (lambda: 0.0)
            out, err, over, timed_out = _collect(process, caps, started + limits.wall_seconds,
                                                 lambda: cpu_used() > limits.cpu_seconds)
        finally:
            _end(process, cgroup)
    wall = time.monotonic() - started
    cpu = (cgroup.cpu_seconds() - cpu_before) if cgroup else 0.0
    oom = bool(cgroup and cgroup.oom_kills() > oom_before)
    if cgroup:
        cgroup.remove()
    lease.release()
    code = process.returncode
    if oom or _out_of_memory(err):
        status, reason = "memory_exceeded", f"over the memory limit of {limits.memory_bytes >> 20} MiB"
    elif cpu > limits.cpu_seconds or code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        status, reason = "timeout", f"over {limits.cpu_seconds} CPU seconds"
    elif timed_out:
        status, reason = "timeout", f"over the wall-clock limit of {limits.wall_seconds:.0f} s"
    elif code == 0:
        status, reason = "passed", ""
    elif code in (128 + signal.SIGKILL, -signal.SIGKILL):
        status, reason = "killed", "killed"
    else:
        status, reason = "failed", f"exit code {code}"
    return Step(status, code, out, err, "stdout" in over, wall, reason)


_OOM_MARKS = (b"std::bad_alloc", b"java.lang.OutOfMemoryError", b"JavaScript heap out of memory",
              b"memory allocation of", b"runtime: out of memory", b"fatal error: out of memory",
              b"xrealloc: cannot allocate", b"xmalloc: cannot allocate")  # the last two: bash


def _out_of_memory(stderr: bytes) -> bool:
    """A runtime that reports running out of its allocation (RLIMIT_AS, a heap flag) before the cgroup steps in."""
    return any(mark in stderr for mark in _OOM_MARKS)


def _collect(process: subprocess.Popen, caps: dict[str, int], deadline: float, over_cpu=lambda: False):
    """Read stdout and stderr, each up to its cap (the rest is read and dropped, so the writer never blocks),
    until both close, the deadline passes or ``over_cpu()`` says the step used up its CPU time (then it is
    killed; the caller reads the CPU time again to say so)."""
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    over: set[str] = set()
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    timed_out, open_streams = False, 2
    while open_streams:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        if over_cpu():
            break
        for key, _ in selector.select(timeout=min(left, 0.1)):
            data = os.read(key.fd, 65536)
            if not data:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            buffer, cap = buffers[key.data], caps[key.data]
            room = cap - len(buffer)
            if room > 0:
                buffer += data[:room]
            if len(data) > room:
                over.add(key.data)
    selector.close()
    while not timed_out and process.poll() is None and not over_cpu():  # streams closed; the process may linger
        if time.monotonic() > deadline:
            timed_out = True
        time.sleep(0.02)
    return bytes(buffers["stdout"]), bytes(buffers["stderr"]), over, timed_out


def _end(process: subprocess.Popen, cgroup: Cgroup | None) -> None:
    """The step and everything in it, gone: bwrap's process group, then whatever is left in its cgroup."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    for stream in (process.stdout, process.stderr):
        stream.close()
    if cgroup:
        cgroup.kill_all()


def _command(template: tuple[str, ...], language: Language, code: str, limits: Limits) -> list[str]:
    values = {"memory_mb": limits.memory_bytes >> 20, "heap_mb": max(32, (limits.memory_bytes >> 20) * 3 // 4),
              "source": language.source_name(code), "main_class": language.main_class(code)}
    return [part.format(**values) for part in template]


def compile_command(language: Language, code: str, limits: Limits,
                    source: Path) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """The compile step's command and its read-only mounts: the source folder at /src, and the precompiled
    headers at /pch, first on the include path, when the language has them."""
    command, binds = _command(language.compile, language, code, limits), [(str(source), "/src")]
    if (headers := precompiled_headers(language)) is not None:
        command, binds = [command[0], "-I/pch", *command[1:]], [*binds, (str(headers), "/pch")]
    return command, tuple(binds)


def _source_folder(language: Language, code: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="flywheel-source-"))
    folder.chmod(0o755)
    (folder / language.source_name(code)).write_text(code)
    if language.name == "typescript":
        (folder / "node_ambient.d.ts").write_text(NODE_AMBIENT)
    for path in folder.iterdir():
        path.chmod(0o444)
    return folder


@dataclass(frozen=True)
class Built:
    """What a run mounts at /prog, or why there is nothing to run (``failure``: the compile's Result)."""

    folder: Path | None
    failure: Result | None = None
    compile_seconds: float = 0.0
    cached: bool = False


def build(language: Language, code: str, limits: Limits = COMPILE_LIMITS, cache: CompileCache | None = None,
          use_cache: bool = True) -> Built:
    """Compile ``code`` (or, for an interpreted language, lay out its source) in a sandbox; see the module's text."""
    if not language.compile:
        return Built(_source_folder(language, code))
    cache = cache or compile_cache()
    key = CompileCache.key(language, code)
    if use_cache and (folder := cache.get(key)) is not None:
        return Built(folder, cached=True)
    source = _source_folder(language, code)
    try:
        command, binds = compile_command(language, code, limits, source)
        script = 'mkdir -p /work/out && "$@" >&2 && tar -C /work/out -cf - .'
        step = sandboxed(["/bin/sh", "-c", script, "compile", *command],
                         replace(limits, processes=max(limits.processes, 64)), binds=binds,
                         env=language.env, address_space=False, stdout_bytes=ARTIFACT_BYTES)
    finally:
        shutil.rmtree(source, ignore_errors=True)
    diagnostics = step.stderr.decode("utf-8", "replace").strip()
    if step.status != "passed":
        status = "failed" if step.status in ("passed", "failed") else step.status
        what = "compile error" if status == "failed" else f"compile: {step.reason}"
        return Built(None, Result(status=status, stderr=diagnostics, exit_code=step.exit_code,
                                  wall_seconds=step.wall_seconds, reason=f"{what}: {diagnostics[-1500:]}".strip(": ")),
                     step.wall_seconds)
    if step.stdout_truncated:
        return Built(None, Result(status="failed", wall_seconds=step.wall_seconds,
                                  reason=f"compile: the compiled program is over {ARTIFACT_BYTES >> 20} MiB"),
                     step.wall_seconds)
    try:
        folder = cache.put(key, step.stdout) if use_cache else unpack(step.stdout, Path(tempfile.mkdtemp(
            prefix="flywheel-compiled-once-")))
    except (tarfile.TarError, OSError) as error:
        return Built(None, Result(status="failed", reason=f"compile: unreadable output ({error})"), step.wall_seconds)
    return Built(folder, compile_seconds=step.wall_seconds)


def run_built(language: Language, code: str, built: Built, stdin: bytes, limits: Limits) -> Step:
    return sandboxed(_command(language.run, language, code, limits), limits, binds=((str(built.folder), "/prog"),),
                     stdin=stdin, env=language.env, address_space=language.address_space_limit)


def run_io_program(language: str, code: str, cases: list[tuple[str, str]], limits: Limits = Limits(), *,
                   compare: str = "tokens", compile_limits: Limits = COMPILE_LIMITS, use_cache: bool = True) -> Result:
    """A stdin/stdout task in ``language``: compile once, run once per (input, expected output) case, compare the
    output on the host by ``compare`` (flywheel_sandbox.tests.OUTPUT_RULES), as run_io does for Python."""
    toolchain = language_named(language)
    built = build(toolchain, code, compile_limits, use_cache=use_cache)
    if built.failure is not None:
        return built.failure
    outcomes, steps = [], []
    try:
        for index, (given, expected) in enumerate(cases, start=1):
            step = run_built(toolchain, code, built, given.encode(), limits)
            steps.append(step)
            text = step.stdout.decode("utf-8", "replace")
            if step.stdout_truncated and step.status in ("passed", "killed"):
                outcomes.append(TestOutcome(f"case_{index}", False,
                                            f"output limit: more than {limits.output_bytes} bytes of output"))
            elif step.status != "passed":
                error = step.stderr.decode("utf-8", "replace")[-1500:]
                outcomes.append(TestOutcome(f"case_{index}", False, f"{step.status}: {step.reason}; {error}".strip()))
            elif not same_output(text, expected, compare):
                outcomes.append(TestOutcome(f"case_{index}", False, f"wrong output: {text[:200]!r}"))
            else:
                outcomes.append(TestOutcome(f"case_{index}", True))
    finally:
        if not built.cached and (not toolchain.compile or not use_cache):  # cached folders belong to the cache
            remove_tree(built.folder)
    failed = [(outcome, step) for outcome, step in zip(outcomes, steps) if not outcome.passed]
    wall = built.compile_seconds + sum(step.wall_seconds for step in steps)
    if not failed:
        shown = steps[-1]
        return Result(status="passed", tests=outcomes, stdout=shown.stdout.decode("utf-8", "replace"),
                      stderr=shown.stderr.decode("utf-8", "replace"), exit_code=shown.exit_code, wall_seconds=wall)
    first, step = failed[0]
    status = "failed" if step.status in ("passed", "failed") or step.stdout_truncated else step.status
    return Result(status=status, tests=outcomes, stdout=step.stdout.decode("utf-8", "replace"),
                  stderr=step.stderr.decode("utf-8", "replace"), exit_code=step.exit_code, wall_seconds=wall,
                  reason=f"{len(failed)}/{len(outcomes)} cases failed; first: {first.name}: {first.error[:300]}",
                  stdout_truncated=step.stdout_truncated)


def run_function_tests(language: str, code: str, tests: str, limits: Limits = Limits(), *, prompt: str = "",
                       compile_limits: Limits = COMPILE_LIMITS) -> Result:
    """Function-level tests in ``language`` (MultiPL-E style), judged apart from the answer
    (flywheel_sandbox.function_tests): the answer's program prints each check's result, a program of the tests'
    own prints each expected value, and the host compares them. ``prompt`` is the part of ``code`` the data set
    wrote (Rust's judge types the expected values by its signature). Tests that do not parse, or expected values
    that do not compile or run, are ``error`` (the reference's fault, not the answer's)."""
    from flywheel_sandbox.function_tests import frames, harness_for

    toolchain = language_named(language)
    harness = harness_for(toolchain)
    try:
        parsed = harness.parse(tests)
    except ValueError as error:
        return Result(status="error", reason=f"tests do not parse: {error}")
    judge = harness.judge_program(parsed, prompt) if toolchain.name == "rust" else harness.judge_program(parsed)
    expected = _run_once(toolchain, judge, limits, compile_limits)
    if expected.status != "passed":
        return Result(status="error", reason=f"the tests' expected values did not run: {expected.reason[:1500]}")
    wanted = frames(expected.stdout)
    if sorted(wanted) != list(range(len(parsed.checks))):
        return Result(status="error", reason="the tests' expected values did not print one value per check")
    answer = _run_once(toolchain, harness.candidate_program(code, parsed), limits, compile_limits)
    if answer.reason.startswith("compile"):
        return answer
    got = frames(answer.stdout)
    outcomes = []
    for index, check in enumerate(parsed.checks):
        name = f"check_{index + 1}"
        if index not in got:
            ended = f"{answer.status}: {answer.reason}" if answer.reason else f"exit code {answer.exit_code}"
            outcomes.append(TestOutcome(name, False, f"no result: the program ended before this check ({ended})"[:300]))
        elif got[index] != wanted[index]:
            outcomes.append(TestOutcome(name, False, f"{check.call[:120]} gave {got[index][:120]}, "
                                                     f"expected {wanted[index][:120]}"))
        else:
            outcomes.append(TestOutcome(name, True))
    failed = [outcome for outcome in outcomes if not outcome.passed]
    if not failed:
        return Result(status="passed", tests=outcomes, stderr=answer.stderr, exit_code=answer.exit_code,
                      wall_seconds=answer.wall_seconds)
    status = answer.status if answer.status not in ("passed", "failed") else "failed"
    return Result(status=status, tests=outcomes, stderr=answer.stderr, exit_code=answer.exit_code,
                  wall_seconds=answer.wall_seconds,
                  reason=f"{len(failed)}/{len(outcomes)} checks failed; first: {failed[0].name}: {failed[0].error}")


def _run_once(toolchain: Language, source: str, limits: Limits, compile_limits: Limits) -> Result:
    """Compile ``source`` (cached by its text) and run it once with no input."""
    built = build(toolchain, source, compile_limits)
    if built.failure is not None:
        return built.failure
    try:
        step = run_built(toolchain, source, built, b"", limits)
    finally:
        if not built.cached and not toolchain.compile:
            remove_tree(built.folder)
    return Result(status=step.status, stdout=step.stdout.decode("utf-8", "replace"),
                  stderr=step.stderr.decode("utf-8", "replace"), exit_code=step.exit_code,
                  wall_seconds=built.compile_seconds + step.wall_seconds, reason=step.reason,
                  stdout_truncated=step.stdout_truncated)
