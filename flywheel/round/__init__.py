"""The round machinery: the stage registry, a stage run's bookkeeping, lineage, the round's folder layout, the workdir lock, the stopping rule, and what Dagster shows of a stage."""
