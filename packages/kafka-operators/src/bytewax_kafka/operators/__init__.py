"""Kafka operators for Bytewax: input, output, (de)serialization and dead letters."""

__version__ = "0.1.0"

__all__ = ["__version__"]
