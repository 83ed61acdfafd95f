"""One run per workdir: a second is told who holds it; a dead holder's lock is taken over."""

import os
import signal
import subprocess
import sys
import time

import pytest

from flywheel.round.lock import LOCK_NAME, WorkdirBusy, workdir_lock

HOLD = ("import sys, time\nfrom flywheel.round.lock import workdir_lock\n"
        "with workdir_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n")


def hold(workdir):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(workdir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(tmp_path):
    holder = hold(tmp_path)
    try:
        with pytest.raises(WorkdirBusy, match=rf"in use by pid {holder.pid} on .* \(since .*running: .*\)"):
            with workdir_lock(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / LOCK_NAME).read_text()  # the dead holder's record is still there...
    with workdir_lock(tmp_path):  # ...but its lock died with it
        assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_NAME).read_text()


def test_reentrant_in_one_process_and_waits_for_a_holder(tmp_path):
    with workdir_lock(tmp_path):
        with workdir_lock(tmp_path):
            pass
    holder = hold(tmp_path)
    started = time.monotonic()
    try:
        with pytest.raises(WorkdirBusy):
            with workdir_lock(tmp_path, wait_seconds=0.6):
                pass
        assert time.monotonic() - started >= 0.5
    finally:
        holder.kill()
        holder.wait()


def test_two_demos_on_one_workdir(tmp_path):
    """The second demo fails at once with one error line naming the first; the first is untouched."""
    import yaml

    from tests.conftest import small_config_dict

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(tmp_path / "w")))
    argv = [sys.executable, "-m", "flywheel.cli", "demo", "--rounds", "1", "--config", str(config)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (tmp_path / "w" / LOCK_NAME).exists():
        time.sleep(0.1)
    time.sleep(0.5)
    second = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert second.returncode == 2
    assert f"is in use by pid {first.pid}" in second.stdout and "Traceback" not in second.stdout
