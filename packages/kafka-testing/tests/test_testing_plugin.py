"""The pytest plugin, run the way a user runs it: an inner test session through pytester.

The plugin is loaded in the inner sessions through its ``pytest11`` entry
point, exactly as in any project that installs bytewax-kafka-testing.
"""

from __future__ import annotations

import pytest

# Here rather than in conftest.py: pytest refuses pytest_plugins in a conftest
# below the rootdir.
pytest_plugins = ["pytester"]

INNER = """
import pytest

from bytewax_kafka.testing import Broker


def test_round_trip(kafka_broker, kafka_bootstrap, kafka_config, topic_factory,
                    kafka_produce, kafka_read_to_end):
    assert isinstance(kafka_broker, Broker)
    assert kafka_bootstrap == kafka_broker.bootstrap_servers
    assert kafka_config["bootstrap.servers"] == kafka_bootstrap
    topic = topic_factory(partitions=3)
    assert topic.startswith("test-")
    assert kafka_produce(topic, [(str(i).encode(), f"v{i}".encode()) for i in range(30)]) == 30
    records = kafka_read_to_end(topic)
    assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(30))
    assert {r.partition for r in records} <= {0, 1, 2}
    print("KIND", kafka_broker.kind)


def test_four_partitions(topic_factory, kafka_produce, kafka_read_to_end):
    topic = topic_factory(partitions=4)
    kafka_produce(topic, [b"a", b"b", b"c"])
    assert sorted(r.value for r in kafka_read_to_end(topic)) == [b"a", b"b", b"c"]


@pytest.mark.kafka_features("transactions")
def test_needs_transactions(kafka_broker):
    assert "transactions" in kafka_broker.features
"""


def run_inner(pytester: pytest.Pytester, broker: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest("--kafka-broker", broker, "-rs", "-s", "-p", "no:cacheprovider")


def test_plugin_on_tansu(pytester):
    result = run_inner(pytester, "tansu")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*bytewax-kafka broker: tansu*", "*KIND tansu*"])
    # The skip names the missing feature and the broker that lacks it.
    result.stdout.fnmatch_lines(["SKIPPED*test_inner.py*Tansu*lacks transactions*"])


def test_plugin_on_mock(pytester):
    result = run_inner(pytester, "mock")
    # The mock cluster makes every topic with 4 partitions: asking for 3 is a
    # skip that says so, asking for 4 works; it has no transaction isolation.
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED*mock cluster*can only make topics with 4 partitions*",
            "SKIPPED*test_inner.py*mock cluster*lacks transactions*",
        ],
        consecutive=False,
    )


def test_unknown_feature_fails_loudly(pytester):
    pytester.makepyfile(
        test_inner="""
        import pytest

        @pytest.mark.kafka_features("time_travel")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--kafka-broker", "mock", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown kafka_features*time_travel*"])


def test_unknown_broker_is_a_usage_error(pytester):
    pytester.makepyfile(test_inner="def test_x(kafka_broker):\n    pass\n")
    result = pytester.runpytest("--kafka-broker", "zookeeper", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown broker 'zookeeper'*"])


def test_docker_broker_without_docker_skips_with_the_reason(pytester):
    from bytewax_kafka.testing.container import docker_unavailable_reason

    if docker_unavailable_reason() is None:
        pytest.skip("a Docker engine answers here: the skip path cannot be seen")
    pytester.makepyfile(test_inner="def test_x(kafka_broker):\n    pass\n")
    result = pytester.runpytest("--kafka-broker", "redpanda", "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*redpanda*needs Docker*"])


def test_broker_named_in_environment(pytester, monkeypatch):
    monkeypatch.setenv("BYTEWAX_KAFKA_BROKER", "mock")
    pytester.makepyfile(test_inner="def test_x(kafka_broker):\n    assert kafka_broker.kind == 'mock'\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*bytewax-kafka broker: mock*"])


def test_session_fixtures_pick_their_broker(pytester):
    pytester.makepyfile(
        test_inner="""
        def test_kinds(kafka_broker, tansu_broker, mock_cluster):
            assert kafka_broker.kind == "tansu"
            assert tansu_broker is kafka_broker  # the session broker is reused
            assert mock_cluster.kind == "mock"
            assert mock_cluster is not kafka_broker

        def test_any_broker(broker_topic_factory, tansu_broker):
            topic = broker_topic_factory(tansu_broker)(partitions=2)
            assert topic.startswith("test-")
        """
    )
    result = pytester.runpytest("--kafka-broker", "tansu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
