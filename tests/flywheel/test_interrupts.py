"""flywheel.interrupts: an interrupt that lands where Python cannot raise it is not lost, and prints nothing."""

import subprocess
import sys
import textwrap

# SIGTERM lands while logging's (here: a test's) at-fork hook runs in the parent: the handler's KeyboardInterrupt is
# "unraisable" there. Found in CI: a demo killed while it started a worker printed "Exception ignored in:
# <function _releaseLock ...>" with a traceback above its one 'interrupted' line.
FORK_WHILE_INTERRUPTED = textwrap.dedent('''
    import os, signal, time
    from flywheel import interrupts

    interrupts.record()

    def hook():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside the hook
        for _ in range(1000):
            pass

    os.register_at_fork(after_in_parent=hook)
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        for _ in range(300):
            time.sleep(0.01)
        print("not interrupted")
    except KeyboardInterrupt:
        print("interrupted by", interrupts.seen())
''')


def test_an_interrupt_swallowed_by_an_at_fork_hook_is_raised_after_it_quietly():
    run = subprocess.run([sys.executable, "-c", FORK_WHILE_INTERRUPTED], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "interrupted by 15", run.stdout + run.stderr
    assert run.stderr == ""  # no "Exception ignored in", no traceback


def test_other_unraisable_errors_are_still_reported():
    script = textwrap.dedent('''
        from flywheel import interrupts
        interrupts.record()

        class Broken:
            def __del__(self):
                raise ValueError("from a finaliser")

        Broken()
        print("went on")
    ''')
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "went on"
    assert "Exception ignored in" in run.stderr and "ValueError: from a finaliser" in run.stderr
