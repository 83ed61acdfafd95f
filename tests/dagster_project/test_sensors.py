import dagster as dg

from dagster_project.definitions import defs
from dagster_project.resources import DuckDBStore, FlywheelConfig
from dagster_project.sensors import next_round_sensor
from flywheel.store.database import Store


def _evaluate(tmp_path, instance):
    store = DuckDBStore(flywheel=FlywheelConfig(), path=str(tmp_path / "flywheel.duckdb"))
    with dg.build_sensor_context(instance=instance, resources={"store": store}, definitions=defs) as context:
        return next_round_sensor(context)


def _finish_round(tmp_path, round_number, stop, reason):
    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", round_number, [{"stop": stop, "stop_reason": reason}])


def test_sensor_adds_and_runs_the_next_round_while_the_rule_says_continue(tmp_path):
    with dg.instance_for_test() as instance:
        assert "no round has finished" in _evaluate(tmp_path, instance).skip_message
        instance.add_dynamic_partitions("round", ["1"])
        _finish_round(tmp_path, 1, False, "continue (round 1 of 8): round 1 sets the distinct_2 baseline (0.5)")
        result = _evaluate(tmp_path, instance)
        assert [r.partition_key for r in result.run_requests] == ["2"]
        assert result.run_requests[0].run_key == "round-2"
        assert result.dynamic_partitions_requests[0].partition_keys == ["2"]
        instance.add_dynamic_partitions("round", ["2"])
        assert "already added" in _evaluate(tmp_path, instance).skip_message


def test_sensor_stays_quiet_once_the_rule_says_stop(tmp_path):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("round", ["1", "2"])
        _finish_round(tmp_path, 1, False, "continue")
        _finish_round(tmp_path, 2, True, "stop: evaluation plateaued: held-out pass@1 gained +0.0000")
        skip = _evaluate(tmp_path, instance)
        assert "ended the loop after round 2: stop: evaluation plateaued" in skip.skip_message
