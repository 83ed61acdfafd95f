"""collect: the round's prompts, from the configured sources, after the preflight."""

from __future__ import annotations

import json
from collections import Counter
from flywheel.prompts.formats import collect_prompts
from flywheel.config import RoundConfig
from flywheel.records.files import write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import (
    prompts_to_table,
)
from flywheel.round.runs import stage, verifiers_by_domain
from flywheel.store.database import Store
from flywheel.preflight import require_preflight


@stage("collect", "prompts", "Prompts collected from the configured sources, after the preflight (flywheel check) "
       "found nothing that would stop the round later.",
       sections=("prompts",), files=lambda c, r: [s.path for s in c.prompts.sources if s.path],  # hub: its cache
       before=require_preflight,  # the round's first step: a typo fails here, not after generation
       beside_kept_generator=True)
def collect(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    checked = {domain for domain, names in verifiers_by_domain(config).items()
               if {"math", "unit_tests"} & set(names)}  # checkers that need a reference answer or tests
    prompts = collect_prompts(config.prompts.sources, config.prompts.max_prompts,
                              allow_empty=config.prompts.allow_empty, needs_reference=checked)
    write_parquet_atomic(prompts_to_table(prompts), paths.prompts)
    store.replace_round("prompts", round_number, [
        {**p.model_dump(exclude={"messages", "response"}), "messages": json.dumps([m.model_dump() for m in p.messages])}
        for p in prompts])
    return {"n_prompts": len(prompts), "by_domain": dict(Counter(p.domain for p in prompts))}
