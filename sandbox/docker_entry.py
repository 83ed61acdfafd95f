"""The command inside a docker-backend container (standard library only; shipped in the command line).

``python3 -I -c BOOTSTRAP PAYLOAD``: the bootstrap loads this module, flywheel_sandbox.wire,
flywheel_sandbox.candidate and flywheel_sandbox.judge from the payload, then runs one role. The judge
container listens on a Unix socket in the folder both containers mount at /link and
writes its report to /results, which only it mounts; the candidate container connects
to the socket and answers calls, its stdout and stderr being the container's logs.
"""

import os
import socket
import sys
import time

import candidate
import judge


def _memfd(text):
    fd = os.memfd_create("job", 0)
    os.write(fd, text.encode("utf-8", errors="replace"))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def run(job):
    deadline = time.monotonic() + job["wall_seconds"]
    if job["role"] == "judge":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(job["link_path"])
        os.chmod(job["link_path"], 0o666)
        server.listen(1)
        server.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            connection, _ = server.accept()
        except OSError:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # unconnected: reads fail at once
        results = os.open(job["results_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        return judge.main({"names": job["names"], "wall_seconds": job["wall_seconds"], "limits": job["limits"]},
                          [_memfd(job["tests"]), connection.detach(), results])
    link = os.open(os.devnull, os.O_RDWR)
    if job["mode"] == "tests":
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                client.connect(job["link_path"])
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        os.close(link)
        link = client.detach()
    return _candidate_with_capped_output(job, link)


def _candidate_with_capped_output(job, link):
    """Run the candidate in a child whose stdout and stderr are pipes; this process (the container's PID 1) forwards
    the first output_bytes + 1 bytes of each to the container's own, and drains the rest.

    The engine keeps a container's output in a log that rotates at its max-size: a flood past it left only the
    tail in the log, so a program could print junk and then the expected answer and be judged on the answer
    alone. Forwarded this way, the log holds a prefix of the output, never more than the cap (it cannot rotate),
    and a longer output shows as truncated. The candidate cannot write past this process: PID 1 takes no signal
    it has no handler for, and it is made undumpable, so /proc/1/fd is closed to the candidate's user."""
    import ctypes
    import select

    cap = int(job["output_bytes"]) + 1
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(out_read)
            os.close(err_read)
            code = candidate.main({"mode": job["mode"], "limits": job["limits"]},
                                  [_memfd(job["program"]), out_write, err_write, link])
        except SystemExit as request:
            code = request.code if isinstance(request.code, int) else 1
        finally:
            for stream in (sys.stdout, sys.stderr):  # os._exit skips the interpreter's own flush
                try:
                    stream.flush()
                except BaseException:  # noqa: BLE001
                    pass
            os._exit(code or 0)
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: /proc/1/* is not the candidate's to open
    for fd in (out_write, err_write, link):
        os.close(fd)
    left = {out_read: [1, cap], err_read: [2, cap]}  # pipe -> [container descriptor, bytes still forwarded]
    status = None
    while left:
        # Once the candidate has ended, only what is already written is read: a process it left behind holding
        # the pipes does not keep the container up (it ended with the candidate when the candidate was PID 1).
        ready, _, _ = select.select(list(left), [], [], 0.1 if status is None else 0)
        if not ready and status is not None:
            break
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                os.close(fd)
                del left[fd]
                continue
            target, budget = left[fd]
            if budget > 0:
                os.write(target, chunk[:budget])
                left[fd][1] = budget - len(chunk)
        if status is None:
            ended, found = os.waitpid(child, os.WNOHANG)
            status = found if ended else None
    if status is None:
        _, status = os.waitpid(child, 0)
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
