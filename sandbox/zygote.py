"""A pool worker's server, running inside one long-lived bwrap sandbox (system Python, stdlib only).

It pre-imports the modules tests commonly use, then serves jobs read from stdin as one
Python-literal line each: it forks a child per job, which applies the job's rlimits and
runs the harness; output goes to files in the worker's private tmpfs. After every job it
kills every other process of this sandbox (``kill(-1)``: daemons, forks that escaped with
setsid) and, as child subreaper, reaps them, then wipes the job's files. One reply line
per job on stdout. If a job kills this server, the host replaces the whole worker.
"""

import ast
import ctypes
import os
import resource
import select
import shutil
import signal
import sys
import time

# Pre-imported so a job pays nothing for them (they are what model-written code mostly uses).
import bisect, collections, dataclasses, fractions, functools, heapq, itertools, json, math, operator  # noqa: E401,F401
import random, re, statistics, string, typing  # noqa: E401,F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE = 36, 4
JOB_DIR = "/work/job"
MAX_FILES = 10_000  # a job that leaves more is answered, then the worker is recycled


def prctl(option, value):
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def read_capped(path, cap):
    try:
        with open(path, "rb") as handle:
            return handle.read(cap).decode("utf-8", errors="replace")
    except OSError:
        return ""


def child(job, write_fd):
    os.setsid()
    limits = job["limits"]
    for name, value in (("RLIMIT_AS", limits["memory_bytes"]), ("RLIMIT_FSIZE", limits["file_bytes"]),
                        ("RLIMIT_NOFILE", limits["open_files"]), ("RLIMIT_CORE", 0),
                        ("RLIMIT_NPROC", limits["processes"])):
        resource.setrlimit(getattr(resource, name), (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    os.chdir(JOB_DIR)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # fd 0 is the host's job pipe: the job must not read the next job
    out = os.open(os.path.join(JOB_DIR, ".stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(os.path.join(JOB_DIR, ".stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    code = 0
    try:
        harness.run_job(harness.Channel(write_fd), job["program"], job.get("tests"), job.get("names", []))
    except SystemExit as exit_request:
        code = exit_request.code if isinstance(exit_request.code, int) else 1
    except BaseException:  # noqa: BLE001
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def clean_up():
    """Kill every process of this sandbox but this one, reap them, and empty the work dirs."""
    for _ in range(3):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.001)
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    many = sum(1 for _ in zip(range(MAX_FILES + 1), _walk(JOB_DIR))) > MAX_FILES
    for folder in (JOB_DIR, "/tmp"):
        for entry in os.listdir(folder):
            path = os.path.join(folder, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return many


def _walk(root):
    for _, dirs, files in os.walk(root):
        yield from dirs
        yield from files


def run(job):
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        child(job, write_fd)
    os.close(write_fd)
    deadline = started + job["limits"]["wall_seconds"]
    chunks, size, status, timed_out = [], 0, None, False
    while status is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            os.kill(-1, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.05))
        if ready:
            data = os.read(read_fd, 65536)
            if data and size < (1 << 20):
                chunks.append(data)
                size += len(data)
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = wait_status
    os.set_blocking(read_fd, False)
    try:
        while size < (1 << 20):
            data = os.read(read_fd, 65536)
            if not data:
                break
            chunks.append(data)
            size += len(data)
    except (BlockingIOError, OSError):
        pass
    os.close(read_fd)
    wall = time.monotonic() - started
    cap = job["limits"]["output_bytes"]
    stdout, stderr = read_capped(JOB_DIR + "/.stdout", cap), read_capped(JOB_DIR + "/.stderr", cap)
    recycle = clean_up()
    code = os.waitstatus_to_exitcode(status)
    return {"events": b"".join(chunks).decode("utf-8", errors="replace"), "stdout": stdout, "stderr": stderr,
            "exit_code": code, "timed_out": timed_out, "wall_seconds": wall, "recycle": recycle}


def main():
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_DUMPABLE, 0)  # no ptrace or /proc/<pid>/mem from a job of the same uid
    os.makedirs(JOB_DIR, exist_ok=True)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        reply = run(ast.literal_eval(line))
        out.write(repr(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
