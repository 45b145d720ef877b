"""Kafka source and sink for Bytewax."""

__version__ = "0.1.0"

__all__ = ["__version__"]
