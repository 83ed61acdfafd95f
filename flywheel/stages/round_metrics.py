"""round_metrics: the round-over-round metrics row and the stopping decision."""

from __future__ import annotations

from pathlib import Path
from flywheel.config import RoundConfig
from flywheel.records.files import read_parquet
from flywheel.round.layout import RoundPaths
from flywheel.round.registry import Image, Input
from flywheel.round.runs import stage
from flywheel.store.database import Store
from flywheel.store.report import write_report
from flywheel.round.warnings import round_warnings, zero_yield_everywhere
from flywheel.round.stopping import StopDecision, decide
from flywheel.store.tracking import log_round


def _series(store: Store, sql: str, params: list) -> dict[int, float | None]:
    return {r: v for r, v in store.query(sql, params)[1]}


def _round_chart(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    _, chart = write_report(config.workdir)
    return {"stop_reason": f"**{'STOP' if result['stop'] else 'CONTINUE'}**: {result['stop_reason']}",
            "chart": Image(chart, "round over round"), "chart_path": chart,
            "duckdb_path": Path(store.path)}  # flywheel launch prints the table from it


@stage("round_metrics", "round_metrics", "Round-over-round metrics and the stopping decision.",
       inputs=(Input("evaluate"), Input("diversity"), Input("round_metrics", 1, when=lambda c, r: r > 1)),
       sections=("stopping",), views=_round_chart, beside_kept_generator=True)
def round_metrics(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)

    def one(sql: str) -> list[tuple]:  # one-line lookups below
        return store.query(sql, [round_number])[1]

    s = config.stopping
    diversity = _series(store, f"SELECT round, {s.diversity_metric} FROM diversity WHERE population = ? AND round <= ?",
                        [s.diversity_population, round_number])
    evals = _series(store, "SELECT round, pass_at_1 FROM evaluations WHERE split = 'heldout' AND domain = 'all' "
                           "AND round <= ?", [round_number])
    decision = decide(round_number, diversity, evals, s)
    warnings = round_warnings(config, round_number, store)
    if s.stop_on_zero_yield and zero_yield_everywhere(store, round_number):
        decision = StopDecision(True, "yield 0 in every domain: nothing was accepted, so another round from this "
                                      "checkpoint trains on nothing new (see round_metrics.warnings)")
    n_samples = one("SELECT count(*) FROM samples WHERE round = ?")[0][0]
    n_accepted = one("SELECT count(*) FROM accepted_samples WHERE round = ?")[0][0]
    evaluation = dict(((split, col), v) for split, col, v in store.query(
        "SELECT split, 'pass_at_1', pass_at_1 FROM evaluations WHERE round = ? AND domain = 'all' UNION ALL "
        "SELECT split, 'pass_at_k', pass_at_k FROM evaluations WHERE round = ? AND domain = 'all'",
        [round_number, round_number])[1])
    general = one("SELECT pass_at_1 FROM evaluations WHERE round = ? AND split = 'heldout_general' "
                  "AND domain = 'general'")
    difficulty = dict(one("SELECT status, count(*) FROM prompt_difficulty WHERE round = ? GROUP BY status"))
    accepted_distinct_2 = one("SELECT distinct_2 FROM diversity WHERE round = ? AND population = 'accepted'")
    steps = one("SELECT loss FROM training_steps WHERE round = ? ORDER BY step DESC LIMIT 1")
    row = {
        "n_prompts": one("SELECT count(*) FROM prompts WHERE round = ?")[0][0],
        "n_samples": n_samples, "n_accepted": n_accepted, "yield": n_accepted / max(1, n_samples),
        "n_selected_pool": read_parquet(paths.pool).num_rows,
        "n_decontaminated_dropped": one("SELECT count(DISTINCT example_id) FROM decontamination_hits WHERE round = ?")[0][0],
        "n_deduplicated_dropped": one("SELECT count(*) FROM dedup_drops WHERE round = ?")[0][0],
        "n_train_examples": read_parquet(paths.mixture).num_rows,
        "train_loss": steps[0][0] if steps else None,
        "eval_pass_at_1": evaluation.get(("heldout", "pass_at_1")),
        "eval_pass_at_k": evaluation.get(("heldout", "pass_at_k")),
        "eval_general_pass_at_1": general[0][0] if general else None,
        "train_pass_at_1": evaluation.get(("train", "pass_at_1")),
        "distinct_2": accepted_distinct_2[0][0] if accepted_distinct_2 else None,
        "diversity_metric": f"{s.diversity_population}/{s.diversity_metric}",
        "diversity_value": diversity.get(round_number),
        "verifier_errors": one("SELECT count(*) FROM verdicts WHERE round = ? AND status <> 'ok'")[0][0],
        # Verdicts a wall-clock deadline decided (the only ones load could change), over the round's
        # training and evaluation verdicts.
        **_timeouts(store, round_number),
        **_judge_cost(store, round_number),
        "n_prompts_all_pass": difficulty.get("all_pass", 0), "n_prompts_none_pass": difficulty.get("none_pass", 0),
        "stop": decision.stop, "stop_reason": decision.reason, "warnings": warnings,
    }
    store.replace_round("round_metrics", round_number, [row])
    tracked = log_round(config, round_number, store)  # SFT steps and round metrics, from the rows just written
    return {**row, "tracking": tracked} if tracked else row


def _timeouts(store: Store, round_number: int) -> dict:
    (timeouts, total), = store.query(
        "SELECT count(*) FILTER (WHERE status = 'timeout'), count(*) FROM (SELECT status FROM verdicts WHERE round = ? "
        "UNION ALL SELECT status FROM eval_verdicts WHERE round = ?)", [round_number, round_number])[1]
    return {"verifier_timeouts": timeouts, "timeout_rate": timeouts / total if total else 0.0}


def _judge_cost(store: Store, round_number: int) -> dict:
    """Tokens a judge verifier (llm_judge) recorded in its verdicts' details, and their estimated price, over
    the round's training and evaluation verdicts; a cached reply counts what it cost when it was made."""
    (prompt_tokens, completion_tokens, usd), = store.query(
        "SELECT sum(CAST(json_extract(details, '$.prompt_tokens') AS BIGINT)), "
        "sum(CAST(json_extract(details, '$.completion_tokens') AS BIGINT)), "
        "sum(CAST(json_extract(details, '$.cost_usd') AS DOUBLE)) "
        "FROM (SELECT details FROM verdicts WHERE round = ? UNION ALL SELECT details FROM eval_verdicts WHERE round = ?) "
        "WHERE details IS NOT NULL AND json_extract(details, '$.prompt_tokens') IS NOT NULL",
        [round_number, round_number])[1]
    return {"judge_prompt_tokens": prompt_tokens or 0, "judge_completion_tokens": completion_tokens or 0,
            "judge_cost_usd": usd or 0.0}
