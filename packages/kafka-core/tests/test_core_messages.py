import dataclasses
import pickle

import pytest
from confluent_kafka import KafkaError as CKError

from bytewax_kafka.core import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.core.messages import _source_message, to_sink_message


def full_source(**over):
    fields = {
        "key": b"k",
        "value": b"v",
        "topic": "t",
        "headers": [("h", b"1"), ("n", None)],
        "latency": None,
        "offset": 41,
        "partition": 3,
        "timestamp": (1, 1_700_000_000_000),
    }
    fields.update(over)
    return fields


def test_fast_constructor_builds_the_same_message():
    f = full_source()
    fast = _source_message(*f.values())
    slow = KafkaSourceMessage(**f)
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert type(fast) is KafkaSourceMessage


def test_messages_are_frozen():
    m = KafkaSourceMessage(**full_source())
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.value = b"x"  # type: ignore[misc]
    s = KafkaSinkMessage(b"k", b"v")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.topic = "x"  # type: ignore[misc]


def test_messages_pickle_round_trip():
    # Items cross process boundaries in multi-process flows.
    m = _source_message(*full_source().values())
    assert pickle.loads(pickle.dumps(m)) == m
    s = KafkaSinkMessage(b"k", b"v", "t", [("a", b"b")], 2, 123)
    assert pickle.loads(pickle.dumps(s)) == s
    e = KafkaError(CKError(CKError._BAD_MSG, "bad"), m)
    back = pickle.loads(pickle.dumps(e))
    assert back.msg == m
    assert back.err.code() == CKError._BAD_MSG


def test_to_sink_keeps_key_value_headers_and_timestamp():
    # Field notes defect 9: the reference drops the timestamp.
    m = KafkaSourceMessage(**full_source())
    s = m.to_sink()
    assert s == KafkaSinkMessage(
        key=b"k",
        value=b"v",
        topic=None,
        headers=[("h", b"1"), ("n", None)],
        partition=None,
        timestamp=1_700_000_000_000,
    )


def test_to_sink_without_broker_timestamp_lets_producer_stamp():
    assert KafkaSourceMessage(b"k", b"v", timestamp=(0, -1)).to_sink().timestamp == 0
    assert KafkaSourceMessage(b"k", b"v").to_sink().timestamp == 0


def test_with_helpers_change_only_what_they_name():
    m = KafkaSourceMessage(**full_source())
    assert m._with_key("K") == dataclasses.replace(m, key="K")
    assert m._with_value({"a": 1}).value == {"a": 1}
    both = m._with_key_and_value(1, 2)
    assert (both.key, both.value, both.offset, both.partition) == (1, 2, 41, 3)
    s = KafkaSinkMessage(b"k", b"v", "t", partition=1, timestamp=5)
    assert s._with_value("x") == KafkaSinkMessage(b"k", "x", "t", partition=1, timestamp=5)


def test_to_sink_message_accepts_both_and_rejects_others():
    s = KafkaSinkMessage(None, b"v")
    assert to_sink_message(s) is s
    assert to_sink_message(KafkaSourceMessage(b"k", b"v", "t")).value == b"v"
    with pytest.raises(TypeError, match="got dict"):
        to_sink_message({"value": b"v"})


def test_sink_message_fields_are_read_only_and_set_once():
    s = KafkaSinkMessage(b"k", b"v", "t", [("a", b"b")], 2, 123)
    for name in ("key", "value", "topic", "headers", "partition", "timestamp"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(s, name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(s, name)
    assert (s.key, s.value, s.topic, s.headers, s.partition, s.timestamp) == (
        b"k",
        b"v",
        "t",
        [("a", b"b")],
        2,
        123,
    )
    assert hash(KafkaSinkMessage(b"k", b"v")) == hash(KafkaSinkMessage(b"k", b"v", headers=[]))
    assert dataclasses.asdict(KafkaSinkMessage(b"k", None)) == {
        "key": b"k",
        "value": None,
        "topic": None,
        "headers": (),
        "partition": None,
        "timestamp": 0,
    }


def test_empty_headers_are_one_shared_tuple():
    assert KafkaSinkMessage(b"k", b"v").headers is KafkaSinkMessage(b"k", b"v", headers=[]).headers == ()
    assert KafkaSourceMessage(b"k", b"v").headers == ()
    assert KafkaSinkMessage(b"k", b"v") == KafkaSinkMessage(b"k", b"v", headers=None)


def test_generic_aliases_construct():
    # typing sets __orig_class__ on the result; a frozen slotted dataclass raised TypeError there.
    assert KafkaSinkMessage[bytes, bytes](b"k", b"v").value == b"v"
    assert KafkaSourceMessage[bytes, bytes](b"k", b"v").value == b"v"
    err = KafkaError[bytes, bytes](CKError(CKError._BAD_MSG, "bad"), KafkaSourceMessage(None, None))
    assert err.msg.key is None


def test_a_frozen_dataclass_subclass_of_a_sink_message_works():
    @dataclasses.dataclass(frozen=True)
    class Tagged(KafkaSinkMessage):  # type: ignore[type-arg]
        tag: str = ""

    t = Tagged(b"k", b"v", tag="x")
    assert (t.key, t.value, t.tag) == (b"k", b"v", "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.key = b"other"  # type: ignore[misc]
    assert dataclasses.replace(t, tag="y").tag == "y"
