"""One slot of isolated execution: a candidate sandbox and a judge sandbox, and the job protocol between them.

Per job the host makes fresh channels and hands them to the two zygotes
(flywheel_sandbox.zygote): the candidate gets the program (a memfd), its stdout and stderr pipes
and one end of a socket; the judge gets the tests (a memfd), the other end of that
socket and a result pipe. The host never sends job data through a zygote, reads every
channel against a deadline, and measures CPU time across all of the candidate's
processes from its cgroup. A job ends when the judge has reported (the candidate is then
given a moment to exit and stopped), when the candidate's program ends (no tests), at
the wall-clock limit, or when its CPU time passes the limit.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from flywheel_sandbox import bwrap, seccomp
from flywheel_sandbox.cgroups import Cgroup

START_SECONDS = 30.0
GRACE_SECONDS = 5.0  # for a zygote to answer after a stop
EXIT_SECONDS = 0.5  # for the candidate to exit by itself once the judge is done
CPU_POLL_SECONDS = 0.02  # how often a job's CPU time is read while it runs (RLIMIT_CPU backs it up per process)
RESULT_CAP = 16 << 20
ZYGOTE_OVERHEAD = 96 << 20  # the zygote's own memory, on top of the job's limit in its cgroup
_names = itertools.count()
_warned = False


class WorkerDied(RuntimeError):
    pass


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("flywheel-job", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class Sandbox:
    """One bwrap sandbox whose PID 1 is a zygote of ``role``, its cgroup, and the host's end of its socket."""

    def __init__(self, role: str, uid: int, code_dir: Path, limits, unsafe_scratch: str | None = None,
                 cpus: set[int] | None = None):
        global _warned
        self.role, self.uid = role, uid
        self._limits_set = (limits.memory_bytes + ZYGOTE_OVERHEAD, limits.processes + 8)
        self.cgroup = Cgroup.create(f"{os.getpid()}-{role}-{uid}-{next(_names)}",
                                    limits.memory_bytes + ZYGOTE_OVERHEAD, limits.processes + 8)
        if self.cgroup is None and not _warned:
            _warned = True
            warnings.warn("no writable cgroup: sandbox memory and CPU limits hold per process only", stacklevel=3)
        self.sock, inner = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        filter_fd = seccomp.program_fd()
        if unsafe_scratch is None:
            argv = bwrap.argv(limits.tmpfs_bytes, filter_fd, ((str(code_dir), "/sandbox"),)) + [
                bwrap.SYSTEM_PYTHON, "-I", "-S", "/sandbox/zygote.py", role, str(inner.fileno())]
        else:  # the 'process' backend: the same zygote, no namespaces, scratch in a private host folder
            folder = Path(unsafe_scratch) / role
            folder.mkdir()
            argv = [bwrap.SYSTEM_PYTHON, "-I", "-S", str(code_dir / "zygote.py"), role, str(inner.fileno()),
                    "--unsafe-scratch", str(folder)]
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={},
                pass_fds=(filter_fd, inner.fileno()),
                preexec_fn=bwrap.preexec(uid, limits.processes + 8, self.cgroup.join if self.cgroup else None, cpus))
        finally:
            os.close(filter_fd)
            inner.close()
        try:
            ready = self.receive(time.monotonic() + START_SECONDS)
        except WorkerDied:
            ready = None
        if ready != {"op": "ready"}:
            self.kill()
            raise WorkerDied(f"the {role} sandbox failed to start (is bubblewrap installed and allowed?)")

    def set_limits(self, limits) -> None:
        wanted = (limits.memory_bytes + ZYGOTE_OVERHEAD, limits.processes + 8)
        if self.cgroup is not None and wanted != self._limits_set:
            self.cgroup.set_limits(*wanted)
            self._limits_set = wanted

    def submit(self, header: dict, fds: list[int]) -> None:
        try:
            socket.send_fds(self.sock, [json.dumps(header).encode()], fds)
        except OSError as error:
            raise WorkerDied(f"the {self.role} sandbox is gone ({error})") from None

    def stop(self) -> None:
        try:
            self.sock.send(b'{"op": "stop"}')
        except OSError:
            pass

    def receive(self, deadline: float) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
            raise WorkerDied(f"the {self.role} sandbox did not answer in time")
        return self.read()

    def read(self) -> dict:
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            raise WorkerDied(f"the {self.role} sandbox exited")
        return json.loads(data)

    def close(self, seconds: float = 2.0) -> None:
        """Ask the zygote to end (its socket closes: it kills its namespace and exits, and bwrap reaps it)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.sock.close()
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()


@dataclass
class Run:
    """What one job produced, before it is judged into a Result (flywheel_sandbox.tests.judge_run)."""
    events: list[dict]
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    cpu_exceeded: bool
    memory_exceeded: bool
    judge_failed: str
    wall_seconds: float
    recycle: bool
    lost: str = ""  # a sandbox that died or hung; the slot must be respawned
    output_truncated: bool = False  # stdout went past limits.output_bytes: what is kept is only a prefix


class Slot:
    """A candidate sandbox and (for jobs with tests) a judge sandbox, under two different uids."""

    def __init__(self, candidate_uid: int, judge_uid: int, code_dir: Path, limits, unsafe_scratch: str | None = None,
                 cpu: int | None = None):
        """``cpu``: the one CPU both sandboxes run on. The two take turns (every call of a test is a round trip
        between them), and a wake-up across CPUs costs this machine ~65 us where one on the same CPU costs ~25
        (a socket ping-pong: 179 us across, 49 us on one CPU)."""
        self.uids, self.code_dir, self.limits = (candidate_uid, judge_uid), code_dir, limits
        cpus = None if cpu is None else {cpu}
        self.candidate = Sandbox("candidate", candidate_uid, code_dir, limits, unsafe_scratch, cpus)
        try:
            self.judge = Sandbox("judge", judge_uid, code_dir, limits, unsafe_scratch, cpus)
        except WorkerDied:
            self.candidate.kill()
            raise

    def close(self) -> None:
        self.candidate.close()
        self.judge.close()

    def run(self, program: str, tests_source: str | None, test_names: list[str], limits,
            stdin: bytes | None = None) -> Run:
        started = time.monotonic()
        for sandbox in (self.candidate, self.judge):
            sandbox.set_limits(limits)
        group = self.candidate.cgroup
        # CPU counts across both sandboxes: a reply that is cheap to make and costly to rebuild spends the judge's
        # CPU, and is the candidate's doing (judge_cpu_seconds)
        cpu_before = self._cpu_seconds()
        oom_before = group.oom_kills() if group else 0
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        link_candidate, link_judge = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        passed_fds = [_memfd(program.encode("utf-8", errors="replace")), out_w, err_w, link_candidate.detach()]
        if stdin is not None:
            passed_fds.append(_memfd(stdin))
        job_limits = limits.for_job()
        streams = {out_r: bytearray(), err_r: bytearray()}
        results_fd = None
        try:
            self.candidate.submit({"op": "job", "mode": "tests" if tests_source is not None else "run",
                                   "limits": job_limits}, passed_fds)
            if tests_source is not None:
                results_fd, results_w = os.pipe()
                streams[results_fd] = bytearray()
                judge_fds = [_memfd(tests_source.encode()), link_judge.detach(), results_w]
                try:
                    self.judge.submit({"op": "job", "names": test_names, "wall_seconds": limits.wall_seconds,
                                       "limits": job_limits}, judge_fds)
                finally:
                    for fd in judge_fds:
                        os.close(fd)
        except WorkerDied as error:
            for fd in streams:
                os.close(fd)
            return Run([], "", "", None, False, False, False, "", time.monotonic() - started, False, str(error))
        finally:
            for fd in passed_fds:
                os.close(fd)
            link_judge.close()
        return self._collect(started, limits, streams, results_fd, cpu_before, oom_before)

    def _cpu_seconds(self) -> float:
        return sum(sandbox.cgroup.cpu_seconds() for sandbox in (self.candidate, self.judge) if sandbox.cgroup)

    def _collect(self, started, limits, streams, results_fd, cpu_before, oom_before) -> Run:
        group = self.candidate.cgroup
        deadline = started + limits.wall_seconds
        pipes = _Pipes(streams, {fd: (RESULT_CAP if fd == results_fd else limits.output_bytes) for fd in streams})
        waiting = {self.candidate: None}
        if results_fd is not None:
            waiting[self.judge] = None
        timed_out = cpu_exceeded = False
        stop_at = give_up = None
        next_cpu_check = 0.0
        lost = ""
        while any(answer is None for answer in waiting.values()) or pipes.open:
            now = time.monotonic()
            judge_done = results_fd is not None and waiting[self.judge] is not None
            if judge_done and waiting[self.candidate] is None and stop_at is None:
                stop_at = now + EXIT_SECONDS  # the judge is done: the candidate may exit, then it is stopped
            if group is not None and not cpu_exceeded and now >= next_cpu_check:
                next_cpu_check = now + CPU_POLL_SECONDS  # two cgroup reads: not on every pipe event
                if self._cpu_seconds() - cpu_before > limits.cpu_seconds:
                    cpu_exceeded, stop_at = True, now
            if now >= deadline and not timed_out and any(answer is None for answer in waiting.values()):
                timed_out, stop_at = True, now
            if stop_at is not None and now >= stop_at and give_up is None:
                for sandbox, answer in waiting.items():
                    if answer is None:
                        sandbox.stop()
                give_up = now + GRACE_SECONDS
            if give_up is not None and now >= give_up:
                lost = "a sandbox did not answer a stop in time"
                break
            sockets = {sandbox.sock: sandbox for sandbox, answer in waiting.items() if answer is None}
            ready, _, _ = select.select(list(pipes.open) + list(sockets), [], [], 0.05)
            for item in ready:
                if item in sockets:
                    try:
                        waiting[sockets[item]] = sockets[item].read()
                    except WorkerDied as error:
                        waiting[sockets[item]] = {"op": "lost"}
                        lost = str(error)
                else:
                    pipes.read(item)
        pipes.close()
        candidate = waiting[self.candidate] or {}
        judge = waiting.get(self.judge) or {}
        judge_failed = ""
        if results_fd is not None and judge.get("exit_code") == -signal.SIGXCPU:
            cpu_exceeded = True  # the judge's own CPU limit: spent rebuilding what the candidate sent
        elif results_fd is not None and (judge.get("exit_code") != 0 or judge.get("stopped")):
            judge_failed = f"the judge ended with {judge}"
        out, err = list(streams)[:2]
        return Run(events=frames(bytes(streams[results_fd])) if results_fd is not None else [],
                   stdout=bytes(streams[out]).decode("utf-8", errors="replace"),
                   stderr=bytes(streams[err]).decode("utf-8", errors="replace"),
                   exit_code=None if candidate.get("stopped") else candidate.get("exit_code"),
                   timed_out=timed_out, cpu_exceeded=cpu_exceeded,
                   memory_exceeded=group is not None and group.oom_kills() > oom_before,
                   judge_failed=judge_failed, wall_seconds=time.monotonic() - started,
                   recycle=bool(candidate.get("recycle") or judge.get("recycle")), lost=lost,
                   output_truncated=out in pipes.over_cap)


class _Pipes:
    """Read ends of a job's output pipes, each kept up to its cap (the rest is read and dropped, so no writer blocks)."""

    def __init__(self, buffers: dict[int, bytearray], caps: dict[int, int]):
        self.buffers, self.caps, self.open = buffers, caps, set(buffers)
        self.over_cap: set[int] = set()

    def read(self, fd: int) -> None:
        data = os.read(fd, 65536)
        if not data:
            self.open.discard(fd)
            os.close(fd)
            return
        room = self.caps[fd] - len(self.buffers[fd])
        if room > 0:
            self.buffers[fd] += data[:room]
        if len(data) > room:
            self.over_cap.add(fd)

    def close(self) -> None:
        for fd in self.open:
            os.close(fd)
        self.open = set()


def frames(data: bytes) -> list[dict]:
    events, offset = [], 0
    while offset + 4 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        body = data[offset + 4:offset + 4 + size]
        offset += 4 + size
        if len(body) < size:
            break
        try:
            event = json.loads(body)
        except ValueError:
            break
        if isinstance(event, dict) and isinstance(event.get("kind"), str):
            events.append(valid_text(event))
    return events


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(value):
    """``value`` with every lone surrogate (which JSON can carry as an escape) replaced by U+FFFD, so a job's text
    is valid UTF-8 before it reaches Parquet, DuckDB or a terminal."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_text(item) for item in value]
    return value

