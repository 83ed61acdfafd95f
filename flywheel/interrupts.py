"""A command stopped by Ctrl-C or SIGTERM: noticed however a library rewraps it, and said in one line.

``record()`` installs the handlers when a command starts; ``seen()`` and ``was_interrupted(error)`` tell the
command's error handling that the error it caught was an interrupt (the CLI then prints "interrupted; rerun to
resume" and exits 130); log records carrying the KeyboardInterrupt are kept off the console.
"""

from __future__ import annotations

_seen = 0  # the number of the interrupting signal, once one arrived


def record() -> None:
    """Remember a Ctrl-C even when a library turns it into an unrelated error; then behave as Python does."""
    import signal
    import threading

    global _seen
    _seen = 0

    def on_sigint(signum, frame):
        global _seen
        _seen = signum
        _quiet_interrupted_cleanup()  # again: handlers added since the command started get the filter too
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)
    _quiet_interrupted_cleanup()
    _redeliver_swallowed_interrupts()
    # SIGTERM (a scheduler, `kill`, a test run's teardown) stops a round as Ctrl-C does: cleanly, resumable
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_sigint)


def seen() -> int:
    """The interrupting signal's number since ``record()``, or 0."""
    return _seen


def _not_an_interrupt(record) -> bool:
    exc_info = record.exc_info
    return not (exc_info and isinstance(exc_info[1], KeyboardInterrupt))


def _quiet_interrupted_cleanup() -> None:
    """A library that logs the Ctrl-C it caught while cleaning up (SQLAlchemy's pool logs 'Exception closing
    connection' with the KeyboardInterrupt's traceback, then re-raises it) would print a traceback above the
    one 'interrupted' line. Records carrying a KeyboardInterrupt are dropped where they would reach the console:
    Python's last-resort handler and the root logger's handlers. Every other record passes as before."""
    import logging

    for handler in [logging.lastResort, *logging.getLogger().handlers]:
        if handler is not None and _not_an_interrupt not in handler.filters:
            handler.addFilter(_not_an_interrupt)


def _redeliver_swallowed_interrupts() -> None:
    """A signal that lands while Python runs a hook whose errors it cannot raise (an at-fork hook: logging's
    ``_releaseLock`` after every fork of a process that starts workers) makes the handler's KeyboardInterrupt
    "unraisable": Python printed "Exception ignored in ..." with a traceback above the one 'interrupted' line, and
    the interrupt was lost. Such an interrupt is sent again instead, so the handler raises it where it can be raised
    (in the code that follows the hook), quietly; every other unraisable error is reported as before."""
    import os
    import sys
    import threading

    previous = sys.unraisablehook
    if getattr(previous, "_flywheel_redelivers", False):
        return

    def redeliver(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _seen:
            # from another thread, a moment later: sent from here, the handler would run at once, inside this
            # hook, and be swallowed again (a second landing in a hook is sent again the same way)
            threading.Timer(0.01, os.kill, (os.getpid(), _seen)).start()
            return
        previous(unraisable)

    redeliver._flywheel_redelivers = True
    sys.unraisablehook = redeliver


def was_interrupted(error: BaseException) -> bool:
    """Ctrl-C, wherever it surfaced: libraries that catch SIGINT re-raise it as their own error (Dagster as
    DagsterExecutionInterruptedError, DuckDB 2 as a plain RuntimeError('Query interrupted')), maybe wrapped again."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyboardInterrupt) or type(error).__name__ in ("DagsterExecutionInterruptedError", "InterruptException"):
            return True
        if isinstance(error, RuntimeError) and str(error).strip() == "Query interrupted":
            return True
        error = getattr(error, "user_exception", None) or error.__cause__ or error.__context__
    return False
