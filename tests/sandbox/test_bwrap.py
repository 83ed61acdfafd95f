"""One sandbox's bubblewrap command line and uid lease, in-process. test_runner.py and test_attacks.py start
real sandboxes with them."""

from __future__ import annotations

import multiprocessing

from flywheel_sandbox import bwrap


def test_the_command_line_isolates_and_makes_the_root_read_only_last():
    argv = bwrap.argv(1 << 20, seccomp_fd=9, ro_binds=(("/opt/toolchain", "/opt/toolchain"),))
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", "--disable-userns",
                 "--clearenv"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and argv[argv.index("--seccomp") + 1] == "9"
    assert argv[-2:] == ["--remount-ro", "/"]  # after every mount, or a bind could not be made
    assert argv.index("/opt/toolchain") < len(argv) - 2
    # /dev/shm, /tmp and /work: each a tmpfs of the capped size
    assert argv.count("--size") == 3 and all(argv[i + 1] == str(1 << 20) for i, a in enumerate(argv) if a == "--size")


def _lease_in_child(queue) -> None:
    queue.put(bwrap.UidLease(range(59990, 59992)).uid)


def test_concurrent_leases_never_share_a_uid(tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap, "LEASE_DIR", tmp_path / "leases")
    mine = bwrap.UidLease(range(59990, 59992))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_lease_in_child, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(30)
    assert {mine.uid, theirs} == {59990, 59991}
    mine.release()
