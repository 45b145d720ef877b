"""Every client configuration on docs/production.md is accepted by librdkafka.

No cloud is reachable from the tests, so each block's settings are checked
the way librdkafka checks them: by creating the clients the connectors
create (the source's consumer and admin client, a sink's producer) from
them. librdkafka refuses an unknown setting, an invalid value, a
mechanism without what it needs or an unreadable certificate or key at
creation. Addresses are replaced by a closed local port, the certificate
paths by files made for the test, secrets by values from the environment
the test sets, and the token endpoint by a local address.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from bytewax_kafka.core import KafkaSink, KafkaSource
from bytewax_kafka.core.config import for_admin, make_client
from bytewax_kafka.core.producer import DeliveringProducer
from bytewax_kafka.testing.ports import free_port
from docblocks import DOCS, python_blocks, run_block
from tlskit import TestCA

PAGE = DOCS / "production.md"
BLOCKS = python_blocks(PAGE)
KEY_PASSWORD = "client-key-password"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The page's certificate paths -> files made for the test."""
    ca = TestCA(tmp_path_factory.mktemp("production-tls"))
    client = ca.issue("client", key_password=KEY_PASSWORD)
    return {
        "/etc/kafka/ca.pem": str(ca.cert),
        "/etc/kafka/client.pem": str(client.cert),
        "/etc/kafka/client.key": str(client.key),
    }


def configs(ns: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: v for name, v in ns.items() if isinstance(v, dict) and "security.protocol" in v}


def check_clients(name: str, settings: dict[str, Any]) -> None:
    closed = f"127.0.0.1:{free_port()}"
    local = {
        k: (f"http://{closed}/token" if isinstance(v, str) and v.startswith("https://") else v)
        for k, v in settings.items()
    }
    source = KafkaSource([closed], ["orders"], add_config=local)
    consumer = make_client(Consumer, source.consumer_config(), "consumer")
    consumer.close()
    make_client(AdminClient, for_admin({"bootstrap.servers": closed, **local}), "admin client")
    sink = KafkaSink([closed], "orders-copy", add_config=local)
    DeliveringProducer(sink.producer_config(), "orders-copy").producer.flush(0)
    assert "secret-value-for-docs" not in repr(source) + repr(sink), name


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_block_configures_clients_librdkafka_accepts(index, files, monkeypatch):
    code = BLOCKS[index]
    for var in re.findall(r'os\.environ\["(\w+)"\]', code):
        value = KEY_PASSWORD if var == "KAFKA_KEY_PASSWORD" else "secret-value-for-docs"
        monkeypatch.setenv(var, value)
    for path, real in files.items():
        code = code.replace(f'"{path}"', repr(real))
    # The IAM token function imports AWS's signer; the test has a stand-in.
    signer = types.ModuleType("aws_msk_iam_sasl_signer")
    signer.MSKAuthTokenProvider = types.SimpleNamespace(  # type: ignore[attr-defined]
        generate_auth_token=lambda region: (f"token-for-{region}", 4_102_444_800_000)
    )
    monkeypatch.setitem(sys.modules, "aws_msk_iam_sasl_signer", signer)
    ns = run_block(code, {"__name__": "production_page"}, f"production.md[{index}]")
    found = configs(ns)
    assert found, "the block defines no client settings"
    for name, settings in found.items():
        check_clients(name, settings)
        if "oauth_cb" in settings:
            token, expiry = settings["oauth_cb"]("")
            assert isinstance(token, str)
            assert token
            assert expiry > 1_000_000_000  # seconds since the epoch, not milliseconds ago


def test_page_covers_every_mechanism_it_names():
    text = PAGE.read_text()
    for heading in (
        "SCRAM",
        "PLAIN",
        "Mutual TLS",
        "OAUTHBEARER",
        "Confluent Cloud",
        "Amazon MSK",
        "Redpanda Cloud",
    ):
        assert re.search(rf"^## .*{heading}", text, flags=re.M), heading


def test_a_bad_setting_would_be_caught():
    # What the check above relies on: librdkafka refuses at creation.
    from bytewax_kafka.core import KafkaConfigError

    scram = {"security.protocol": "SASL_SSL", "sasl.username": "u", "sasl.password": "p"}
    with pytest.raises(KafkaConfigError, match="SCRAM-SHA-999"):
        check_clients("bad", {**scram, "sasl.mechanism": "SCRAM-SHA-999"})
    with pytest.raises(KafkaConfigError, match=r"ssl\.ca\.location"):
        check_clients("bad", {"security.protocol": "SSL", "ssl.ca.location": "/nonexistent/ca.pem"})
