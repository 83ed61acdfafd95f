from flywheel.config import StoppingConfig
from flywheel.round.stopping import decide

ONLY_FLOOR = dict(max_diversity_drop=None, min_eval_gain=None)


def test_first_measured_round_sets_the_baseline_and_continues():
    decision = decide(1, {1: 0.8}, {0: 0.1, 1: 0.2}, StoppingConfig(max_rounds=5, **ONLY_FLOOR))
    assert not decision.stop and "round 1 sets the distinct_2 baseline (0.8000)" in decision.reason


def test_stops_below_a_fraction_of_the_first_rounds_diversity_quoting_the_numbers():
    decision = decide(3, {1: 0.8, 2: 0.6, 3: 0.3}, {}, StoppingConfig(max_rounds=5, min_diversity_fraction=0.5, **{
        "max_diversity_drop": None, "min_eval_gain": None}))
    assert decision.stop
    assert "diversity collapsed: distinct_2 0.3000 vs floor 0.4000 (0.50 x round 1's 0.8000)" in decision.reason


def test_a_round_without_accepted_samples_is_no_baseline():
    assert "no distinct_2 this round" in decide(1, {1: None}, {}, StoppingConfig(**ONLY_FLOOR)).reason
    decision = decide(3, {1: None, 2: 0.6, 3: 0.2}, {}, StoppingConfig(min_diversity_fraction=0.5, **ONLY_FLOOR))
    assert decision.stop and "round 2's 0.6000" in decision.reason


def test_stops_when_diversity_drops_too_fast_between_two_rounds():
    config = StoppingConfig(min_diversity_fraction=0.1, max_diversity_drop=0.25, min_eval_gain=None)
    assert not decide(2, {1: 0.8, 2: 0.7}, {}, config).stop
    decision = decide(3, {1: 0.8, 2: 0.7, 3: 0.5}, {}, config)
    assert decision.stop and "diversity dropping fast: distinct_2 fell 28.6% since round 2 (0.7000 -> 0.5000; limit 25%)" \
        in decision.reason


def test_stops_when_evaluation_plateaus_counting_round_0():
    config = StoppingConfig(min_diversity_fraction=None, max_diversity_drop=None, eval_gain_window=2, min_eval_gain=0.02)
    assert not decide(1, {}, {0: 0.10, 1: 0.30}, config).stop  # no round -1 to compare with yet
    assert not decide(2, {}, {0: 0.10, 1: 0.30, 2: 0.40}, config).stop
    decision = decide(4, {}, {0: 0.10, 1: 0.30, 2: 0.40, 3: 0.41, 4: 0.41}, config)
    assert decision.stop and "evaluation plateaued: held-out pass@1 gained +0.0100 over 2 round(s)" in decision.reason


def test_self_bleu_is_read_as_one_minus_it():
    config = StoppingConfig(diversity_metric="self_bleu", min_diversity_fraction=0.5, max_diversity_drop=None,
                            min_eval_gain=None)
    # self-BLEU 0.2 -> 0.7 means diversity 0.8 -> 0.3: below half
    assert decide(2, {1: 0.2, 2: 0.7}, {}, config).stop


def test_round_limit_and_several_reasons_at_once():
    decision = decide(5, {1: 0.8, 5: 0.1}, {3: 0.5, 5: 0.5}, StoppingConfig(max_rounds=5))
    assert decision.stop
    assert decision.reason.count(";") >= 2 and "round limit reached (5 >= max_rounds 5)" in decision.reason
