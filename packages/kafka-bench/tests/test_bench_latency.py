"""Message payloads (send time + sequence), keys, the latency histogram, steady-state rates."""

from __future__ import annotations

import collections
import itertools

import pytest

from bytewax_kafka.bench.latency import LatencyHistogram
from bytewax_kafka.bench.payload import SERDES, KeyChooser, codec_for, decode_raw, encode_raw
from bytewax_kafka.bench.run.measure import steady_rate

T = 1_795_000_000_123_456_789


@pytest.mark.parametrize("serde", SERDES)
@pytest.mark.parametrize("size", [16, 100, 1000])
def test_codecs_round_trip_time_and_sequence(serde, size):
    codec = codec_for(serde)
    for seq in (0, 1, 2**40 + 7):
        value = codec.encode(T, seq, size)
        assert codec.decode(value) == (T, seq)
        if serde == "none":
            assert len(value) == size
        elif size >= 100:
            assert abs(len(value) - size) <= 2


def test_raw_layout_is_big_endian_time_then_sequence():
    v = encode_raw(1, 2, 20)
    assert v == b"\x00" * 7 + b"\x01" + b"\x00" * 7 + b"\x02" + b"xxxx"
    assert decode_raw(v) == (1, 2)


def test_registry_framing_carries_magic_byte_and_schema_id():
    v = codec_for("registry-avro").encode(T, 5, 100)
    assert v[:5] == b"\x00\x00\x00\x00\x01"
    assert codec_for("avro").decode(v[5:]) == (T, 5)


def test_unknown_serde():
    with pytest.raises(ValueError, match="unknown serde 'xml'"):
        codec_for("xml")


def test_key_distributions():
    assert KeyChooser("none", 10).next() is None
    seq = KeyChooser("sequential", 3)
    assert [seq.next() for _ in range(4)] == [
        b"key-00000000",
        b"key-00000001",
        b"key-00000002",
        b"key-00000000",
    ]
    chooser = KeyChooser("uniform", 10, seed=1)
    uniform = collections.Counter(chooser.next() for _ in range(10_000))
    assert len(uniform) == 10
    assert min(uniform.values()) > 800
    chooser = KeyChooser("zipf", 100, seed=1)
    zipf = collections.Counter(chooser.next() for _ in range(10_000))
    assert zipf[b"key-00000000"] > 5 * zipf.get(b"key-00000050", 1)
    with pytest.raises(ValueError, match="unknown key distribution"):
        KeyChooser("gauss", 1)


def test_histogram_percentiles_of_a_known_distribution():
    h = LatencyHistogram()
    for us in range(1, 10_001):  # 1 µs .. 10 ms, uniform
        h.record_ns(us * 1000)
    s = h.summary()
    assert s["count"] == 10_000
    assert s["p50_ms"] == pytest.approx(5.0, rel=0.002)
    assert s["p90_ms"] == pytest.approx(9.0, rel=0.002)
    assert s["p99_ms"] == pytest.approx(9.9, rel=0.002)
    assert s["p99_9_ms"] == pytest.approx(9.99, rel=0.002)
    assert s["max_ms"] == pytest.approx(10.0, rel=0.002)
    assert s["mean_ms"] == pytest.approx(5.0, rel=0.01)
    cdf = h.cdf()
    assert next(p for p, _ in cdf) == 0.0
    assert cdf[-1][0] == 100.0
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(cdf))


def test_histogram_clamps_and_round_trips():
    h = LatencyHistogram()
    h.record_ns(-5)  # a clock step: counted as the smallest latency, never dropped
    h.record_ns(10**18)
    assert h.count == 2
    again = LatencyHistogram.decode(h.encode())
    assert again.summary() == h.summary()
    again.add(h)
    assert again.count == 4


def test_empty_histogram_summary():
    s = LatencyHistogram().summary()
    assert s["count"] == 0
    assert s["p99_ms"] is None
    assert LatencyHistogram().cdf() == []


def test_steady_rate_excludes_the_warmup():
    # 1000 messages: the first 100 over 10 s (slow start), then 900 over 1 s.
    times = [i * 0.1 for i in range(100)] + [10 + i / 900 for i in range(900)]
    rate, n, window = steady_rate(times, "10%")
    assert n == 900
    assert rate == pytest.approx(899 / window)
    assert rate == pytest.approx(900, rel=0.01)
    rate_s, _, _ = steady_rate(times, 10.0)
    assert rate_s == pytest.approx(900, rel=0.01)
    assert steady_rate([1.0], "10%")[0] is None
    assert steady_rate([1.0, 1.0], "0%")[0] is None
