import subprocess
import sys
from pathlib import Path

from flywheel.cli import main
from flywheel.store import Store

ROOT = Path(__file__).resolve().parents[1]


def test_sql_reads_and_refuses_writes(tmp_path, capsys):
    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", 1, [{"n_prompts": 5, "stop": False}])
    assert main(["sql", "--workdir", str(tmp_path), "SELECT round, n_prompts FROM round_metrics"]) == 0
    assert "5" in capsys.readouterr().out
    try:
        main(["sql", "--workdir", str(tmp_path), "DROP TABLE round_metrics"])
    except Exception as error:  # noqa: BLE001
        assert "read-only" in str(error).lower()
    _, rows = Store(tmp_path / "flywheel.duckdb").query("SELECT count(*) FROM round_metrics")
    assert rows == [(1,)]


def test_sql_on_missing_workdir_is_a_clear_error(tmp_path, capsys):
    assert main(["sql", "--workdir", str(tmp_path / "nothing"), "SELECT 1"]) == 2
    assert "no flywheel database" in capsys.readouterr().out


def test_bad_config_names_field(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("workdir: x\nmodel: {base: y}\nprompts: {sources: []}\nevaluation: {path: z}\n")
    assert main(["demo", "--config", str(bad)]) == 2
    assert "prompts.sources" in capsys.readouterr().out


def test_verifiers_lists_builtins():
    out = subprocess.run([sys.executable, "-m", "flywheel.cli", "verifiers"], capture_output=True, text=True,
                         cwd=ROOT).stdout
    assert "math" in out and "unit_tests" in out


def test_compose_file_is_valid():
    import shutil

    binary = shutil.which("docker-compose") or str(Path(sys.executable).with_name("docker-compose"))
    result = subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
