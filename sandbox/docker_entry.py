"""The command inside a docker-backend container (standard library only; shipped in the command line).

``python3 -I -c BOOTSTRAP PAYLOAD``: the bootstrap loads this module, flywheel_sandbox.wire,
flywheel_sandbox.candidate and flywheel_sandbox.judge from the payload, then runs one role. The judge
container listens on a Unix socket in the folder both containers mount at /link and
writes its report to /results, which only it mounts; the candidate container connects
to the socket and answers calls, its stdout and stderr being the container's logs.
"""

import os
import socket
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
    return candidate.main({"mode": job["mode"], "limits": job["limits"]}, [_memfd(job["program"]), 1, 2, link])
