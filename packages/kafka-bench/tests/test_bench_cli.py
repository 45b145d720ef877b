"""The kafka-bench command line: help, exit codes, dry runs, listing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bytewax_kafka.bench.cli import EXIT_OK, EXIT_USAGE, main

REPO = Path(__file__).resolve().parents[3]


def test_console_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "bytewax_kafka.bench.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for word in ("run", "report", "compare", "list", "examples:", "exit codes:"):
        assert word in out.stdout


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (
            "run",
            ["--broker", "--set", "--repeat", "--output", "external=HOST:PORT", "examples:", "exit codes"],
        ),
        ("report", ["RESULTS", "--output", "--html", "examples:"]),
        ("compare", ["OLD", "NEW", "--threshold", "--metric", "exit codes"]),
        ("list", ["folder"]),
    ],
)
def test_subcommand_help(command, words, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for w in words:
        assert w in text


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == EXIT_USAGE
    assert "usage: kafka-bench" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as info:
        main(["run", "x.toml", "--repeat", "0"])
    assert info.value.code == EXIT_USAGE
    assert main(["run", str(tmp_path / "missing.toml")]) == EXIT_USAGE
    bad = tmp_path / "bad.toml"
    bad.write_text("batch_size = 0\n")
    assert main(["run", str(bad)]) == EXIT_USAGE
    assert "batch_size: expected an integer >= 1" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text("variant = 'ours'\n")
    assert main(["run", str(good), "--set", "colour=red"]) == EXIT_USAGE
    assert main(["run", str(good), "--broker", "nowhere"]) == EXIT_USAGE
    (tmp_path / "out" / "taken").mkdir(parents=True)
    (tmp_path / "out" / "taken" / "x").write_text("")
    assert main(["run", str(good), "-o", str(tmp_path / "out"), "--run-id", "taken"]) == EXIT_USAGE


def test_dry_run_lists_cells_with_overrides(capsys):
    code = main(
        [
            "run",
            str(REPO / "scenarios" / "quick.toml"),
            "--dry-run",
            "--broker",
            "kafka",
            "--repeat",
            "2",
            "--set",
            "batch_size=10,100",
        ]
    )
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "ours kafka p=4 bs=10" in out
    assert "raw kafka p=4 bs=100" in out
    assert "tansu" not in out
    assert "#2]" in out


def test_list_shows_scenarios_and_keys(capsys):
    assert main(["list", str(REPO / "scenarios")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "quick.toml" in out
    assert "batch_size" in out
    assert "consumer_config" in out
