"""The round-over-round report: the round_metrics table and a chart of it as a PNG.

The chart plots, against the round number, held-out pass@1 and yield (left axis, 0-1)
and accepted distinct-2 (right axis), with the stop decision marked. It is written to
``<workdir>/round_metrics.png`` and attached to the Dagster metrics asset.
"""

from __future__ import annotations

from pathlib import Path

from flywheel.store import Store

REPORT_SQL = ("SELECT round, eval_pass_at_1, yield, distinct_2, n_accepted, stop, stop_reason "
              "FROM round_metrics ORDER BY round")


def round_rows(store: Store) -> list[dict]:
    names, rows = store.query(REPORT_SQL)
    return [dict(zip(names, row)) for row in rows]


def render_chart(rows: list[dict], out: Path) -> Path:
    """Write the chart of ``rows`` (from :func:`round_rows`) to ``out`` and return it."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    rounds = [r["round"] for r in rows]
    figure, left = plt.subplots(figsize=(7, 4), dpi=110)
    for key, label, style in (("eval_pass_at_1", "held-out pass@1", "o-"), ("yield", "yield (accepted / generated)", "s--")):
        left.plot(rounds, [r[key] if r[key] is not None else float("nan") for r in rows], style, label=label)
    left.set_xlabel("round")
    left.set_ylim(0, 1)
    left.set_xticks(rounds)
    right = left.twinx()
    right.plot(rounds, [r["distinct_2"] if r["distinct_2"] is not None else float("nan") for r in rows], "^:",
               color="tab:green", label="distinct-2 of accepted")
    right.set_ylabel("distinct-2")
    right.set_ylim(0, 1)
    for r in rows:
        if r["stop"]:
            left.axvline(r["round"], color="tab:red", alpha=0.4)
            left.annotate("stop", (r["round"], 0.95), color="tab:red", ha="center")
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(lines, labels, loc="upper left", fontsize=8)
    left.set_title("flywheel: round over round")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    figure.savefig(tmp)
    plt.close(figure)
    tmp.replace(out)
    return out


def write_report(workdir: Path) -> tuple[list[dict], Path]:
    rows = round_rows(Store(workdir / "flywheel.duckdb"))
    return rows, render_chart(rows, workdir / "round_metrics.png")
