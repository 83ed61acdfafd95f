"""The loop, closed: after a round's metrics say "continue", add the next round and run it.

The stopping rule decides in ``round_metrics`` and records why; this sensor only reads
that decision from DuckDB, so the UI, the SQL audit and the loop all agree on it.
"""

from __future__ import annotations

import dagster as dg

from dagster_project.assets import rounds
from dagster_project.location import CONFIG
from dagster_project.resources import DuckDBStore


def next_round(store, existing: set[str]) -> tuple[str | None, str]:
    """(the partition key to add and run, why) or (None, why not)."""
    if not store.path.exists():
        return None, "no round has finished yet"
    _, rows = store.query("SELECT round, stop, stop_reason FROM round_metrics ORDER BY round DESC LIMIT 1")
    if not rows:
        return None, "no round has finished yet"
    latest, stop, reason = rows[0]
    if stop:
        return None, f"the stopping rule ended the loop after round {latest}: {reason}"
    key = str(latest + 1)
    if key in existing:
        return None, f"round {key} was already added"
    return key, f"round {latest} says {reason}"


@dg.sensor(job_name="round", minimum_interval_seconds=CONFIG.stopping.loop_interval_seconds, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Adds the next round's partition and runs it while the stopping rule says continue.")
def next_round_sensor(context: dg.SensorEvaluationContext, store: DuckDBStore):
    key, why = next_round(store.get(), set(context.instance.get_dynamic_partitions(rounds.name)))
    if key is None:
        return dg.SkipReason(why)
    context.log.info(f"starting round {key}: {why}")
    return dg.SensorResult(run_requests=[dg.RunRequest(partition_key=key, run_key=f"round-{key}", tags={"reason": why[:200]})],
                           dynamic_partitions_requests=[rounds.build_add_request([key])])
