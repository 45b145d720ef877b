"""What one cell's procedure works with: the cell, its broker and topics, the flow, the reader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bytewax_kafka.bench.define.cell import Cell, CellResult
from bytewax_kafka.bench.run.brokers import Target
from bytewax_kafka.bench.run.processes import FlowProcesses
from bytewax_kafka.bench.run.progress import Progress
from bytewax_kafka.bench.run.reader import Reader

__all__ = ["CellRun"]


@dataclass
class CellRun:
    """Everything one cell's procedure works with."""

    cell: Cell
    target: Target
    src: str
    dst: str
    flow: FlowProcesses
    reader: Reader
    deadline: float
    progress: Progress
    log_dir: Path
    result: CellResult

    def finish_flow(self) -> None:
        """Sample the flow a last time, stop it, stop reading."""
        self.flow.sample()
        self.flow.stop()
        self.reader.stop()
