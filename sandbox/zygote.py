"""A sandbox's server: PID 1 of one long-lived bwrap sandbox (system Python, standard library only).

``zygote.py ROLE FD``: ROLE is ``candidate`` (runs the untrusted program) or ``judge``
(runs the tests). FD is a SOCK_SEQPACKET socket to the host. Per job the host sends a
small JSON header and the job's file descriptors (SCM_RIGHTS); the zygote forks a child
that reads the job *from those descriptors*, so the zygote's own memory never holds a
program, a test or a reply, and nothing of one job is left for the next one to find.

After the child exits, or when the host says ``stop``, the zygote kills every other
process of the sandbox, reaps them, and empties /work, /tmp and /dev/shm (making
mode-000 directories writable first), then answers ``done`` with the child's status.

Why a job cannot reach the zygote: the zygote is PID 1 of the namespace (bwrap
``--as-pid-1``), so signals it does not handle are dropped even for SIGKILL; it is not
dumpable, so /proc/1/mem, /proc/1/fd and /proc/1/environ are closed to the job; and the
seccomp filter refuses ptrace and process_vm_*.
"""

import ctypes
import json
import os
import select
import signal
import socket
import stat
import sys

# Pre-imported so a job pays nothing for them (they are what model-written code mostly uses).
import bisect, collections, dataclasses, fractions, functools, heapq, itertools, math, operator  # noqa: E401, F401
import random, re, statistics, string, typing  # noqa: E401, F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE = 36, 4
SCRATCH = ["/work", "/tmp", "/dev/shm"]
UNSAFE = False  # set by --unsafe-scratch DIR: the 'process' backend, outside any namespace
JOBS = set()  # process groups of jobs (each job calls setsid), for the unsafe mode's clean-up
MAX_FILES = 10_000  # a job that leaves more is answered, then the sandbox is recycled


def prctl(option, value):
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def receive(control):
    try:
        data, fds, _, _ = socket.recv_fds(control, 1 << 20, 16)
    except OSError:
        return None, []
    if not data:
        return None, []
    return json.loads(data.decode()), fds


def reply(control, message):
    control.sendall(json.dumps(message).encode())


def kill_others():
    """SIGKILL every process of the namespace but this one, until none is left to reap."""
    if UNSAFE:  # no namespace of our own: kill(-1) would reach every process of this uid on the host
        for pid in list(JOBS):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        JOBS.clear()
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    return
            except ChildProcessError:
                return
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name, dir_fd):
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:  # a mode-000 directory: make it ours to read again (we own everything here)
        os.chmod(name, stat.S_IRWXU, dir_fd=dir_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def empty_dir(root):
    """Delete everything below ``root`` at any depth, holding one descriptor at a time and never a long path.

    Returns (entries seen, entries left): the walk goes down by ``openat(name)`` and back up by ``openat("..")``
    (every process of the job is dead by now, so nothing moves under it), so a tree deeper than PATH_MAX or
    than the descriptor limit is removed like any other.
    """
    seen = left = 0
    try:
        current = _open_dir(root, None)
    except OSError:
        return 0, 1
    names, skipped = [], [set()]  # the path from root, and per level what could not be removed
    while True:
        try:
            os.fchmod(current, stat.S_IRWXU)
        except OSError:
            pass
        descended = False
        with os.scandir(current) as entries:
            pending = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries
                       if entry.name not in skipped[-1]]
        for name, is_dir in pending:
            seen += 1
            if is_dir:
                try:
                    child = _open_dir(name, current)
                except OSError:
                    skipped[-1].add(name)
                    left += 1
                    continue
                os.close(current)
                current, descended = child, True
                names.append(name)
                skipped.append(set())
                break
            try:
                os.unlink(name, dir_fd=current)
            except OSError:
                skipped[-1].add(name)
                left += 1
        if descended:
            continue
        if not names:
            os.close(current)
            return seen, left
        parent = os.open("..", _DIR_FLAGS, dir_fd=current)
        os.close(current)
        current, name = parent, names.pop()
        inner_left = skipped.pop()
        try:
            os.rmdir(name, dir_fd=current)
        except OSError:
            if not inner_left:
                left += 1
            skipped[-1].add(name)


def empty_scratch():
    """Delete everything in the scratch dirs; True when the job left more files than MAX_FILES, or left something
    that could not be removed (the slot is then recycled, its tmpfs gone with it)."""
    count = 0
    unremoved = 0
    for root in SCRATCH:
        try:
            if not os.listdir(root):
                continue  # the common case: the job left nothing
        except OSError:
            pass  # mode 000 on the root itself: empty_dir makes it readable
        seen, left = empty_dir(root)
        count += seen
        unremoved += left
    return count > MAX_FILES or unremoved > 0


def serve(role, control):
    if role == "candidate":
        import candidate as child_module
    else:
        import judge as child_module
    reply(control, {"op": "ready"})
    while True:
        header, fds = receive(control)
        if header is None:
            return
        if header.get("op") != "job":
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                control.close()
                code = child_module.main(header, fds)
            finally:
                os._exit(code if isinstance(code, int) else 0)
        JOBS.add(pid)
        for fd in fds:
            os.close(fd)
        watch = os.pidfd_open(pid)
        stopped = False
        while True:
            ready, _, _ = select.select([control, watch], [], [])
            if watch in ready:
                break
            message, extra = receive(control)
            for fd in extra:
                os.close(fd)
            if message is None:
                kill_others()
                return
            if message.get("op") == "stop":
                stopped = True
                kill_others()
                break
        os.close(watch)
        try:
            _, status, usage = os.wait4(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
        except ChildProcessError:  # already reaped by kill_others after a stop
            code, cpu = None, 0.0
        kill_others()
        recycle = empty_scratch()
        reply(control, {"op": "done", "exit_code": code, "stopped": stopped, "cpu_seconds": cpu,
                        "recycle": recycle})


def main():
    global UNSAFE
    role, control_fd = sys.argv[1], int(sys.argv[2])
    if sys.argv[3:4] == ["--unsafe-scratch"]:
        UNSAFE = True
        SCRATCH[:] = [sys.argv[4]]
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_DUMPABLE, 0)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_IGN)  # handled signals reach PID 1 from inside: ignore them all
    for folder in SCRATCH:
        os.makedirs(folder, exist_ok=True)
    os.chdir(SCRATCH[0])
    serve(role, socket.socket(fileno=control_fd))


if __name__ == "__main__":
    main()
