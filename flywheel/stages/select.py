"""select: the best passing samples per prompt, pooled with the earlier rounds' pool."""

from __future__ import annotations

from flywheel.round import views
from flywheel.config import RoundConfig
from flywheel.round.layout import RoundPaths
from flywheel.parallel import default_processes
from flywheel.curation.policies import Policy
from flywheel.curation.selection import select_round
from flywheel.round.registry import Input
from flywheel.round.runs import stage, verifiers_by_domain
from flywheel.store.database import Store


@stage("select", "pool", "Best passing samples per prompt, pooled with earlier rounds.",
       inputs=(Input("verify"), Input("select", 1, when=lambda c, r: c.selection.pool_previous_rounds and r > 1)),
       sections=("selection", "verifiers"), views=lambda c, r, db, result: {"examples": views.sample_examples(db, r)})
def select(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Judge and choose per prompt, a chunk of prompts at a time (flywheel.curation.selection), pooled with the
    previous round's pool."""
    paths = RoundPaths(config.workdir, round_number)
    s = config.selection
    previous = RoundPaths(config.workdir, round_number - 1).pool \
        if s.pool_previous_rounds and round_number > 1 else None
    chosen = select_round(paths.prompts, paths.samples, paths.verdicts, previous, paths.pool,
                          verifiers_by_domain(config), Policy.from_config(s, config.verifiers), k=s.k,
                          near_threshold=s.near_duplicate_threshold, scratch=paths.dir / ".select-scratch",
                          processes=default_processes(s.processes))
    store.attach_parquet("pool", round_number, paths.pool)
    store.replace_round("prompt_difficulty", round_number, chosen.table("difficulty"))
    store.replace_round("accepted_samples", round_number, chosen.table("accepted"))
    store.replace_round("decisions", round_number, chosen.table("decisions"))
    return {"n_accepted": chosen.n_accepted, "n_selected_pool": chosen.n_selected,
            **({"combined_cuts": chosen.cuts} if chosen.cuts else {}),
            "pool_by_round": dict(sorted(chosen.pool_by_round.items())),
            "prompts_all_pass": chosen.status["all_pass"], "prompts_none_pass": chosen.status["none_pass"]}
