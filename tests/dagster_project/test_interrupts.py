"""A Ctrl-C during a stage stops the demo at the next stage boundary, even when Dagster's handler lost it."""

import gc
import os
import signal
import weakref

import pytest

from dagster_project.demo import interrupt_latch


class _Collected:
    pass


def _sigint_lost_in_a_gc_callback() -> None:
    """What was seen in CI: Dagster's handler raised inside a weakref callback (SQLAlchemy's
    ``_collection_gced``), where Python prints "Exception ignored" and carries on."""
    def raise_interrupt(_signo, _frame):
        raise RuntimeError("DagsterExecutionInterruptedError stand-in")

    previous = signal.signal(signal.SIGINT, raise_interrupt)
    try:
        target = _Collected()
        ref = weakref.ref(target, lambda _ref: os.kill(os.getpid(), signal.SIGINT) or sum(range(1000)))
        del target
        gc.collect()
        assert ref() is None
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost interrupt, on purpose
def test_a_sigint_lost_in_a_gc_callback_is_still_seen_between_stages():
    with interrupt_latch() as check_interrupt:
        _sigint_lost_in_a_gc_callback()  # the interrupt vanished: nothing was raised here
        with pytest.raises(KeyboardInterrupt):
            check_interrupt()
        check_interrupt()  # seen once: the next stage boundary does not raise it again


def test_no_signal_no_interrupt_and_the_previous_wakeup_fd_is_restored():
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    with interrupt_latch() as check_interrupt:
        check_interrupt()
    assert signal.set_wakeup_fd(before) == before
