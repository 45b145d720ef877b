"""Run a dataflow as several bytewax processes on free loopback ports.

``python -m bytewax.testing -p N`` always uses ports 2101, 2102, ...: two
runs at once (or a run right after a killed one still holding them) collide.
This does the same on ports the OS hands out::

    python -m bytewax_kafka.testing.processes -p 2 flow_module:flow -s 1 -r DIR

Everything after the import string goes to each ``python -m bytewax.run``.
Exits 0 when every process did; otherwise stops the others and exits with
the first failing code. Run it in its own session (``start_new_session``) to
SIGKILL the whole group at once.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from bytewax_kafka.testing.ports import LOOPBACK, free_ports


def commands(import_str: str, processes: int, extra: Sequence[str]) -> list[list[str]]:
    """One ``bytewax.run`` command per process, sharing a fresh address list."""
    addresses = ";".join(f"{LOOPBACK}:{p}" for p in free_ports(processes))
    return [
        [sys.executable, "-m", "bytewax.run", import_str, "-i", str(i), "-a", addresses, *extra]
        for i in range(processes)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    p = argparse.ArgumentParser(
        prog="python -m bytewax_kafka.testing.processes",
        description="Run a bytewax dataflow as several processes on free loopback ports.",
    )
    p.add_argument("-p", "--processes", type=int, required=True, help="number of processes")
    p.add_argument("import_str", help="dataflow import string, e.g. module:flow")
    args, extra = p.parse_known_args(argv)
    if args.processes < 1:
        p.error("--processes must be >= 1")
    procs = [subprocess.Popen(cmd) for cmd in commands(args.import_str, args.processes, extra)]

    def stop(signum: int, _frame: object) -> None:
        for proc in procs:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while procs:
        for proc in list(procs):
            rc = proc.poll()
            if rc is None:
                continue
            procs.remove(proc)
            if rc != 0 and code == 0:
                code = rc
                for other in procs:
                    other.terminate()
        time.sleep(0.05)
    return code


if __name__ == "__main__":
    sys.exit(main())
