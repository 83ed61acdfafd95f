"""The markdown tables and loss curve the assets attach, and the round's warnings, read off one small
hand-made round (collected prompts, two samples each, real verification and selection): fast, no model."""

from __future__ import annotations

import pyarrow.parquet as pq

from flywheel.stages import select as select_stage
from flywheel.stages import verify as verify_stage
from flywheel.records.files import write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.round.warnings import round_warnings, zero_yield_everywhere
from flywheel.records.schema import samples_to_table, table_to_samples
from flywheel.round.views import loss_curve, pass_at_1_by_domain, sample_examples, verifier_errors
from flywheel.store.database import Store
from tests.flywheel.verification.test_shards import config_with, round_with_samples


def selected_round(small_config_path):
    config = config_with(small_config_path, 1)
    round_with_samples(config)
    store = Store(config.workdir / "flywheel.duckdb")
    store.attach_parquet("samples", 1, RoundPaths(config.workdir, 1).samples)  # what generate does
    verify_stage.verify(config, 1, store)
    select_stage.select(config, 1, store)
    return config, store


def test_views_show_the_rounds_rows(selected_round_copy, tmp_path):
    config, store = selected_round_copy
    examples = sample_examples(store, 1, per_kind=2)
    assert examples.startswith("**Accepted**") and "**Rejected**" in examples
    accepted, rejected = examples.split("**Rejected**")
    assert accepted.count("\n| ") == 3 and rejected.count("\n| ") == 3  # header + 2 rows each
    assert "I think it is" in rejected and "I think it is" not in accepted  # the wrong answers were not accepted
    assert verifier_errors(store, 1) == "_none_"
    store.replace_round("evaluations", 0, [{"split": "heldout", "domain": "math", "pass_at_1": 0.25, "pass_at_k": 0.5,
                                            "k": 4, "n_prompts": 8}])
    store.replace_round("evaluations", 1, [{"split": "heldout", "domain": "math", "pass_at_1": 0.5, "pass_at_k": 0.75,
                                            "k": 4, "n_prompts": 8}])
    assert pass_at_1_by_domain(store, 1).splitlines()[2] == "| math | 0.5 | +0.250 | 0.75 | 4 | 8 |"
    assert loss_curve(store, 1, tmp_path / "loss.png") is None  # no SFT steps yet
    store.replace_round("training_steps", 1, [{"step": s, "loss": 2.0 / s, "learning_rate": 1e-5} for s in (1, 2, 3)])
    assert loss_curve(store, 1, tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_warnings_name_truncation_and_a_domain_that_yields_nothing(selected_round_copy):
    config, store = selected_round_copy
    # The hand-made code answers are prose, so code accepts nothing; math and general accept some.
    assert round_warnings(config, 1, store) == [
        "domain code: yield 0 (0 of 8 samples accepted; unit_tests passed none of the 8 that finished)"]
    assert not zero_yield_everywhere(store, 1)
    # Every sample now stopped at max_new_tokens, and none is accepted any more.
    paths = RoundPaths(config.workdir, 1)
    truncated = [s.model_copy(update={"finish_reason": "length"}) for s in table_to_samples(pq.read_table(paths.samples))]
    write_parquet_atomic(samples_to_table(truncated), paths.samples)
    store.attach_parquet("samples", 1, paths.samples)
    store.replace_round("accepted_samples", 1, [])
    warnings = round_warnings(config, 1, store)
    total = len(truncated)
    assert warnings[0].startswith(f"{total} of {total} samples (100%) stopped at max_new_tokens")
    assert "domain math: yield 0 (0 of 16 samples accepted; every one stopped at max_new_tokens)" in warnings
    assert zero_yield_everywhere(store, 1)
