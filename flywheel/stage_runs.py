"""What every stage shares: the verifier lists per domain, and a record of each stage's run.

``recorded`` writes one ``stage_runs`` row per stage call (wall time and the tokens the
stage reports), so the ``stage_costs`` view answers "where did this round's time go".
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone

from flywheel.config import RoundConfig
from flywheel.workdir_lock import workdir_lock

STAGE_LOCK_WAIT_SECONDS = 600.0  # a stage started beside another run's stage waits this long for it


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def verifiers_by_domain(config: RoundConfig) -> dict[str, list[str]]:
    return {domain: config.verifiers.for_domain(domain) for domain in ("math", "code", "general")}


def checkers_by_domain(config: RoundConfig) -> dict[str, list[str]]:
    """Verifiers that say right or wrong: the reward model ranks, so held-out pass rates leave it out."""
    reward = config.selection.reward_verifier
    return {d: [v for v in names if v != reward] for d, names in verifiers_by_domain(config).items()}


def recorded(stage: str):
    """Decorate ``fn(config, round_number, store, ...) -> dict``; a ``tokens`` key in the result is recorded.

    The stage runs holding the workdir's lock (flywheel.workdir_lock), waiting a while for another holder.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def run(config, round_number, store, *args, **kwargs):
            with workdir_lock(config.workdir, wait_seconds=STAGE_LOCK_WAIT_SECONDS):
                started_at, started = utc_now(), time.perf_counter()
                result = fn(config, round_number, store, *args, **kwargs)
                seconds = time.perf_counter() - started
                store.replace_round("stage_runs", round_number, [{
                    "stage": stage, "started_at": started_at, "finished_at": utc_now(), "seconds": seconds,
                    "tokens": result.get("tokens")}], where={"stage": stage})
                return result

        return run

    return decorate
