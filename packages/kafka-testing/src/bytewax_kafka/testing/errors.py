"""Errors raised by the broker launchers."""

from __future__ import annotations


class BrokerError(RuntimeError):
    """Base class of every error raised by a broker launcher."""


class BrokerStartError(BrokerError):
    """A broker did not become ready.

    The message includes the tail of the broker's log so a failed start can be
    diagnosed from a test report alone.
    """


class BrokerUnavailable(BrokerError):
    """A broker of this kind cannot run on this machine (no Docker engine, no Java, ...).

    The message says what is missing; the pytest plugin turns it into a skip
    with that reason.
    """


class JarsUnavailable(BrokerUnavailable):
    """The Apache Kafka jars could not be found or fetched."""
