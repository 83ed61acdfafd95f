"""One asset per stage of a round, partitioned by round. Each is a thin wrapper over flywheel.stages.

Round N's generation reads round N-1's checkpoint through the workdir layout
(flywheel.io.generation_checkpoint): dynamic partitions cannot depend on their own
previous partition. Every asset writes DuckDB, so all sit in the ``duckdb`` pool.
"""


import base64

import dagster as dg

from dagster_project.k8s import op_tags
from dagster_project.location import CONFIG
from dagster_project.resources import DuckDBStore, FlywheelConfig, GeneratorResource, SandboxResource
from flywheel import stage_views as views
from flywheel import shards, stages
from flywheel.preflight import require_preflight
from flywheel.report import write_report
from flywheel.round_audit import previous_eval_pass_at_1

rounds = dg.DynamicPartitionsDefinition(name="round")
COMMON = {"partitions_def": rounds, "group_name": "round", "pool": "duckdb"}


def _stage(name: str) -> dict:
    """The settings every stage asset shares, plus its Kubernetes pod (dagster_project.k8s)."""
    return {**COMMON, "op_tags": op_tags(CONFIG, name)}


def _round(context: dg.AssetExecutionContext) -> int:
    return int(context.partition_key)


def _meta(values: dict) -> dict:
    return {key: dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value
            for key, value in values.items() if value is not None and key != "lineage_key"}


def _with_views(values: dict, metadata: dict | None = None, views: dict | None = None) -> dict:
    """The stage's metadata, plus its markdown views."""
    metadata = dict(metadata if metadata is not None else _meta(values))
    metadata.update({name: dg.MetadataValue.md(text) for name, text in (views or {}).items() if text})
    return metadata


def _done(values: dict, metadata: dict | None = None, views: dict | None = None, **kwargs) -> dg.MaterializeResult:
    """The stage's metadata and markdown views, with its lineage key as the data version (a changed upstream
    then shows its downstream stale)."""
    return dg.MaterializeResult(metadata=_with_views(values, metadata, views),
                                data_version=dg.DataVersion(values["lineage_key"]), **kwargs)


def _image(path) -> str | None:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})" if path else None


@dg.asset(**_stage("prompts"), description="Prompts collected from the configured sources, after the preflight "
          "(flywheel check) found nothing that would stop the round later.")
def prompts(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore) -> dg.MaterializeResult:
    config = flywheel.load()
    require_preflight(config)  # the round's first step: a typo fails here, not after generation
    return _done(stages.collect(config, _round(context), store.get()))


@dg.asset(**_stage("samples"), deps=[prompts], description="N samples per prompt from round N-1's checkpoint.")
def samples(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore,
            generator: GeneratorResource) -> dg.MaterializeResult:
    return _done(stages.generate(flywheel.load(), _round(context), store.get(), generator.for_checkpoint))


# Verification fans out: one op per shard (verifiers.shards, by prompt-id hash), each writing its own
# Parquet part and holding no DuckDB connection, so the executor runs them side by side (processes under
# the multiprocess executor, pods under k8s_job_executor) and retries a failed one alone. The merge is the
# verify stage itself: it keeps every current part, redoes any missing one, and writes DuckDB.
@dg.op(out=dg.DynamicOut(int), ins={"samples": dg.In(dg.Nothing)}, tags=op_tags(CONFIG, "verdicts"))
def plan_verify_shards(context: dg.OpExecutionContext, flywheel: FlywheelConfig):
    for shard in range(flywheel.load().verifiers.shards):
        yield dg.DynamicOutput(shard, mapping_key=f"shard_{shard}")


@dg.op(retry_policy=dg.RetryPolicy(max_retries=2, delay=1.0), tags=op_tags(CONFIG, "verdicts"))
def verify_one_shard(context: dg.OpExecutionContext, flywheel: FlywheelConfig, sandbox: SandboxResource,
                     shard: int) -> int:
    config = flywheel.load()
    result = shards.verify_shard(config, int(context.partition_key), shard, config.verifiers.shards)
    kept = " (kept from an earlier run)" if result["reused"] else \
        f" ({result['chunks_verified']} chunk(s) judged, {result['chunks_kept']} kept from an earlier run)"
    context.log.info(f"shard {shard}: {result['n_verdicts']} verdicts{kept}")
    return shard


@dg.op(pool="duckdb", out=dg.Out(dg.Nothing), tags=op_tags(CONFIG, "verdicts"))
def merge_verify_shards(context: dg.OpExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore,
                        done: list[int]):
    round_number = int(context.partition_key)
    result = stages.verify(flywheel.load(), round_number, store.get())
    metadata = _with_views(result, views={"verifier_errors": views.verifier_errors(store.get(), round_number)})
    yield dg.Output(None, metadata=metadata, data_version=dg.DataVersion(result["lineage_key"]))


@dg.graph_asset(partitions_def=rounds, group_name="round", ins={"samples": dg.AssetIn(dagster_type=dg.Nothing)},
                description="One verdict per (sample, verifier) from the plugin verifiers, verified in shards.")
def verdicts(samples):
    return merge_verify_shards(plan_verify_shards(samples).map(verify_one_shard).collect())


@dg.asset(**_stage("selected"), deps=[verdicts], description="Best passing samples per prompt, pooled with earlier rounds.")
def selected(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore) -> dg.MaterializeResult:
    result = stages.select(flywheel.load(), _round(context), store.get())
    return _done(result, views={"examples": views.sample_examples(store.get(), _round(context))})


@dg.asset(**_stage("decontaminated"), deps=[selected], description="Training candidates with eval-set n-gram overlaps removed.",
          check_specs=[dg.AssetCheckSpec("no_overlap_left", asset="decontaminated",
                                         description="An independent re-scan finds no contamination left.")])
def decontaminated(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore):
    config, round_number = flywheel.load(), _round(context)
    result = stages.decontaminate_round(config, round_number, store.get())
    left = stages.remaining_contamination(config, round_number)
    check = dg.AssetCheckResult(check_name="no_overlap_left", passed=not left,
                                metadata={"remaining_hits": len(left)})
    hits = views.top_decontamination_hits(store.get(), round_number)
    return _done(result, views={"top_hits": hits}, check_results=[check])


@dg.asset(**_stage("mixture"), deps=[decontaminated], description="The weighted training mixture.")
def mixture(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore) -> dg.MaterializeResult:
    return _done(stages.mix(flywheel.load(), _round(context), store.get()))


@dg.asset(**_stage("checkpoint"), deps=[mixture], description="The round's SFT checkpoint (DeepSpeed), a Hugging Face folder.",
          check_specs=[dg.AssetCheckSpec("checkpoint_loads", asset="checkpoint",
                                         description="The checkpoint loads with transformers and runs a forward pass.")])
def checkpoint(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore):
    result = stages.sft(flywheel.load(), _round(context), store.get(), echo=context.log.info)
    loads, error = stages.checkpoint_loads(result["checkpoint"])
    check = dg.AssetCheckResult(check_name="checkpoint_loads", passed=loads, metadata={"error": error})
    config, round_number = flywheel.load(), _round(context)
    curve = views.loss_curve(store.get(), round_number, config.workdir / "rounds" / str(round_number) / "loss.png")
    return _done(result, views={"loss_curve": _image(curve)}, check_results=[check])


@dg.asset(**_stage("evaluation"), deps=[checkpoint],
          description="Held-out pass@1/pass@k per domain and the train/test gap. Partition 0 scores the starting model.",
          check_specs=[dg.AssetCheckSpec("no_eval_regression", asset="evaluation",
                                         description="Held-out pass@1 is not below the previous round's.")])
def evaluation(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore,
               generator: GeneratorResource, sandbox: SandboxResource):
    round_number, db = _round(context), store.get()
    result = stages.evaluate(flywheel.load(), round_number, db, generator.for_checkpoint)
    now, before = result["pass_at_1/all"], previous_eval_pass_at_1(db, round_number)
    check = dg.AssetCheckResult(check_name="no_eval_regression", passed=before is None or now >= before,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"pass_at_1": now, "previous_pass_at_1": before if before is not None else "none"})
    return _done(result, views={"pass_at_1_by_domain": views.pass_at_1_by_domain(db, round_number)},
                 check_results=[check])


@dg.asset(**_stage("diversity"), deps=[selected, evaluation],
          description="Diversity of accepted and evaluation samples: distinct-n, self-BLEU, gzip, embedding Vendi.")
def diversity(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore) -> dg.MaterializeResult:
    return _done(stages.measure_diversity(flywheel.load(), _round(context), store.get()))


@dg.asset(**_stage("round_metrics"), deps=[evaluation, diversity], description="Round-over-round metrics and the stopping decision.")
def round_metrics(context: dg.AssetExecutionContext, flywheel: FlywheelConfig, store: DuckDBStore) -> dg.MaterializeResult:
    config = flywheel.load()
    row = stages.round_metrics(config, _round(context), store.get())
    _, chart = write_report(config.workdir)
    metadata = _meta(row)
    metadata["stop_reason"] = dg.MetadataValue.md(f"**{'STOP' if row['stop'] else 'CONTINUE'}**: {row['stop_reason']}")
    metadata["chart"] = dg.MetadataValue.md(f"![round over round](data:image/png;base64,"
                                            f"{base64.b64encode(chart.read_bytes()).decode()})")
    metadata["chart_path"] = dg.MetadataValue.path(str(chart))
    metadata["duckdb_path"] = dg.MetadataValue.path(str(store.get().path))  # flywheel launch prints the table from it
    return _done(row, metadata)


ROUND_ASSETS = [prompts, samples, verdicts, selected, decontaminated, mixture, checkpoint, evaluation, diversity,
                round_metrics]


def round_zero_assets(seed_round: bool) -> list:
    """Round 0: the seed SFT round (decontaminate and mix the seed data, train, evaluate) or just
    the evaluation of the base model."""
    names = ["decontaminated", "mixture", "checkpoint", "evaluation", "diversity"] if seed_round else ["evaluation"]
    return [a for a in ROUND_ASSETS if a.key.to_user_string() in names]


def round_jobs(seed_round: bool, executor_def=None) -> list:
    """The ``round`` and ``round_zero`` jobs, declared once for the code location and the in-process demo."""
    return [dg.define_asset_job("round", selection=dg.AssetSelection.assets(*ROUND_ASSETS), executor_def=executor_def,
                                description="Materialize every stage of one round."),
            dg.define_asset_job("round_zero", selection=dg.AssetSelection.assets(*round_zero_assets(seed_round)),
                                executor_def=executor_def, description="Round 0: the seed SFT round, or the base "
                                "model's evaluation (run it before round 1).")]
