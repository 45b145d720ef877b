"""What a benchmark is: cells and their results, flow variants, scenario files, matrix expansion.

- :mod:`.cell`: :class:`~bytewax_kafka.bench.define.cell.Cell`,
  :class:`~bytewax_kafka.bench.define.cell.CellResult`, the limits and the one
  cell label.
- :mod:`.variants`: the registry of flow variants (how each starts, what
  readers call it).
- :mod:`.handoff`: how a cell reaches the flow and load subprocesses.
- :mod:`.scenario` and :mod:`.matrix`: scenario files, their expansion into
  cells, command-line overrides.
- :mod:`.catalog`: the scenarios shipped with the package, by name.
"""
