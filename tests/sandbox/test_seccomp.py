"""The sandbox's seccomp filter, loaded into a plain child process (no bwrap): what it refuses, what it allows.
Every sandboxed job runs under this same program (bwrap --seccomp); test_attacks.py attacks it there."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from flywheel_sandbox.seccomp import denied_syscalls, program

# Loads the filter the way bwrap does (no_new_privs, then SECCOMP_MODE_FILTER), then tries each call and
# reports its errno (0: allowed).
PROBE = r"""
import ctypes, errno, json, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
code = bytes.fromhex(sys.argv[1])
class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
buffer = ctypes.create_string_buffer(code, len(code))
prog = Program(len(code) // 8, ctypes.cast(buffer, ctypes.c_char_p))
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0, ctypes.get_errno()  # PR_SET_SECCOMP, MODE_FILTER
def syscall(number, *args):
    ctypes.set_errno(0)
    return 0 if libc.syscall(number, *args) != -1 else ctypes.get_errno()
def open_socket(family, kind=socket.SOCK_STREAM):
    try:
        socket.socket(family, kind).close()
        return 0
    except OSError as error:
        return error.errno
numbers = json.loads(sys.argv[2])
print(json.dumps({
    "getpid": syscall(numbers["getpid"]),
    "unshare": syscall(numbers["unshare"], 0x20000),  # CLONE_NEWNS
    "shmget": syscall(numbers["shmget"], 0, 4096, 0o1600),
    "ptrace": syscall(numbers["ptrace"], 0, 0, 0, 0),  # PTRACE_TRACEME
    "af_unix": open_socket(socket.AF_UNIX),
    "af_inet": open_socket(socket.AF_INET),
    "af_netlink": open_socket(socket.AF_NETLINK, socket.SOCK_RAW),
    "socketpair": 0 if socket.socketpair() else 1,
}))
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="the filter has tables for two machines")
def test_the_filter_refuses_what_reaches_outside_and_allows_the_rest():
    denied = denied_syscalls()
    numbers = {**{name: denied[name] for name in ("unshare", "shmget", "ptrace")},
               "getpid": {"x86_64": 39, "aarch64": 172}[platform.machine()]}
    probe = subprocess.run([sys.executable, "-c", PROBE, program().hex(), json.dumps(numbers)], capture_output=True,
                           text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    errnos = json.loads(probe.stdout)
    assert errnos == {"getpid": 0, "unshare": 1, "shmget": 1, "ptrace": 1, "af_unix": 0, "af_inet": 1,
                      "af_netlink": 1, "socketpair": 0}  # 1 is EPERM


def test_an_unknown_machine_is_named():
    with pytest.raises(RuntimeError, match="no seccomp table for riscv64"):
        program("riscv64")
    assert len(program("aarch64")) % 8 == 0 and program("aarch64") != program("x86_64")
