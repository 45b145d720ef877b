"""Expanding scenarios into cells, and command-line overrides."""

from __future__ import annotations

import pytest

from bytewax_kafka.bench.define.matrix import apply_overrides, expand, parse_set
from bytewax_kafka.bench.define.scenario import parse_scenario
from bytewax_kafka.bench.errors import ScenarioError

TWO = """
name = "two"
broker = ["tansu", "kafka"]
repetitions = 1
[[matrix]]
name = "tp"
messages = 1000
batch_size = [100, 1000]
variant = ["ours", "raw"]
[[matrix]]
name = "lat"
mode = "fixed-rate"
rate = [1000, 2000]
duration = 3
variant = "ours"
"""


def test_product_of_axes_broker_outermost_variant_innermost():
    cells = expand(parse_scenario(TWO))
    assert len(cells) == 2 * (2 * 2 + 2)
    assert [c.broker for c in cells] == ["tansu"] * 6 + ["kafka"] * 6
    assert [(c.batch_size, c.variant) for c in cells[:4]] == [
        (100, "ours"),
        (100, "raw"),
        (1000, "ours"),
        (1000, "raw"),
    ]
    assert [c.id for c in cells] == [f"{i:03d}" for i in range(1, 13)]
    lat = [c for c in cells if c.matrix == "lat"]
    assert {c.rate for c in lat} == {1000, 2000}
    assert all(c.mode == "fixed-rate" and c.duration == 3.0 and c.messages is None for c in lat)
    assert all(c.rate is None and c.messages == 1000 for c in cells if c.matrix == "tp")


def test_repetitions_repeat_every_cell_per_broker():
    cells = expand(parse_scenario("repetitions = 3\nvariant = 'ours'\nbroker = ['tansu', 'kafka']"))
    assert [(c.broker, c.repetition) for c in cells] == [
        ("tansu", 1),
        ("tansu", 2),
        ("tansu", 3),
        ("kafka", 1),
        ("kafka", 2),
        ("kafka", 3),
    ]


def test_repetitions_alternate_variants_and_rotate_their_order():
    cells = expand(parse_scenario("variant = ['ours', 'builtin', 'raw']\nbatch_size = [100, 1000]"))
    by_rep = {rep: [(c.batch_size, c.variant) for c in cells if c.repetition == rep] for rep in (1, 2, 3)}
    assert by_rep[1] == [
        (100, "ours"),
        (100, "builtin"),
        (100, "raw"),
        (1000, "ours"),
        (1000, "builtin"),
        (1000, "raw"),
    ]
    # Each repetition starts with another variant and another combination: nothing always runs first.
    assert [v for _, v in by_rep[2][:3]] == ["builtin", "raw", "ours"]
    assert [v for _, v in by_rep[3][:3]] == ["raw", "ours", "builtin"]
    assert by_rep[2][0][0] == 1000
    firsts = {by_rep[r][0][1] for r in by_rep}
    assert firsts == {"ours", "builtin", "raw"}


def test_a_guarantee_a_variant_cannot_give_is_an_error_unless_excluded():
    with pytest.raises(ScenarioError, match=r"variant builtin cannot give exactly-once.*exclude"):
        expand(parse_scenario("variant = ['ours', 'builtin']\nguarantee = ['at-least-once', 'exactly-once']"))
    sc = parse_scenario(
        "variant = ['ours', 'builtin']\nguarantee = ['at-least-once', 'exactly-once']\nrepetitions = 1\n"
        "exclude = [{ variant = 'builtin', guarantee = 'exactly-once' }]"
    )
    assert [(c.guarantee, c.variant) for c in expand(sc)] == [
        ("at-least-once", "ours"),
        ("at-least-once", "builtin"),
        ("exactly-once", "ours"),
    ]


def test_new_modes_get_their_defaults():
    search, drain = expand(
        parse_scenario(
            "repetitions = 1\nvariant = 'ours'\n[[matrix]]\nname = 's'\nmode = 'max-sustainable'\n"
            "[[matrix]]\nname = 'd'\nmode = 'backlog-drain'\nrate = 5000"
        )
    )
    assert (search.rate, search.duration, search.messages) == (10_000, 5.0, None)
    assert (drain.rate, drain.duration, drain.messages) == (5000, 10.0, 50_000)


def test_exclude_drops_matching_combinations():
    sc = parse_scenario(
        "serde = ['none', 'registry-avro']\nvariant = ['ours', 'builtin']\n"
        "exclude = [{ variant = 'builtin', serde = 'registry-avro' }]"
    )
    assert [(c.serde, c.variant) for c in expand(sc) if c.repetition == 1] == [
        ("none", "ours"),
        ("none", "builtin"),
        ("registry-avro", "ours"),
    ]


def test_fixed_rate_messages_give_the_duration():
    [cell] = expand(
        parse_scenario(
            "mode = 'fixed-rate'\nrate = 2000\nmessages = 10000\nvariant = 'ours'\nrepetitions = 1"
        )
    )
    assert cell.duration == 5.0


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("batch_size=100,1000", ("batch_size", [100, 1000])),
        ("workers=2", ("workers", [2])),
        ("brokers=tansu,kafka", ("broker", ["tansu", "kafka"])),
        ("broker=external=h1:9092,h2:9092", ("broker", ["external=h1:9092,h2:9092"])),
        ("warmup=10%", ("warmup", "10%")),
        ("warmup=2.5", ("warmup", 2.5)),
        ("variant=ours", ("variant", ["ours"])),
    ],
)
def test_parse_set(expr, expected):
    assert parse_set(expr) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("batch_size", "expected KEY=VALUE"),
        ("colour=red", "unknown key 'colour'"),
        ("repetitions=1,2", "repetitions takes one value"),
        ("workers=", "no value given"),
    ],
)
def test_parse_set_errors(expr, message):
    with pytest.raises(ScenarioError, match=message):
        parse_set(expr)


def test_overrides_replace_axes_in_every_matrix():
    sc = apply_overrides(
        parse_scenario(TWO), [parse_set("batch_size=10"), ("broker", ["tansu"]), ("repetitions", 2)]
    )
    cells = expand(sc)
    assert {c.batch_size for c in cells} == {10}
    assert {c.broker for c in cells} == {"tansu"}
    assert {c.repetition for c in cells} == {1, 2}
    assert len(cells) == 2 * (2 + 2)


def test_fixed_rate_only_overrides_skip_max_rate_matrices():
    cells = expand(apply_overrides(parse_scenario(TWO), [parse_set("rate=500"), parse_set("messages=50")]))
    assert {c.rate for c in cells if c.matrix == "lat"} == {500}
    assert {c.rate for c in cells if c.matrix == "tp"} == {None}
    assert {c.messages for c in cells if c.matrix == "tp"} == {50}


def test_invalid_override_value_is_a_scenario_error():
    with pytest.raises(ScenarioError, match="batch_size: expected an integer >= 1"):
        apply_overrides(parse_scenario(TWO), [parse_set("batch_size=0")])


def test_cell_labels_and_group_keys():
    a, b = expand(parse_scenario("variant = ['ours', 'raw']\nmessages = 10\nrepetitions = 1\nkeys = 'zipf'"))
    assert a.label() == "bytewax-kafka · auto p=4 bs=1000 w=1 zipf keys · max rate"
    assert b.label() == "raw confluent-kafka loop · auto p=4 bs=1000 w=1 zipf keys · max rate"
    assert a.label(variant=False) == b.label(variant=False)
    assert a.group_key() == b.group_key()
    assert a.config()["variant"] == "ours"


def test_messages_override_leaves_rate_searches_alone():
    cells = expand(
        apply_overrides(
            parse_scenario(
                "repetitions = 1\nvariant = 'ours'\n[[matrix]]\nname = 's'\nmode = 'max-sustainable'\n"
                "[[matrix]]\nname = 'd'\nmode = 'backlog-drain'\nrate = 5000"
            ),
            [parse_set("messages=7000")],
        )
    )
    assert [(c.mode, c.messages) for c in cells] == [("max-sustainable", None), ("backlog-drain", 7000)]


def test_every_axis_is_expanded():
    # An axis left out of the expansion order would silently run one value only.
    from bytewax_kafka.bench.define.keys import AXES
    from bytewax_kafka.bench.define.matrix import _AXIS_ORDER

    assert set(AXES) - {"broker"} == set(_AXIS_ORDER) - {"mode"}
