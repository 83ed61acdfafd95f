import pytest

from flywheel.config import StoppingConfig
from flywheel.diversity import distinct_n
from flywheel.stopping import decide


def test_distinct_n():
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b", "c d"], 2) == 1.0
    assert distinct_n([], 2) == 0.0


def test_first_round_sets_baseline_and_continues():
    decision = decide(1, 0.8, {}, StoppingConfig(max_rounds=5))
    assert not decision.stop and "sets the distinct-2 baseline (0.8000)" in decision.reason


def test_stops_when_distinct_2_collapses_with_numbers():
    decision = decide(3, 0.3, {1: 0.8, 2: 0.6}, StoppingConfig(max_rounds=5, min_distinct_2_fraction=0.5))
    assert decision.stop
    assert "0.3000 < 0.50 x round 1's 0.8000" in decision.reason


def test_baseline_is_first_round_that_accepted_anything():
    assert "no diversity baseline" in decide(1, None, {}, StoppingConfig()).reason
    assert "sets the distinct-2 baseline" in decide(2, 0.6, {1: None}, StoppingConfig()).reason
    decision = decide(3, 0.2, {1: None, 2: 0.6}, StoppingConfig(min_distinct_2_fraction=0.5))
    assert decision.stop and "round 2's 0.6000" in decision.reason


def test_continues_above_floor_and_stops_at_round_limit():
    decision = decide(2, 0.5, {1: 0.8}, StoppingConfig(max_rounds=5))
    assert not decision.stop and "0.62 of round 1's 0.8000" in decision.reason
    limit = decide(5, 0.8, {1: 0.8}, StoppingConfig(max_rounds=5))
    assert limit.stop and "round limit" in limit.reason
