"""The round-over-round report: the round_metrics table and a chart of it as a PNG.

Two panels against the round number. Left: held-out pass@1 and pass@k (round 0 is the
starting model), train pass@1 when measured, and yield. Right: diversity of the accepted
samples (distinct-1/2/3, self-BLEU, gzip ratio, embedding cosine distance; Vendi score on
its own axis). Stops are marked. Written to ``<workdir>/round_metrics.png`` and attached to
the Dagster metrics asset.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from flywheel.records.files import atomic_path
from flywheel.store.database import Store

# The one round-over-round query: the chart, `flywheel report` and `flywheel demo` all read it.
ROUND_SQL = """
WITH heldout AS (SELECT round, domain, pass_at_1, pass_at_k, k FROM evaluations WHERE split = 'heldout'),
     train AS (SELECT round, pass_at_1 FROM evaluations WHERE split = 'train' AND domain = 'all'),
     general AS (SELECT round, pass_at_1 FROM evaluations WHERE split = 'heldout_general' AND domain = 'general'),
     accepted AS (SELECT * FROM diversity WHERE population = 'accepted'),
     heldout_diversity AS (SELECT round, distinct_2 AS eval_distinct_2 FROM diversity WHERE population = 'evaluation'),
     all_rounds AS (SELECT round FROM heldout UNION SELECT round FROM round_metrics)
SELECT r.round, m.n_samples, h.pass_at_1 AS eval_pass_at_1, h.pass_at_k AS eval_pass_at_k, h.k,
       hm.pass_at_1 AS eval_pass_at_1_math, hc.pass_at_1 AS eval_pass_at_1_code,
       g.pass_at_1 AS eval_pass_at_1_general, t.pass_at_1 AS train_pass_at_1,
       m.yield, m.n_accepted, a.distinct_1, a.distinct_2, a.distinct_3, a.self_bleu, a.gzip_ratio, a.embedding_vendi,
       a.embedding_cosine_distance, hd.eval_distinct_2, m.stop, m.stop_reason
FROM all_rounds r
     LEFT JOIN (SELECT * FROM heldout WHERE domain = 'all') h USING (round)
     LEFT JOIN (SELECT round, pass_at_1 FROM heldout WHERE domain = 'math') hm USING (round)
     LEFT JOIN (SELECT round, pass_at_1 FROM heldout WHERE domain = 'code') hc USING (round)
     LEFT JOIN general g USING (round)
     LEFT JOIN train t USING (round) LEFT JOIN round_metrics m USING (round) LEFT JOIN accepted a USING (round)
     LEFT JOIN heldout_diversity hd USING (round)
ORDER BY r.round
"""

# The console table's columns: (key in round_rows, header). Numbers are shown to 3 decimals.
ROUND_TABLE_COLUMNS = (("round", "round"), ("n_samples", "samples"), ("yield", "yield"),
                       ("eval_pass_at_1_math", "pass@1 math"), ("eval_pass_at_1_code", "pass@1 code"),
                       ("eval_pass_at_1_general", "pass@1 general"),
                       ("eval_pass_at_1", "pass@1 all"), ("eval_pass_at_k", "pass@k all"),
                       ("train_pass_at_1", "train pass@1"), ("distinct_2", "distinct-2 accepted"),
                       ("eval_distinct_2", "distinct-2 held-out"), ("self_bleu", "self-BLEU accepted"),
                       ("stop", "stop"))


def round_rows(store: Store) -> list[dict]:
    names, rows = store.query(ROUND_SQL)
    return [dict(zip(names, row)) for row in rows]


def round_table(rows: list[dict]) -> tuple[list[str], list[tuple]]:
    """(headers, rows) of the round table printed by ``flywheel report`` and ``flywheel demo``."""
    def shown(value):  # the exact binary value, ties away from zero, as SQL round(): 0.3125 shows as 0.313
        if not isinstance(value, float) or value != value:
            return value
        return float(Decimal(value).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))

    return ([header for _, header in ROUND_TABLE_COLUMNS],
            [tuple(shown(row[key]) for key, _ in ROUND_TABLE_COLUMNS) for row in rows])


def _values(rows: list[dict], key: str) -> list[float]:
    return [r[key] if r.get(key) is not None else float("nan") for r in rows]


def render_chart(rows: list[dict], out: Path) -> Path:
    """Write the chart of ``rows`` (from :func:`round_rows`) to ``out`` and return it."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    rounds = [r["round"] for r in rows]
    k = next((r["k"] for r in rows if r.get("k")), "k")
    figure, (quality, spread) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    for key, label, style in (("eval_pass_at_1", "held-out pass@1", "o-"), ("eval_pass_at_k", f"held-out pass@{k}", "o:"),
                              ("eval_pass_at_1_general", "held-out general pass@1 (reference match)", "D-"),
                              ("train_pass_at_1", "train pass@1", "x--"), ("yield", "yield (accepted / generated)", "s--")):
        if any(r.get(key) is not None for r in rows):
            quality.plot(rounds, _values(rows, key), style, label=label)
    quality.set_title("quality (round 0 = starting model)")
    for key, label, style in (("distinct_1", "distinct-1", "^-"), ("distinct_2", "distinct-2", "^-"),
                              ("distinct_3", "distinct-3", "^-"), ("self_bleu", "self-BLEU", "v--"),
                              ("gzip_ratio", "gzip ratio", "d:"), ("embedding_cosine_distance", "mean cosine distance", "p:"),
                              ("eval_distinct_2", "distinct-2 of held-out samples", "o--")):
        spread.plot(rounds, _values(rows, key), style, label=label)
    vendi = spread.twinx()
    vendi.plot(rounds, _values(rows, "embedding_vendi"), "*-", color="black", alpha=0.6, label="Vendi score (right)")
    vendi.set_ylabel("Vendi score")
    # From zero, so that noise between rounds does not look like a collapse.
    vendi.set_ylim(0, max([v for v in _values(rows, "embedding_vendi") if v == v] or [1.0]) * 1.15)
    spread.set_title("diversity of accepted samples (and held-out)")
    for axis in (quality, spread):
        axis.set_xlabel("round")
        axis.set_ylim(0, 1)
        axis.set_xticks(rounds)
        for r in rows:
            if r.get("stop"):
                axis.axvline(r["round"], color="tab:red", alpha=0.4)
                axis.annotate("stop", (r["round"], 0.02), color="tab:red", ha="right", va="bottom")
    quality.legend(loc="upper left", fontsize=7)
    handles = spread.get_legend_handles_labels()[0] + vendi.get_legend_handles_labels()[0]
    labels = spread.get_legend_handles_labels()[1] + vendi.get_legend_handles_labels()[1]
    spread.legend(handles, labels, loc="upper right", fontsize=6, ncol=2)
    figure.suptitle("flywheel: round over round")
    figure.tight_layout()
    with atomic_path(out, suffix=".png") as temporary:  # savefig picks the format from the extension
        figure.savefig(temporary)
    plt.close(figure)
    return out


def write_report(workdir: Path) -> tuple[list[dict], Path]:
    rows = round_rows(Store(workdir / "flywheel.duckdb"))
    return rows, render_chart(rows, workdir / "round_metrics.png")
