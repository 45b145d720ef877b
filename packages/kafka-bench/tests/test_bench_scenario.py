"""Scenario files: parsing, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bytewax_kafka.bench.define.catalog import resolve, shipped, shipped_names
from bytewax_kafka.bench.define.scenario import load_scenario, parse_scenario
from bytewax_kafka.bench.errors import ScenarioError

REPO = Path(__file__).resolve().parents[3]


def test_defaults_fill_a_minimal_scenario():
    sc = parse_scenario('name = "tiny"')
    assert sc.name == "tiny"
    [m] = sc.matrices
    assert m.axes["broker"] == ["auto"]
    assert m.axes["variant"] == ["ours", "builtin", "raw"]
    assert m.axes["partitions"] == [4]
    assert m.settings["mode"] == "max-rate"
    assert m.settings["messages"] is None  # sized from a probe
    assert m.settings["repetitions"] == 3
    assert m.axes["guarantee"] == ["at-least-once"]
    assert "rate" not in m.axes


def test_matrices_inherit_top_level_keys_and_override_them():
    sc = parse_scenario(
        """
        name = "two"
        partitions = 8
        brokers = ["tansu", "kafka"]
        [[matrix]]
        name = "a"
        batch_size = [10, 100]
        [[matrix]]
        name = "b"
        mode = "fixed-rate"
        rates = [1000, 2000]
        partitions = 2
        duration = 3
        """
    )
    a, b = sc.matrices
    assert a.axes["partitions"] == [8]
    assert a.axes["batch_size"] == [10, 100]
    assert a.axes["broker"] == ["tansu", "kafka"]
    assert b.axes["partitions"] == [2]
    assert b.axes["rate"] == [1000, 2000]
    assert b.settings["duration"] == 3.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("batch_sise = 10", "unknown key 'batch_sise'"),
        ("batch_size = 0", "batch_size: expected an integer >= 1, got 0"),
        ("batch_size = 'ten'", "batch_size: expected an integer >= 1, got 'ten'"),
        ("batch_size = []", "batch_size: the list is empty"),
        ("workers = true", "workers: expected an integer >= 1, got True"),
        ("message_size = 8", "message_size: expected an integer >= 16"),
        ("variant = ['ours', 'theirs']", "variant: expected one of ours, ours-batches, ours-core"),
        ("broker = 'zookeeper'", "broker: expected one of auto, tansu"),
        ("broker = 'external='", "external needs an address"),
        ("serde = 'xml'", "serde: expected one of none, json, avro, registry-avro"),
        ("warmup = 'soon'", "warmup: expected seconds or a percentage"),
        ("warmup = '120%'", "warmup: a warm-up percentage must be in [0, 100)"),
        ("mode = 'fixed-rate'", "rate: fixed-rate mode needs a rate"),
        ("mode = 'backlog-drain'", "rate: backlog-drain mode needs a rate"),
        ("mode = 'max-sustainable'\nmessages = 5", "messages: max-sustainable mode searches a rate"),
        ("rate = 1000", "rate: only fixed-rate, max-sustainable, backlog-drain modes take a rate"),
        ("guarantee = 'twice'", "guarantee: expected one of at-least-once, commit-progress, exactly-once"),
        ("mode = 'sometimes'", "mode: expected one of max-rate, fixed-rate, max-sustainable, backlog-drain"),
        ("duration = 5", "duration: max-rate mode pre-fills a message count"),
        ("shape = 'ramp'", "shape: load shapes apply to fixed-rate mode only"),
        ("repetitions = [1, 2]", "repetitions: takes one value, not a list"),
        ("consumer_config = 5", "consumer_config: expected a table"),
        ("exclude = ['x']", "exclude: expected a list of tables"),
        ("exclude = [{ colour = 'red' }]", "exclude: 'colour' is not an axis"),
        ("name = ", "not valid TOML"),
    ],
)
def test_errors_name_the_key(text, expected):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.toml")
    assert expected in str(info.value)
    assert str(info.value).startswith("bad.toml")


def test_errors_in_a_matrix_name_the_matrix():
    with pytest.raises(ScenarioError, match=r"matrix 'lat': rate: fixed-rate mode needs a rate"):
        parse_scenario('[[matrix]]\nname = "lat"\nmode = "fixed-rate"')
    with pytest.raises(ScenarioError, match="the name is used twice"):
        parse_scenario('[[matrix]]\nname = "x"\n[[matrix]]\nname = "x"')


def test_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "nope.toml")


@pytest.mark.parametrize("name", shipped_names())
def test_shipped_scenarios_are_valid_and_described(name):
    from bytewax_kafka.bench.define.matrix import expand

    sc = shipped(name)
    assert sc.name == name
    assert sc.description, f"{name} needs a description"
    assert "issue" not in sc.text.lower(), f"{name} names an issue"
    assert expand(sc)


def test_scenarios_ship_in_the_package_and_run_by_name_or_path(tmp_path):
    assert {"quick", "full", "max-sustainable", "backlog-drain", "guarantees", "broker-latency"} <= set(
        shipped_names()
    )
    assert not list((REPO / "scenarios").glob("*.toml")), "scenario files belong in the package"
    assert resolve("quick").name == "quick"
    own = tmp_path / "mine.toml"
    own.write_text('name = "mine"\nvariant = "ours"\n')
    assert resolve(str(own)).name == "mine"
    with pytest.raises(ScenarioError, match=r"no scenario named 'quik'.*shipped: .*quick"):
        resolve("quik")
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        resolve(str(tmp_path / "missing.toml"))


def test_quick_is_the_main_job_three_repetitions_on_the_default_broker():
    from bytewax_kafka.bench.define.matrix import expand

    cells = expand(shipped("quick"))
    assert {c.broker for c in cells} == {"auto"}
    assert {c.repetition for c in cells} == {1, 2, 3}
    assert {c.variant for c in cells} == {"ours", "builtin", "raw"}
    assert {c.mode for c in cells} == {"max-rate", "fixed-rate"}
    assert all(c.messages is None for c in cells if c.mode == "max-rate")  # sized from a probe


def test_a_cell_label_names_client_settings_without_their_secrets():
    from bytewax_kafka.bench.define.cell import Cell

    label = Cell(consumer_config={"fetch.wait.max.ms": 10, "sasl.password": "hunter22"}).label()
    assert "fetch.wait.max.ms=10" in label
    assert "hunter22" not in label
    assert "sasl.password=[redacted]" in label
