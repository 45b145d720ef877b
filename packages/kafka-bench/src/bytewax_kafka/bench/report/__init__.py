"""Reports of runs: the results document, the metric registry, tables, plots, comparisons, goals.

- :mod:`.document`: :class:`~bytewax_kafka.bench.report.document.Results`,
  the one owner of ``results.json``.
- :mod:`.metrics`: the registry of metrics and ratios.
- :mod:`.stats`: medians with their spread.
- :mod:`.summary`, :mod:`.tables`, :mod:`.markdown`, :mod:`.html`: the report.
- :mod:`.plots`: the PNG plots.
- :mod:`.compare`: two runs, judged against their noise.
- :mod:`.goals`: goals from a file of your own.
- :mod:`.terminal`: progress bars and the summary on the terminal.
"""
