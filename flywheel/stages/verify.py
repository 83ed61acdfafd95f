"""verify: one verdict per (sample, verifier), judged in shards (flywheel.verification.shards) and merged."""

from __future__ import annotations

import pyarrow.parquet as pq
from tqdm import tqdm
from flywheel.round import views
from flywheel.config import RoundConfig
from flywheel.records.files import write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.round.registry import Input, Shards
from flywheel.round.runs import stage, verifier_files
from flywheel.store.database import Store
from flywheel.verification.shards import merge_verdicts, part_path, part_seconds, round_key, verify_shard


# Verification fans out: one shard per prompt-id hash (verifiers.shards), each writing its own Parquet part
# and holding no DuckDB connection, so Dagster runs them side by side (processes under the multiprocess
# executor, pods under k8s_job_executor) and retries a failed one alone. The stage itself is the merge:
# it keeps every current part, redoes any missing one, and writes DuckDB.
def _describe_shard(shard: int, result: dict) -> str:
    kept = " (kept from an earlier run)" if result["reused"] else \
        f" ({result['chunks_verified']} chunk(s) judged, {result['chunks_kept']} kept from an earlier run)"
    return f"shard {shard}: {result['n_verdicts']} verdicts{kept}"


@stage("verify", "verdicts", "One verdict per (sample, verifier) from the plugin verifiers, verified in shards.",
       inputs=(Input("generate"),), sections=("verifiers", "sandbox"), files=lambda c, r: verifier_files(c),
       resources=("sandbox",), views=lambda c, r, db, result: {"verifier_errors": views.verifier_errors(db, r)},
       shards=Shards(count=lambda c: c.verifiers.shards, run=verify_shard, describe=_describe_shard))
def verify(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Judge the round's samples shard by shard and chunk by chunk (parts and chunks that are still
    current are kept) and merge them into the stage's output, in Arrow throughout."""
    paths = RoundPaths(config.workdir, round_number)
    n_shards = config.verifiers.shards
    key = round_key(config, round_number)
    with tqdm(total=pq.read_metadata(paths.samples).num_rows if paths.samples.exists() else None,
              desc=f"round {round_number} verify", unit="sample", disable=None, leave=False) as bar:
        ran_before = [shard for shard in range(n_shards)  # by Dagster's shard steps, or a run that was killed
                      if verify_shard(config, round_number, shard, n_shards, key, progress=bar.update)["reused"]]
    seconds = [part_seconds(part_path(config, round_number, shard, n_shards)) for shard in range(n_shards)]
    parts = {name: sum(s[name] for s in seconds) for name in ("start", "stop")}
    verdicts = merge_verdicts(config, round_number, n_shards)
    write_parquet_atomic(verdicts, paths.verdicts)
    store.attach_parquet("verdicts", round_number, paths.verdicts)
    per_verifier = verdicts.group_by(["verifier", "status", "passed"]).aggregate([([], "count_all")]).to_pylist()
    return {"n_verdicts": verdicts.num_rows,
            "by_verifier": {f"{r['verifier']}/{r['status']}/{'pass' if r['passed'] else 'fail'}": r["count_all"]
                            for r in per_verifier},
            "parts": parts, "shard_seconds": sum(seconds[shard]["seconds"] for shard in ran_before)}
