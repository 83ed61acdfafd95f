"""What a pooled sandbox does between jobs: empty its scratch folders whatever the job left there. Here on a
plain folder, in-process; test_pool.py and test_hostile.py run the same code as a sandbox's PID 1."""

from __future__ import annotations

import os

from flywheel_sandbox.zygote import empty_dir


def test_a_tree_deeper_than_path_max_with_locked_folders_and_links_is_emptied(tmp_path):
    scratch, outside = tmp_path / "scratch", tmp_path / "outside.txt"
    scratch.mkdir()
    outside.write_text("the host's")
    os.symlink(outside, scratch / "link-out")  # removed, never followed
    os.symlink(tmp_path, scratch / "link-dir")
    os.mkfifo(scratch / "fifo")
    (scratch / "locked" / "inner").mkdir(parents=True)
    (scratch / "locked" / "inner" / "f").write_text("x")
    os.chmod(scratch / "locked" / "inner", 0)
    os.chmod(scratch / "locked", 0)
    fd = os.open(scratch, os.O_RDONLY)  # 40 levels of 200-character names: over PATH_MAX (4096) as a path
    try:
        for _ in range(40):
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("deepest", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as handle:
            handle.write("x")
    finally:
        os.close(fd)
    seen, left = empty_dir(str(scratch))
    assert (seen, left) == (5 + 2 + 39 + 1, 0)  # 5 at the top, locked/inner and its f, 39 more links of the chain, deepest
    assert os.listdir(scratch) == []
    assert outside.read_text() == "the host's" and tmp_path.exists()


def test_a_missing_root_is_one_entry_left():
    assert empty_dir("/nonexistent/scratch") == (0, 1)
