"""The stages of a round, one module each, from collection to evaluation.

A stage is a function ``(config, round, store, ...) -> dict`` with its ``@stage`` declaration
(flywheel.round.registry) above it: what it reads (other stages, config sections, files), what
Dagster shows of it, and what it does in round 0. It reads its upstream stages' files
(flywheel.round.layout), writes its own atomically, replaces its rows in DuckDB for that round
and returns a small dict of metadata. Dagster's assets are derived from the declarations, and
tests call the functions directly. The work itself is the library's: flywheel.prompts,
flywheel.verification, flywheel.curation, flywheel.measures, flywheel.sft.
"""
