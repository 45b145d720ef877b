"""Serializers and deserializers for Bytewax Kafka flows."""

__version__ = "0.1.0"

__all__ = ["__version__"]
