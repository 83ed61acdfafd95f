"""One asset per stage of a round, partitioned by round, derived from the stage registry.

Each stage's declaration (flywheel.round.registry, above its function in its module of
flywheel.stages) gives its asset's name, deps (the stages it reads in its own
round), description, resources, asset checks and markdown views; this module turns them
into Dagster definitions and adds nothing of its own.

Round N's generation reads round N-1's checkpoint through the workdir layout
(flywheel.round.layout.generation_checkpoint): dynamic partitions cannot depend on their own
previous partition. Every asset writes DuckDB, so all sit in the ``duckdb`` pool.
"""


import base64
import inspect
from pathlib import Path

import dagster as dg

from dagster_project.k8s import op_tags
from dagster_project.location import CONFIG
from flywheel.round import registry as stage_registry
from flywheel.round.registry import Image, Stage

rounds = dg.DynamicPartitionsDefinition(name="round")
COMMON = {"partitions_def": rounds, "group_name": "round", "pool": "duckdb"}


def _stage(name: str) -> dict:
    """The settings every stage asset shares, plus its Kubernetes pod (dagster_project.k8s)."""
    return {**COMMON, "op_tags": op_tags(CONFIG, name)}


def _meta(values: dict) -> dict:
    return {key: dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value
            for key, value in values.items() if value is not None and key != "lineage_key"}


def _view(value):
    if isinstance(value, Image):
        return dg.MetadataValue.md(f"![{value.alt or value.path.stem}](data:image/png;base64,"
                                   f"{base64.b64encode(value.path.read_bytes()).decode()})")
    return dg.MetadataValue.path(str(value)) if isinstance(value, Path) else dg.MetadataValue.md(value)


def _metadata(stage: Stage, config, round_number: int, db, result: dict) -> dict:
    metadata = _meta(result)
    shown = stage.views(config, round_number, db, result) if stage.views else {}
    metadata.update({name: _view(value) for name, value in shown.items() if value})
    return metadata


# What a stage's named resource hands its run function: (keyword, value from the op's context), or None when
# the resource only has to be up (the sandbox is checked at run start; the config carries its settings).
RESOURCE_ARGUMENTS = {
    "generator": ("make_generator", lambda context: context.resources.generator.for_checkpoint),
    "log": ("echo", lambda context: context.log.info),
    "sandbox": None,
}
_RESOURCE_KEYS = {"generator": {"generator"}, "sandbox": {"sandbox"}, "log": set()}


def _resource_keys(stage: Stage) -> set[str]:
    unknown = [name for name in stage.resources if name not in RESOURCE_ARGUMENTS]
    if unknown:
        raise ValueError(f"stage {stage.name!r} asks for resource(s) {unknown}; known: {sorted(RESOURCE_ARGUMENTS)}")
    return {"flywheel", "store"}.union(*(_RESOURCE_KEYS[name] for name in stage.resources))


def _run_stage(stage: Stage, context) -> tuple[dict, dict, list]:
    """Run the stage for the context's round: (result, metadata, check results)."""
    config, round_number, db = context.resources.flywheel.load(), int(context.partition_key), context.resources.store.get()
    if stage.before:
        stage.before(config)
    arguments = dict(RESOURCE_ARGUMENTS[name] for name in stage.resources if RESOURCE_ARGUMENTS[name])
    result = stage.run(config, round_number, db, **{key: make(context) for key, make in arguments.items()})
    checks = []
    for check in stage.checks:
        passed, values = check.run(config, round_number, db, result)
        checks.append(dg.AssetCheckResult(check_name=check.name, passed=passed, metadata=values,
                                          severity=dg.AssetCheckSeverity.WARN if check.warn
                                          else dg.AssetCheckSeverity.ERROR))
    return result, _metadata(stage, config, round_number, db, result), checks


NOT_RUN_IN_ROUND_ZERO = "not run in round 0"  # the metadata key of a partition 0 that round 0 vouches for


def round_zero_vouches(stage: Stage, seed_round: bool) -> tuple[list[str], list[str]]:
    """The outputs round 0 does not make that this round-0 stage reports as done for partition 0, so the asset
    graph after a round reads as done (Dagster has no "not applicable" partition state): (before its own
    materialization, after it). Each round-0 stage reports those between the previous round-0 stage and itself,
    the last one also those after it; upstream reports come first, so nothing reads as stale."""
    stages = stage_registry.all_stages()
    ran = [s.name for s in stages if s.in_round_zero(seed_round)]
    if stage.name not in ran:
        return [], []
    names = [s.name for s in stages]
    index = names.index(stage.name)
    previous = max((names.index(name) for name in ran if names.index(name) < index), default=-1)
    before = [s.output for s in stages[previous + 1:index]]
    after = [s.output for s in stages[index + 1:]] if stage.name == ran[-1] else []
    return before, after


def _not_run(outputs: list[str], seed_round: bool):
    why = ("round 0 is the seed SFT round: it trains on the seed files" if seed_round
           else "round 0 evaluates the base model only")
    for name in outputs:
        yield dg.AssetMaterialization(asset_key=name, partition="0", description=f"{why}; it makes no {name}",
                                      metadata={NOT_RUN_IN_ROUND_ZERO: why})


def stage_asset(stage: Stage, outputs: dict[str, str]):
    """The asset of one registered stage; ``outputs`` maps every stage to its asset (for the deps)."""
    deps = [outputs[name] for name in stage.same_round_inputs() if name in outputs]
    if stage.shards:
        return _sharded_asset(stage, deps)

    @dg.asset(name=stage.output, deps=deps, description=stage.description, required_resource_keys=_resource_keys(stage),
              check_specs=[dg.AssetCheckSpec(c.name, asset=stage.output, description=c.description) for c in stage.checks],
              **_stage(stage.output))
    def materialize_stage(context: dg.AssetExecutionContext):
        result, metadata, checks = _run_stage(stage, context)
        seed_round = context.resources.flywheel.load().seed_round
        before, after = round_zero_vouches(stage, seed_round) if context.partition_key == "0" else ([], [])
        yield from _not_run(before, seed_round)
        yield dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(result["lineage_key"]),
                                   check_results=checks or None)
        yield from _not_run(after, seed_round)

    return materialize_stage


def _sharded_asset(stage: Stage, deps: list[str]):
    """A stage whose shards run as their own ops (a dynamic fan-out), then the stage itself as their merge."""
    if stage.checks:
        raise ValueError(f"stage {stage.name!r}: a sharded stage has no asset checks (its merge is an op)")
    tags, plan = op_tags(CONFIG, stage.output), stage.shards

    @dg.op(name=f"plan_{stage.name}_shards", out=dg.DynamicOut(int), tags=tags, required_resource_keys={"flywheel"},
           ins={dep: dg.In(dg.Nothing) for dep in deps})
    def plan_shards(context: dg.OpExecutionContext):
        for shard in range(plan.count(context.resources.flywheel.load())):
            yield dg.DynamicOutput(shard, mapping_key=f"shard_{shard}")

    @dg.op(name=f"{stage.name}_one_shard", retry_policy=dg.RetryPolicy(max_retries=2, delay=1.0), tags=tags,
           required_resource_keys=_resource_keys(stage) - {"store"})
    def one_shard(context: dg.OpExecutionContext, shard: int) -> int:
        config = context.resources.flywheel.load()
        context.log.info(plan.describe(shard, plan.run(config, int(context.partition_key), shard, plan.count(config))))
        return shard

    @dg.op(name=f"merge_{stage.name}_shards", pool="duckdb", out=dg.Out(dg.Nothing), tags=tags,
           required_resource_keys=_resource_keys(stage))
    def merge_shards(context: dg.OpExecutionContext, done: list[int]):
        result, metadata, _ = _run_stage(stage, context)
        yield dg.Output(None, metadata=metadata, data_version=dg.DataVersion(result["lineage_key"]))

    def sharded(**upstream):
        return merge_shards(plan_shards(**upstream).map(one_shard).collect())

    # Dagster reads a graph's inputs from its compose function's parameters: name them for the deps.
    sharded.__signature__ = inspect.Signature([inspect.Parameter(dep, inspect.Parameter.KEYWORD_ONLY) for dep in deps])
    return dg.graph_asset(sharded, name=stage.output, partitions_def=rounds, group_name="round",
                          description=stage.description, ins={dep: dg.AssetIn(dagster_type=dg.Nothing) for dep in deps})


def build_round_assets(stages: list[Stage]) -> list:
    """One asset per stage, in the registry's order."""
    outputs = {s.name: s.output for s in stages}
    return [stage_asset(s, outputs) for s in stages]


ROUND_ASSETS = build_round_assets(stage_registry.all_stages())


def asset_named(name: str, assets: list | None = None):
    return next(a for a in (assets or ROUND_ASSETS) if a.key.to_user_string() == name)


def round_zero_assets(seed_round: bool, assets: list | None = None) -> list:
    """Round 0: the stages whose declaration runs them there (flywheel.round.registry): the seed SFT round
    (decontaminate and mix the seed data, train, evaluate) or just the evaluation of the base model."""
    names = {s.output for s in stage_registry.all_stages() if s.in_round_zero(seed_round)}
    return [a for a in (assets or ROUND_ASSETS) if a.key.to_user_string() in names]


def round_jobs(seed_round: bool, executor_def=None, assets: list | None = None) -> list:
    """The ``round`` and ``round_zero`` jobs, declared once for the code location and the in-process demo."""
    assets = assets or ROUND_ASSETS
    return [dg.define_asset_job("round", selection=dg.AssetSelection.assets(*assets), executor_def=executor_def,
                                description="Materialize every stage of one round."),
            dg.define_asset_job("round_zero", selection=dg.AssetSelection.assets(*round_zero_assets(seed_round, assets)),
                                executor_def=executor_def, description="Round 0: the seed SFT round, or the base "
                                "model's evaluation (run it before round 1).")]
