"""Running cells: brokers, the flow's processes, input, load, reading the output back, measuring.

- :mod:`.loop`: many cells, broker by broker (a warm-up after each start,
  message counts sized from a probe).
- :mod:`.cells`: one cell, by mode; :mod:`.search` the max-sustainable-rate search.
- :mod:`.brokers`: which broker runs (``auto``), starting it.
- :mod:`.processes`: the flow's processes, their CPU, memory and run-queue time.
- :mod:`.reader`: the thread that reads the output topic.
- :mod:`.feed`: pre-filling the input, probes.
- :mod:`.loadgen`: the locust load generator as a subprocess.
- :mod:`.measure`: rates, busy CPU and latency from what was read.
- :mod:`.progress`: what the runner tells about its progress.
- :mod:`.environment`: the machine and software a run measured.
"""
