"""The kafka-bench command line: help, exit codes, dry runs, listing, scenarios by name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bytewax_kafka.bench.cli import EXIT_OK, EXIT_USAGE, main


def test_console_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "bytewax_kafka.bench.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for word in ("run", "report", "compare", "list", "examples:", "exit codes:", "kafka-bench run quick"):
        assert word in out.stdout


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (
            "run",
            [
                "--broker",
                "--set",
                "--repeat",
                "--goals",
                "--output",
                "auto",
                "external=HOST:PORT",
                "exit codes",
            ],
        ),
        ("report", ["RESULTS", "--output", "--html", "--goals", "examples:"]),
        ("compare", ["OLD", "NEW", "--threshold", "--metric", "noise", "exit codes"]),
        ("list", ["folder", "shipped"]),
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
    assert main(["run", "no-such-scenario"]) == EXIT_USAGE
    assert "shipped: " in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("batch_size = 0\n")
    assert main(["run", str(bad)]) == EXIT_USAGE
    assert "batch_size: expected an integer >= 1" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text("variant = 'ours'\n")
    assert main(["run", str(good), "--set", "colour=red"]) == EXIT_USAGE
    assert main(["run", str(good), "--broker", "nowhere"]) == EXIT_USAGE
    goals = tmp_path / "goals.toml"
    goals.write_text("[[goal]]\nmetric = 'speed'\nat_least = 1\n")
    assert main(["run", str(good), "--goals", str(goals), "--dry-run"]) == EXIT_USAGE
    assert "unknown metric 'speed'" in capsys.readouterr().err
    (tmp_path / "out" / "taken").mkdir(parents=True)
    (tmp_path / "out" / "taken" / "x").write_text("")
    assert main(["run", str(good), "-o", str(tmp_path / "out"), "--run-id", "taken"]) == EXIT_USAGE


def test_dry_run_of_a_shipped_scenario_by_name_with_overrides(capsys):
    code = main(
        ["run", "quick", "--dry-run", "--broker", "tansu", "--repeat", "2", "--set", "batch_size=10,100"]
    )
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "bytewax-kafka · tansu p=4 bs=10 w=1 · max rate" in out
    assert "raw confluent-kafka loop · tansu p=4 bs=100 w=1 · 10,000 msg/s steady" in out
    assert "auto" not in out
    assert "#2]" in out


def test_list_shows_the_shipped_scenarios_with_descriptions_and_keys(capsys, tmp_path):
    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "quick  [18 cells; brokers: auto]" in out
    assert "max-sustainable" in out
    assert "backlog-drain" in out
    assert "guarantees" in out
    assert "Ours vs Bytewax's built-in connector" in out
    assert "batch_size" in out
    assert "consumer_config" in out
    assert "guarantee" in out
    (tmp_path / "mine.toml").write_text('name = "mine"\ndescription = "My own."\n')
    assert main(["list", str(tmp_path)]) == EXIT_OK
    assert "My own." in capsys.readouterr().out
