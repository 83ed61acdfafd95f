"""A seccomp filter for the sandboxes, written as classic BPF with no library.

It allows ``socket()`` and ``socketpair()`` only for AF_UNIX (every other family, AF_VSOCK
and AF_NETLINK among them, is EPERM: the network namespace has no interface, but vsock's
port space is the host's). It refuses (EPERM) the system calls that reach other processes or the kernel's shared
state: ptrace and process_vm_* (reading or writing another process of the same uid),
kcmp/pidfd_getfd, SysV IPC and POSIX message queues (objects that would outlive a pooled
job and sit outside every tmpfs limit), mount and namespace calls, keyrings, bpf,
perf_event_open, userfaultfd, io_uring, module and kexec loading. Any other architecture
than the host's (a 32-bit ``int 0x80`` call, x32) is killed outright.
"""

from __future__ import annotations

import os
import platform
import struct

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000

_DENIED = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
        "process_madvise": 440, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323, "keyctl": 250,
        "add_key": 248, "request_key": 249, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "unshare": 272, "setns": 308, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "iopl": 172, "ioperm": 173, "swapon": 167, "swapoff": 168,
        "reboot": 169, "syslog": 103, "acct": 163, "quotactl": 179, "open_by_handle_at": 304,
        "name_to_handle_at": 303, "lookup_dcookie": 212, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "fanotify_init": 300, "personality": 135, "shmget": 29, "shmat": 30,
        "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220, "msgget": 68,
        "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242,
        "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    },
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
        "process_madvise": 440, "perf_event_open": 241, "bpf": 280, "userfaultfd": 282, "keyctl": 219,
        "add_key": 217, "request_key": 218, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "unshare": 97, "setns": 268, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "swapon": 224, "swapoff": 225, "reboot": 142, "syslog": 116,
        "acct": 89, "quotactl": 60, "open_by_handle_at": 265, "name_to_handle_at": 264, "lookup_dcookie": 18,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "fanotify_init": 262,
        "personality": 92, "shmget": 194, "shmctl": 195, "shmat": 196, "shmdt": 197, "semget": 190,
        "semctl": 191, "semtimedop": 192, "semop": 193, "msgget": 186, "msgctl": 187, "msgrcv": 188,
        "msgsnd": 189, "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183,
        "mq_notify": 184, "mq_getsetattr": 185, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    },
}

# socket(2) and socketpair(2): allowed only for AF_UNIX (1)
_SOCKET_CALLS = {"x86_64": (41, 53), "aarch64": (198, 199)}
AF_UNIX = 1

# BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_ARG0_LOW = 16  # seccomp_data.args[0], its low 32 bits (little-endian)
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM = 1


def denied_syscalls(machine: str | None = None) -> dict[str, int]:
    machine = machine or platform.machine()
    if machine not in _DENIED:
        raise RuntimeError(f"no seccomp table for {machine}; the sandbox supports {sorted(_DENIED)}")
    return _DENIED[machine]


def program(machine: str | None = None) -> bytes:
    """The filter as the bytes of a ``struct sock_filter`` array (what bwrap's --seccomp reads)."""
    machine = machine or platform.machine()
    numbers = sorted(set(denied_syscalls(machine).values()))
    count = len(numbers)
    socket_calls = _SOCKET_CALLS[machine]
    code = [
        (_LD_W_ABS, 0, 0, 4),                      # seccomp_data.arch
        (_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),         # another ABI: no call of it is allowed
        (_LD_W_ABS, 0, 0, 0),                      # seccomp_data.nr
    ]
    if machine == "x86_64":
        code.append((_JGE_K, count + 2 + len(socket_calls), 0, _X32_BIT))  # x32 numbers -> EPERM
    for index, number in enumerate(socket_calls):  # -> the family check after ALLOW and EPERM
        code.append((_JEQ_K, len(socket_calls) - index - 1 + count + 2, 0, number))
    for index, number in enumerate(numbers):
        code.append((_JEQ_K, count - index, 0, number))  # jump over the rest and ALLOW, to EPERM
    code += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_ERRNO | _EPERM),
             (_LD_W_ABS, 0, 0, _ARG0_LOW),         # socket(family, ...): AF_UNIX only
             (_JEQ_K, 0, 1, AF_UNIX), (_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_ERRNO | _EPERM)]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in code)


def program_fd() -> int:
    """A file descriptor, at offset 0, holding the filter; bwrap reads and closes its copy."""
    fd = os.memfd_create("flywheel-seccomp", 0)
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
