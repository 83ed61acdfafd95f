"""The stages of a round, each declared once: what it reads, what it writes, and how it runs.

A stage is its run function plus one ``Stage`` entry, made by decorating the function with
``@stage(...)`` (flywheel.round.runs, which adds a run's bookkeeping). Everything that used to repeat the graph is derived from the entries:

- flywheel.round.lineage: a stage's upstream (stage, round) pairs, config sections and external
  files, so its lineage key and freshness;
- the bookkeeping of a run (flywheel.round.runs.run_recorded): the workdir lock, the stale
  input check, the ``stage_runs`` row, the marker and the stage log;
- dagster_project.assets: one asset per stage, its deps (the same-round inputs), its
  resources, description, checks and markdown views, and the ``round_zero`` job (stages
  whose ``in_round_zero`` says so).

Adding a stage is one decorated function in a module listed in ``_STAGE_MODULES`` (or any
module imported before the Dagster definitions load). This module never imports the stages
themselves, nor the bookkeeping, at load time: ``all_stages`` imports the stage modules, so
lineage can import this module without a cycle.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flywheel.config import RoundConfig

_STAGE_MODULES = tuple(f"flywheel.stages.{name}" for name in (  # imported by all_stages, in this order
    "collect", "generate", "verify", "select", "decontaminate", "mix", "sft", "dpo", "evaluate", "diversity",
    "round_metrics", "quality", "pairs"))


def always(config: RoundConfig, round_number: int) -> bool:
    return True


def seed_round_only(seed_round: bool) -> bool:
    """An ``in_round_zero`` rule: round 0 runs the stage only when it is a seed SFT round."""
    return seed_round


@dataclass(frozen=True)
class Input:
    """A stage's read of another stage's output, ``offset`` rounds back (0: the same round), when ``when`` holds."""

    stage: str
    offset: int = 0
    when: Callable[[RoundConfig, int], bool] = always


@dataclass(frozen=True)
class Image:
    """A PNG a stage's view shows inline (a plain ``Path`` in a view is shown as a path), titled ``alt``."""

    path: Path
    alt: str = ""


@dataclass(frozen=True)
class Check:
    """A check on a stage's output: ``run(config, round, store, result) -> (passed, metadata)``; Dagster shows
    it as an asset check (``warn``: a failure is a warning, not an error)."""

    name: str
    description: str
    run: Callable
    warn: bool = False


@dataclass(frozen=True)
class Shards:
    """A stage whose work splits into ``count(config)`` independent shards: Dagster runs
    ``run(config, round, shard, count)`` once per shard (side by side, each retried alone) before the stage
    itself, which then merges them. ``describe(shard, result)`` is the shard's log line."""

    count: Callable[[RoundConfig], int]
    run: Callable
    describe: Callable[[int, dict], str] = lambda shard, result: f"shard {shard} done"


@dataclass(frozen=True)
class Stage:
    """One stage of a round. ``run(config, round, store, **resources) -> dict`` is the decorated function,
    with the bookkeeping of flywheel.round.runs around it."""

    name: str  # the stage, as lineage, stage_runs and the stage log name it
    output: str  # the Dagster asset, named for what the stage writes
    run: Callable
    description: str
    inputs: tuple[Input, ...] = ()
    sections: tuple[str, ...] = ()  # the config sections whose values are part of its lineage key
    files: Callable[[RoundConfig, int], list[Path]] = lambda config, round_number: []  # external files it reads
    in_round_zero: Callable[[bool], bool] = lambda seed_round: False  # whether round 0 runs it, given seed_round
    resources: tuple[str, ...] = ()  # what the stage needs from its runner, by name (see dagster_project.assets)
    before: Callable[[RoundConfig], None] | None = None  # Dagster runs it before the stage (the preflight)
    views: Callable | None = None  # (config, round, store, result) -> {name: markdown, Image or Path} for the UI
    checks: tuple[Check, ...] = ()
    shards: Shards | None = None
    # True for a stage that may run while round N's evaluation keeps its generator up for round N+1's generation
    # (flywheel.generation.kept): the generation itself, and stages that put nothing big on the device. Any other
    # stage stops the kept generator before it starts.
    beside_kept_generator: bool = False
    extra: dict = field(default_factory=dict)

    def upstream(self, config: RoundConfig, round_number: int) -> list[tuple[str, int]]:
        return [(i.stage, round_number - i.offset) for i in self.inputs if i.when(config, round_number)]

    def same_round_inputs(self) -> list[str]:
        """The stages whose output this one reads in its own round: its Dagster deps."""
        return [i.stage for i in self.inputs if i.offset == 0]


_REGISTRY: dict[str, Stage] = {}


def register(entry: Stage) -> Stage:
    """Add ``entry``; a name or output already taken by another stage is refused."""
    for other in _REGISTRY.values():
        if other.name != entry.name and other.output == entry.output:
            raise ValueError(f"stage {entry.name!r}: output {entry.output!r} is already stage {other.name!r}'s")
    for read in entry.inputs:
        if read.offset < 0:
            raise ValueError(f"stage {entry.name!r}: input {read.stage!r} reads a later round (offset {read.offset})")
    _REGISTRY[entry.name] = entry
    return entry


@contextlib.contextmanager
def registered(entry: Stage) -> Iterator[Stage]:
    """``entry`` registered for the block only (a test's toy stage, a plugin tried out)."""
    all_stages()
    before = dict(_REGISTRY)
    register(entry)
    try:
        yield entry
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(before)


def all_stages() -> list[Stage]:
    """Every registered stage, upstream before downstream (same-round inputs first, then declaration order)."""
    for module in _STAGE_MODULES:
        importlib.import_module(module)
    ordered: list[Stage] = []
    placed: set[str] = set()
    # Declaration order, whichever module was imported first: the modules' order above, then any other (a plugin,
    # a test's toy stage) in the order it registered.
    sequence = {name: position for position, name in enumerate(_REGISTRY)}
    pending = sorted(_REGISTRY.values(), key=lambda s: (_module_rank(s), sequence[s.name]))
    while pending:
        ready = next((s for s in pending if all(d in placed or d not in _REGISTRY for d in s.same_round_inputs())),
                     None)
        if ready is None:
            raise ValueError(f"the stages {[s.name for s in pending]} read each other in one round: no order runs them")
        ordered.append(ready)
        placed.add(ready.name)
        pending.remove(ready)
    return ordered


def _module_rank(entry: Stage) -> int:
    module = getattr(entry.run, "__module__", None)
    return _STAGE_MODULES.index(module) if module in _STAGE_MODULES else len(_STAGE_MODULES)


def get(name: str) -> Stage:
    stages = {s.name: s for s in all_stages()}
    if name not in stages:
        raise KeyError(f"no stage {name!r}; the stages are {', '.join(stages)}")
    return stages[name]


def by_output(output: str) -> Stage:
    return next(s for s in all_stages() if s.output == output)


def stage_names() -> list[str]:
    return [s.name for s in all_stages()]
