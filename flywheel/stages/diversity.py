"""diversity: how varied the round's accepted and evaluation samples are."""

from __future__ import annotations

import pyarrow.compute as pc
from flywheel.config import RoundConfig
from flywheel.records.files import read_parquet
from flywheel.round.layout import RoundPaths
from flywheel.round.registry import Input, seed_round_only
from flywheel.round.runs import stage
from flywheel.store.database import Store
from flywheel.measures.diversity import diversity_metrics


@stage("diversity", "diversity", "Diversity of accepted and evaluation samples: distinct-n, self-BLEU, gzip, "
       "embedding Vendi.", inputs=(Input("select", when=lambda c, r: r > 0), Input("evaluate")),
       in_round_zero=seed_round_only, beside_kept_generator=True)
def measure_diversity(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Diversity of the round's accepted samples and of its held-out evaluation samples."""
    paths = RoundPaths(config.workdir, round_number)
    _, accepted = store.query(
        "SELECT s.text FROM accepted_samples a JOIN samples s ON s.round = a.round AND s.prompt_id = a.prompt_id "
        "AND s.sample_index = a.sample_index WHERE a.round = ? ORDER BY a.prompt_id, a.sample_index", [round_number])
    populations = {"accepted": [text for (text,) in accepted]}
    if paths.eval_samples.exists():
        evaluated = read_parquet(paths.eval_samples)
        populations["evaluation"] = evaluated.filter(pc.equal(evaluated.column("split"), "heldout")).column(
            "text").to_pylist()
    rows = [{"population": name, **diversity_metrics(texts, seed=config.generation.seed)}
            for name, texts in populations.items()]
    store.replace_round("diversity", round_number, rows)
    return {f"{row['population']}/{metric}": round(row[metric], 4) for row in rows
            for metric in ("distinct_2", "self_bleu", "embedding_vendi") if row[metric] is not None}
