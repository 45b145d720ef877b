import pytest
from confluent_kafka import Consumer

from bytewax_kafka.core import KafkaConfigError, KafkaSink, KafkaSource
from bytewax_kafka.core.config import (
    for_admin,
    for_consumer,
    for_producer,
    is_secret,
    make_client,
    redact,
    scrub,
)

SECRET = "hunter2-very-secret"


@pytest.mark.parametrize(
    "key",
    [
        "sasl.password",
        "ssl.key.password",
        "sasl.oauthbearer.client.secret",
        "SASL.PASSWORD",
        "ssl.keystore.password",
        "sasl.oauthbearer.config",
    ],
)
def test_secret_keys_are_recognised(key):
    assert is_secret(key)
    assert redact({key: SECRET, "bootstrap.servers": "x:1"}) == {
        key: "[redacted]",
        "bootstrap.servers": "x:1",
    }


def test_plain_keys_are_not_secret():
    for key in ("bootstrap.servers", "group.id", "linger.ms", "security.protocol", "sasl.mechanism"):
        assert not is_secret(key)


def test_scrub_removes_secret_values_from_text():
    text = f"failed with password {SECRET} at host"
    assert SECRET not in scrub(text, {"sasl.password": SECRET})


def test_role_filters_drop_foreign_keys():
    conf = {
        "bootstrap.servers": "b:1",
        "group.id": "g",
        "enable.auto.commit": True,
        "linger.ms": 5,
        "transactional.id": "t",
        "auto.offset.reset": "earliest",
        "sasl.password": SECRET,
    }
    admin = for_admin(conf)
    assert set(admin) == {"bootstrap.servers", "sasl.password"}
    assert "linger.ms" not in for_consumer(conf)
    assert "group.id" in for_consumer(conf)
    assert "group.id" not in for_producer(conf)
    assert "linger.ms" in for_producer(conf)


def test_admin_config_of_the_guides_consumer_group_recipe_raises_no_confwarn():
    # Field notes defect 8: consumer-only keys reached the AdminClient (CONFWARN noise).
    logs = []

    class Catch:
        def log(self, level, msg, *args, **kwargs):
            logs.append(msg % args if args else msg)

    from confluent_kafka.admin import AdminClient

    conf = for_admin(
        {"bootstrap.servers": "127.0.0.1:1", "group.id": "consumer_group", "enable.auto.commit": "true"}
    )
    AdminClient({**conf, "logger": Catch()})
    assert not [m for m in logs if "CONFWARN" in m], logs


def test_invalid_setting_names_the_key_and_hides_secrets():
    with pytest.raises(KafkaConfigError, match=r"no\.such\.setting") as info:
        make_client(
            Consumer,
            {"bootstrap.servers": "x:1", "group.id": "g", "sasl.password": SECRET, "no.such.setting": 1},
            "consumer",
        )
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None


def test_invalid_value_is_reported_without_the_secret():
    with pytest.raises(KafkaConfigError) as info:
        make_client(
            Consumer,
            {
                "bootstrap.servers": "x:1",
                "group.id": "g",
                "sasl.password": SECRET,
                "fetch.wait.max.ms": "not-a-number",
            },
            "consumer",
        )
    assert "fetch.wait.max.ms" in str(info.value)
    assert SECRET not in str(info.value)


def test_reprs_do_not_show_add_config_values():
    src = KafkaSource(["b:1"], ["t"], add_config={"sasl.password": SECRET})
    sink = KafkaSink(["b:1"], "t", add_config={"ssl.key.password": SECRET})
    assert SECRET not in repr(src)
    assert SECRET not in repr(sink)
    assert "1 settings" in repr(src)


@pytest.mark.parametrize("bad", ["localhost:9092", b"localhost:9092"])
def test_brokers_as_a_string_is_a_type_error(bad):
    with pytest.raises(TypeError, match="brokers must be an iterable and not a string"):
        KafkaSource(bad, ["t"])
    with pytest.raises(TypeError, match="brokers must be an iterable and not a string"):
        KafkaSink(bad, "t")


def test_topics_as_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="topics must be an iterable and not a string"):
        KafkaSource(["b:1"], "in-topic")


def test_bad_parameters_are_rejected_at_construction():
    with pytest.raises(ValueError, match="batch_size"):
        KafkaSource(["b:1"], ["t"], batch_size=0)
    with pytest.raises(ValueError, match="not a confluent_kafka logical offset"):
        KafkaSource(["b:1"], ["t"], starting_offset=-7)
    with pytest.raises(TypeError, match="starting_offset"):
        KafkaSource(["b:1"], ["t"], starting_offset="earliest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        KafkaSource([], ["t"])
    with pytest.raises(TypeError, match="add_config"):
        KafkaSource(["b:1"], ["t"], add_config=[("a", "b")])  # type: ignore[arg-type]


class FakeError:
    """What librdkafka hands error_cb: a code and a text."""

    def __init__(self, code: int, text: str) -> None:
        self._code, self._text = code, text

    def code(self) -> int:
        return self._code

    def str(self) -> str:
        return self._text


def test_a_refusal_reported_while_retrying_becomes_an_authentication_error_saying_so_first():
    from confluent_kafka import KafkaError as CKError

    from bytewax_kafka.core import KafkaAuthenticationError, KafkaTimeoutError
    from bytewax_kafka.core.config import ClientErrors

    errors = ClientErrors({"sasl.password": "hunter2-secret"})
    errors(FakeError(CKError._TRANSPORT, "b:1/bootstrap: Connect failed"))
    plain = errors.timeout_error("no Kafka broker at b:1 answered")
    assert type(plain) is KafkaTimeoutError
    assert "Connect failed" in str(plain)

    errors(FakeError(CKError._AUTHENTICATION, "SASL authentication error: bad hunter2-secret"))
    refused = errors.timeout_error("no Kafka broker at b:1 answered")
    assert isinstance(refused, KafkaAuthenticationError)
    assert isinstance(refused, KafkaTimeoutError)  # what was raised before
    assert str(refused).startswith("the broker refused the client's credentials (SASL authentication error")
    assert "no Kafka broker at b:1 answered" in str(refused)
    assert "hunter2-secret" not in str(refused)
    assert refused.tls is False

    tls = ClientErrors({})
    tls(FakeError(CKError._SSL, "SSL handshake failed: certificate verify failed"))
    failed = tls.timeout_error("no Kafka broker at b:1 answered")
    assert isinstance(failed, KafkaAuthenticationError)
    assert str(failed).startswith("the TLS handshake with the broker failed (SSL handshake failed")
    assert failed.tls is True


def test_a_refused_delivery_is_both_a_delivery_and_an_authentication_error():
    from bytewax_kafka.core import KafkaAuthenticationError, KafkaDeliveryError, KafkaDeliveryRefusedError

    err = KafkaDeliveryRefusedError(
        "out", -1, "Local: Message timed out", 3, cause="SASL authentication error"
    )
    assert isinstance(err, KafkaDeliveryError)
    assert isinstance(err, KafkaAuthenticationError)
    assert str(err).startswith("the broker refused the client's credentials (SASL authentication error): ")
    assert "delivery to topic 'out' unassigned partition failed" in str(err)
    assert "(2 more failed)" in str(err)
    assert (err.topic, err.failed, err.cause) == ("out", 3, "SASL authentication error")
