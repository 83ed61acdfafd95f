from flywheel.cli import main
from flywheel.store.report import render_chart, round_rows, round_table, write_report
from flywheel.store.database import Store


def fill(workdir, stop_last=True):
    store = Store(workdir / "flywheel.duckdb")
    for r, (p1, y, d2) in enumerate([(0.05, 0.0, None), (0.3, 0.05, 0.6), (0.4, 0.1, 0.25)], start=1):
        store.replace_round("round_metrics", r, [{"eval_pass_at_1": p1, "yield": y, "distinct_2": d2, "n_accepted": r,
                                                  "stop": stop_last and r == 3, "stop_reason": f"reason {r}"}])


def test_chart_is_a_png_and_marks_the_stop(tmp_path):
    fill(tmp_path)
    rows, chart = write_report(tmp_path)
    assert [r["round"] for r in rows] == [1, 2, 3] and rows[2]["stop"]
    data = chart.read_bytes()
    assert chart == tmp_path / "round_metrics.png" and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    without_stop = render_chart([{**r, "stop": False} for r in rows], tmp_path / "nostop.png").read_bytes()
    assert without_stop != data  # the stop marker is drawn


def test_report_command_prints_table_and_chart_path(tmp_path, capsys):
    fill(tmp_path)
    assert main(["report", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "round 3: reason 3" in out and "round_metrics.png" in out


def test_the_round_table_reads_the_one_round_query(tmp_path):
    store = Store(tmp_path / "flywheel.duckdb")
    store.replace_round("round_metrics", 1, [{"n_samples": 8, "yield": 0.3125, "stop": False}])
    store.replace_round("evaluations", 1, [
        {"split": "heldout", "domain": domain, "pass_at_1": p1, "pass_at_k": pk, "k": 4}
        for domain, p1, pk in (("all", 0.5, 0.75), ("math", 0.0075, 0.5), ("code", 0.9, 1.0))] + [
        {"split": "heldout_general", "domain": domain, "pass_at_1": 0.125, "pass_at_k": 0.5, "k": 4}
        for domain in ("all", "general")])  # its own split: the held-out 'all' figures stay math and code
    store.replace_round("diversity", 1, [{"population": "accepted", "distinct_2": 0.25, "self_bleu": 0.1},
                                         {"population": "evaluation", "distinct_2": 0.4}])
    headers, rows = round_table(round_rows(store))
    assert headers[:4] == ["round", "samples", "yield", "pass@1 math"]
    # SQL's round(): ties away from zero on the exact binary value (0.3125 is exact; 0.0075 is just below)
    assert headers[5:7] == ["pass@1 general", "pass@1 all"]
    assert rows == [(1, 8, 0.313, 0.007, 0.9, 0.125, 0.5, 0.75, None, 0.25, 0.4, 0.1, False)]
