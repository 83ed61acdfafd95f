"""A step's stdout and stderr, captured to the workdir instance's files and mirrored to the console by a thread.

Dagster's LocalComputeLogManager mirrors each captured stream with `tail -F` plus a Python watcher
process: four child processes per step, started and stopped for every stage of every round. A Ctrl-C
at the terminal reaches them too, and the watchers printed two KeyboardInterrupt tracebacks after
flywheel run's last line ("interrupted; rerun to resume"). Here the mirror is a thread of the run's own
process, which a Ctrl-C does not interrupt; the files, their layout and what the UI reads are
LocalComputeLogManager's own, so the UI (which opens the instance with the stock manager) shows them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence

from dagster._core.execution.compute_logs import redirect_to_file
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager
from dagster._utils import ensure_file, touch_file

POLL_SECONDS = 0.1


class MirroredComputeLogManager(LocalComputeLogManager):
    """LocalComputeLogManager whose console mirror is a thread, not `tail -F` and a watcher per stream."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> MirroredComputeLogManager:
        return cls(inst_data=inst_data, **config_value)

    @contextlib.contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Iterator[CapturedLogContext]:
        out = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        err = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        with _mirrored(sys.stdout, out), _mirrored(sys.stderr, err):
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))  # the capture is complete, as the stock manager marks it


@contextlib.contextmanager
def _mirrored(stream, path: str) -> Iterator[None]:
    """``stream``'s file descriptor goes to ``path`` for the block; a thread copies what lands there to where the
    descriptor pointed before, and copies the rest once the block ends (the block's last line is not lost)."""
    ensure_file(path)
    try:
        target = os.dup(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor (a captured stream): capture without a mirror
        with redirect_to_file(stream, path):
            yield
        return
    done = threading.Event()
    copier = threading.Thread(target=_copy, args=(path, target, done), name=f"mirror {os.path.basename(path)}",
                              daemon=True)
    copier.start()
    try:
        with redirect_to_file(stream, path):
            yield
    finally:
        done.set()
        copier.join()
        os.close(target)


def _copy(path: str, target: int, done: threading.Event) -> None:
    with open(path, "rb") as source:
        while True:
            finished = done.is_set()  # read once more after the block ended: what it wrote last
            chunk = source.read(1 << 16)
            while chunk:
                try:
                    os.write(target, chunk)
                except OSError:  # the console went away (a closed pipe): the file still has everything
                    return
                chunk = source.read(1 << 16)
            if finished:
                return
            done.wait(POLL_SECONDS)
