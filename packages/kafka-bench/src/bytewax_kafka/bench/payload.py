"""What benchmark messages carry: a send time and a sequence number, padded to a size.

Every message value starts (in its format) with the time it was produced, or
in fixed-rate mode the time it was *meant* to be sent (nanoseconds since the
epoch), and a sequence number unique within the cell; the rest is padding up
to the cell's message size. The reader decodes both from each output message:
the sequence number proves that no message was lost, the time gives the
end-to-end latency.

Formats (a cell's ``serde``):

- ``none``: raw bytes, ``>QQ`` (time, sequence) then ``x`` padding.
- ``json``: ``{"t": time, "seq": n, "pad": "xxx..."}`` as compact UTF-8 JSON.
- ``avro``: the same record as plain Avro (no registry framing).
- ``registry-avro``: the schema-registry wire format: magic byte 0, a 4-byte
  schema id, then the Avro record.

Example:
    >>> codec = codec_for("none")
    >>> v = codec.encode(1_700_000_000_000_000_000, 7, 100)
    >>> len(v), codec.decode(v)
    (100, (1700000000000000000, 7))
"""

from __future__ import annotations

import io
import struct
from typing import Any

__all__ = [
    "AVRO_SCHEMA",
    "HEADER",
    "KEY_DISTRIBUTIONS",
    "SERDES",
    "Codec",
    "KeyChooser",
    "codec_for",
    "decode_raw",
    "encode_raw",
    "key_for",
]

#: The raw header: send time (ns since the epoch), sequence number; big-endian.
HEADER = struct.Struct(">QQ")

#: Formats a cell's ``serde`` may name.
SERDES = ("none", "json", "avro", "registry-avro")

#: Key distributions a cell's ``keys`` may name.
KEY_DISTRIBUTIONS = ("none", "sequential", "uniform", "zipf")

#: The record every Avro-encoded benchmark value holds.
AVRO_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "BenchValue",
    "namespace": "bytewax_kafka.bench",
    "fields": [
        {"name": "t", "type": "long"},
        {"name": "seq", "type": "long"},
        {"name": "pad", "type": "string"},
    ],
}

#: Schema id the registry-framed input carries; the flow registers the schema
#: in its (mock) registry first and checks it got this id.
REGISTRY_SCHEMA_ID = 1


def encode_raw(t_ns: int, seq: int, size: int) -> bytes:
    """The raw value: header, then padding to ``size`` bytes (at least the header)."""
    return HEADER.pack(t_ns, seq) + b"x" * (size - HEADER.size)


def decode_raw(value: bytes) -> tuple[int, int]:
    """``(time_ns, seq)`` from a raw value."""
    t, seq = HEADER.unpack_from(value)
    return int(t), int(seq)


class Codec:
    """Encodes and decodes benchmark values in one format."""

    name = "none"

    def encode(self, t_ns: int, seq: int, size: int) -> bytes:
        """A value of about ``size`` bytes carrying ``t_ns`` and ``seq``."""
        return encode_raw(t_ns, seq, size)

    def decode(self, value: bytes) -> tuple[int, int]:
        """``(time_ns, seq)`` carried by ``value``."""
        return decode_raw(value)


class _JsonCodec(Codec):
    name = "json"

    def __init__(self) -> None:
        import orjson

        self._dumps = orjson.dumps
        self._loads = orjson.loads

    def encode(self, t_ns: int, seq: int, size: int) -> bytes:
        base = len(self._dumps({"t": t_ns, "seq": seq, "pad": ""}))
        return self._dumps({"t": t_ns, "seq": seq, "pad": "x" * max(0, size - base)})

    def decode(self, value: bytes) -> tuple[int, int]:
        d = self._loads(value)
        return int(d["t"]), int(d["seq"])


def _varint_len(n: int) -> int:
    n = (n << 1) ^ (n >> 63)  # zig-zag
    length = 1
    while n >= 0x80:
        n >>= 7
        length += 1
    return length


class _AvroCodec(Codec):
    name = "avro"
    prefix = b""

    def __init__(self) -> None:
        from fastavro import parse_schema, schemaless_reader, schemaless_writer

        self._schema = parse_schema(AVRO_SCHEMA)
        self._reader = schemaless_reader
        self._writer = schemaless_writer

    def encode(self, t_ns: int, seq: int, size: int) -> bytes:
        fixed = len(self.prefix) + _varint_len(t_ns) + _varint_len(seq)
        pad = max(0, size - fixed - 1)
        pad = max(0, size - fixed - _varint_len(pad))
        out = io.BytesIO()
        out.write(self.prefix)
        self._writer(out, self._schema, {"t": t_ns, "seq": seq, "pad": "x" * pad})
        return out.getvalue()

    def decode(self, value: bytes) -> tuple[int, int]:
        buf = io.BytesIO(value)
        buf.seek(len(self.prefix))
        d: Any = self._reader(buf, self._schema)
        return int(d["t"]), int(d["seq"])


class _RegistryAvroCodec(_AvroCodec):
    name = "registry-avro"
    prefix = b"\x00" + REGISTRY_SCHEMA_ID.to_bytes(4, "big")

    def decode(self, value: bytes) -> tuple[int, int]:
        # Any schema id: the flow's serializer registers the output subject itself.
        buf = io.BytesIO(value)
        buf.seek(5)
        d: Any = self._reader(buf, self._schema)
        return int(d["t"]), int(d["seq"])


def codec_for(serde: str) -> Codec:
    """The codec for a cell's ``serde`` (one of :data:`SERDES`).

    Raises:
        ValueError: For an unknown format.
    """
    if serde == "none":
        return Codec()
    if serde == "json":
        return _JsonCodec()
    if serde == "avro":
        return _AvroCodec()
    if serde == "registry-avro":
        return _RegistryAvroCodec()
    raise ValueError(f"unknown serde {serde!r}; use one of {', '.join(SERDES)}")


class KeyChooser:
    """Message keys following a distribution over ``key_space`` distinct keys.

    ``none`` gives keyless messages (the partitioner spreads them),
    ``sequential`` cycles through the keys, ``uniform`` picks at random,
    ``zipf`` favours low-numbered keys (skew: a few hot keys, so a few hot
    partitions). Deterministic for a given seed.
    """

    def __init__(self, distribution: str, key_space: int, seed: int = 0) -> None:
        import random

        if distribution not in KEY_DISTRIBUTIONS:
            raise ValueError(f"unknown key distribution {distribution!r}; use one of {KEY_DISTRIBUTIONS}")
        self.distribution = distribution
        self.keys = [f"key-{i:08d}".encode() for i in range(max(1, key_space))]
        self._rng = random.Random(seed)
        self._i = 0
        self._weights: list[float] | None = None
        if distribution == "zipf":
            acc = 0.0
            cum = []
            for i in range(len(self.keys)):
                acc += 1.0 / (i + 1)
                cum.append(acc)
            self._weights = cum

    def next(self) -> bytes | None:
        """The key of the next message."""
        d = self.distribution
        if d == "none":
            return None
        if d == "sequential":
            k = self.keys[self._i % len(self.keys)]
            self._i += 1
            return k
        if d == "uniform":
            return self.keys[self._rng.randrange(len(self.keys))]
        return self._rng.choices(self.keys, cum_weights=self._weights, k=1)[0]


def key_for(distribution: str, key_space: int, seed: int = 0) -> KeyChooser:
    """A :class:`KeyChooser` (shorthand)."""
    return KeyChooser(distribution, key_space, seed)
