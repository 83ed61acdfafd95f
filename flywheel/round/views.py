"""What a person reads at a glance about one round's stage: small markdown tables and a loss curve.

Plain functions over the store (no Dagster here): the assets attach them as metadata, and
anything else (a notebook, a report) can call them too.
"""

from __future__ import annotations

from pathlib import Path

from flywheel.store.database import Store


def _table(header: list[str], rows: list[tuple]) -> str:
    if not rows:
        return "_none_"

    def cells(row) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |"

    return "\n".join([cells(header), "|" + "---|" * len(header), *(cells(row) for row in rows)])


def pass_at_1_by_domain(store: Store, round_number: int) -> str:
    """Held-out pass@1 and pass@k per domain, with the change from the previous round."""
    _, rows = store.query(
        "SELECT domain, round(pass_at_1, 3), round(pass_at_1 - lag(pass_at_1) OVER (PARTITION BY domain ORDER BY round), 3),"
        " round(pass_at_k, 3), k, n_prompts FROM evaluations WHERE split = 'heldout' AND round <= ? "
        "QUALIFY round = ? ORDER BY domain", [round_number, round_number])
    shown = [(d, p1, "" if change is None else f"{change:+.3f}", pk, k, n) for d, p1, change, pk, k, n in rows]
    return _table(["domain", "pass@1", "change", "pass@k", "k", "prompts"], shown)


def top_decontamination_hits(store: Store, round_number: int, limit: int = 10) -> str:
    _, rows = store.query(
        "SELECT benchmark, instance_id, round(overlap, 2), example_id, train_source, example_ngram "
        "FROM decontamination_hits WHERE round = ? ORDER BY overlap DESC, example_id LIMIT ?", [round_number, limit])
    return _table(["benchmark", "eval instance", "overlap", "dropped example", "source", "shared n-gram"], rows)


def verifier_errors(store: Store, round_number: int) -> str:
    _, rows = store.query(
        "SELECT verifier, status, count(*), any_value(reason) FROM verdicts WHERE round = ? AND status <> 'ok' "
        "GROUP BY ALL ORDER BY 3 DESC", [round_number])
    return _table(["verifier", "status", "verdicts", "example reason"], [(v, s, n, r[:160]) for v, s, n, r in rows])


def sample_examples(store: Store, round_number: int, per_kind: int = 3) -> str:
    """A few accepted and a few rejected samples with their verdicts, for a human sanity check."""
    parts = []
    for title, accepted in (("Accepted", True), ("Rejected", False)):
        _, rows = store.query(
            "SELECT s.prompt_id, s.sample_index, s.text, string_agg(v.verifier || ': ' || v.reason, '; ') "
            "FROM samples s JOIN verdicts v USING (round, prompt_id, sample_index) "
            "LEFT JOIN accepted_samples a USING (round, prompt_id, sample_index) WHERE s.round = ? "
            f"AND (a.prompt_id IS {'NOT ' if accepted else ''}NULL) GROUP BY s.prompt_id, s.sample_index, s.text "
            "ORDER BY hash(s.prompt_id || s.sample_index::VARCHAR) LIMIT ?", [round_number, per_kind])
        parts.append(f"**{title}**\n\n" + _table(["prompt", "#", "sample", "verdicts"],
                                                 [(p, i, text[:200], why[:200]) for p, i, text, why in rows]))
    return "\n\n".join(parts)


def _figure():
    """(figure, axis) of a small chart, drawn without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 3))


def _saved(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _two_axis_curve(rows: list[tuple], left: tuple[str, str, float], right: tuple[str, str, float],
                    title: str, path: Path, right_limits: tuple[float, float] | None = None) -> Path:
    """(step, left value, right value) rows as a PNG: each series on its own y axis, (label, colour, alpha)."""
    figure, left_axis = _figure()
    steps = [r[0] for r in rows]
    left_axis.plot(steps, [r[1] for r in rows], color=left[1], alpha=left[2])
    left_axis.set_xlabel("optimizer step")
    left_axis.set_ylabel(left[0], color=left[1])
    right_axis = left_axis.twinx()
    right_axis.plot(steps, [r[2] for r in rows], color=right[1], alpha=right[2])
    right_axis.set_ylabel(right[0], color=right[1])
    if right_limits:
        right_axis.set_ylim(*right_limits)
    left_axis.set_title(title)
    return _saved(figure, path)


def loss_curve(store: Store, round_number: int, path: Path) -> Path | None:
    """The round's SFT loss and learning rate per optimizer step, as a PNG."""
    _, rows = store.query("SELECT step, loss, learning_rate FROM training_steps WHERE round = ? ORDER BY step",
                          [round_number])
    return _two_axis_curve(rows, ("loss", "tab:blue", 1.0), ("learning rate", "tab:orange", 0.6),
                           f"round {round_number} SFT", path) if rows else None


def preference_curve(store: Store, round_number: int, path: Path) -> Path | None:
    """The round's DPO reward margin and pair accuracy per optimizer step, as a PNG."""
    _, rows = store.query("SELECT step, reward_margin, pair_accuracy FROM dpo_steps WHERE round = ? ORDER BY step",
                          [round_number])
    return _two_axis_curve(rows, ("reward margin", "tab:blue", 1.0), ("pair accuracy", "tab:green", 0.7),
                           f"round {round_number} DPO", path, right_limits=(0, 1.05)) if rows else None


def topic_chart(store: Store, round_number: int, path: Path) -> Path | None:
    """The round's pool per quality topic: the examples each topic had and the rows the mixture took, as a PNG."""
    _, rows = store.query("SELECT topic, sum(n_available), sum(n_taken) FROM mixture_topics WHERE round = ? "
                          "AND topic IS NOT NULL GROUP BY topic ORDER BY topic", [round_number])
    if not rows:
        return None
    figure, axis = _figure()
    positions = range(len(rows))
    axis.bar([p - 0.2 for p in positions], [r[1] for r in rows], width=0.4, label="candidates", color="tab:gray")
    axis.bar([p + 0.2 for p in positions], [r[2] for r in rows], width=0.4, label="in the mixture", color="tab:blue")
    axis.set_xticks(list(positions), [str(r[0]) for r in rows])
    axis.set_xlabel("quality topic (numbered per round)")
    axis.set_ylabel("examples")
    axis.set_title(f"round {round_number} mixture by topic")
    axis.legend()
    return _saved(figure, path)
