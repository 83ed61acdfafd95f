"""What every stage shares: the verifier lists per domain, and a record of each stage's run.

``run_recorded`` writes one ``stage_runs`` row per stage call (wall time and the tokens the
stage reports), so the ``stage_costs`` view answers "where did this round's time go".
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from flywheel.round import lineage
from flywheel.round.registry import Stage, register
from flywheel.config import RoundConfig
from flywheel.generation import kept
from flywheel.round.lock import workdir_lock

STAGE_LOCK_WAIT_SECONDS = 600.0  # a stage started beside another run's stage waits this long for it


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def verifiers_by_domain(config: RoundConfig) -> dict[str, list[str]]:
    return {domain: config.verifiers.for_domain(domain) for domain in ("math", "code", "general")}


def checkers_by_domain(config: RoundConfig) -> dict[str, list[str]]:
    """Verifiers that say right or wrong: the reward model ranks, so held-out pass rates leave it out."""
    reward = config.selection.reward_verifier
    return {d: [v for v in names if v != reward] for d, names in verifiers_by_domain(config).items()}


def verifier_files(config: RoundConfig) -> list[Path]:
    """Files the verifiers' options name (``path``: a reward model, a rubric): the stages that verify read them."""
    return [Path(o["path"]) for o in config.verifiers.options.values() if isinstance(o.get("path"), str)]


@contextlib.contextmanager
def timed(parts: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall seconds to ``parts[name]`` (a stage's ``start`` or ``stop``), failed or not."""
    started = time.perf_counter()
    try:
        yield
    finally:
        parts[name] = parts.get(name, 0.0) + time.perf_counter() - started


def run_recorded(stage: str, fn, beside_kept_generator: bool = False):
    """``fn(config, round_number, store, ...) -> dict`` with a stage run's bookkeeping around it (the
    registry's ``@stage`` applies it); a ``tokens`` key in the result is recorded.

    The recorded ``seconds`` cover everything the stage did: its call, plus ``shard_seconds`` from the result
    (the seconds its shards spent before the call, each counted, side by side or not). A result's ``parts``
    (``start``: engines, servers and verifiers brought up; ``stop``: brought down) are recorded beside it, and
    ``work_seconds`` is the rest, so the three add up to ``seconds``.

    The stage runs holding the workdir's lock (flywheel.round.lock), waiting a while for another holder;
    it refuses stale inputs and records what it consumed (flywheel.round.lineage), then its ``stage_runs`` row, whose
    ``runs`` counts the finished runs of the stage in this round. Unless the stage
    may run ``beside_kept_generator``, a generator kept for the next round's generation is stopped first.
    """

    @functools.wraps(fn)
    def run(config, round_number, store, *args, **kwargs):
        if not beside_kept_generator:
            kept.release()  # the device is this stage's
        with workdir_lock(config.workdir, wait_seconds=STAGE_LOCK_WAIT_SECONDS):
            lineage.check_inputs(config, round_number, stage)
            finished_before = lineage.read_marker(config, round_number, stage) is not None
            lineage.forget(config, round_number, stage)  # a crash from here on leaves it unfinished
            started_at, started = utc_now(), time.perf_counter()
            result = fn(config, round_number, store, *args, **kwargs)
            seconds = time.perf_counter() - started + result.get("shard_seconds", 0.0)
            # the row before the marker, so a stage the marker calls finished always has its row (a kill between
            # the two reruns the stage, and its row is replaced); runs counts the earlier run only if it finished
            _record_run(store, round_number, stage, started_at, seconds, result, finished_before)
            result["lineage_key"] = lineage.record(config, round_number, stage)
        return_freed_memory()
        return result

    return run


def return_freed_memory() -> None:
    """Hand what this process freed back to the system: ``flywheel run`` and the demo run every stage in one
    process, and the allocators keep what a stage freed (Arrow's memory pool, glibc's heap), so each stage would
    start on the peak of the ones before it. No ``gc.collect()`` here: a Ctrl-C landing in a weakref callback it
    runs (SQLAlchemy's) is printed as an ignored exception's traceback after the one clean line."""
    with contextlib.suppress(ImportError):
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _record_run(store, round_number: int, stage: str, started_at: datetime, seconds: float, result: dict,
                finished_before: bool) -> None:
    """The stage's ``stage_runs`` row: its times, tokens and the checkpoint it read or wrote (``rounds`` derives
    from these rows), and ``runs``, how many times the stage finished for this round, this run included, so an
    audit sees a stage that ran twice. An earlier row counts only if that run ``finished_before`` (its marker was
    there when this run started): a run killed after its row and before its marker did not finish."""
    parts = result.get("parts") or {}
    with store.writer() as connection:  # the writer: it brings a store from before ``runs`` up to date first
        previous = connection.execute("SELECT coalesce(runs, 1) FROM stage_runs WHERE round = ? AND stage = ?",
                                      [round_number, stage]).fetchall()
    store.replace_round("stage_runs", round_number, [{
        "stage": stage, "started_at": started_at, "finished_at": utc_now(), "seconds": seconds,
        "tokens": result.get("tokens"), "start_seconds": parts.get("start"), "stop_seconds": parts.get("stop"),
        "work_seconds": seconds - parts.get("start", 0.0) - parts.get("stop", 0.0),
        "runs": (previous[0][0] if previous and finished_before else 0) + 1,
        "checkpoint": str(result["checkpoint"]) if result.get("checkpoint") else None}], where={"stage": stage})


def stage(name: str, output: str, description: str, **declared):
    """Declare the decorated function as a stage (flywheel.round.registry.Stage has the fields); it is
    registered, and returned, with a run's bookkeeping around it (``run_recorded``)."""

    def decorate(fn):
        entry = Stage(name=name, output=output, run=fn, description=description, **declared)
        wrapped = run_recorded(name, fn, entry.beside_kept_generator)  # the entry's field, its default included
        register(dataclasses.replace(entry, run=wrapped))
        return wrapped

    return decorate
