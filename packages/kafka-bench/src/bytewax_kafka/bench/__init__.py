"""Benchmark sweeps for Bytewax with Kafka, laid out as define / run / report.

- :mod:`bytewax_kafka.bench.define`: what a benchmark is (cells, variants, scenarios).
- :mod:`bytewax_kafka.bench.run`: running cells against real brokers.
- :mod:`bytewax_kafka.bench.report`: the results document and everything read from it.
- :mod:`bytewax_kafka.bench.flows`, :mod:`bytewax_kafka.bench.raw`,
  :mod:`bytewax_kafka.bench.load`: the processes kafka-bench starts.
- :mod:`bytewax_kafka.bench.cli`: the ``kafka-bench`` command.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
