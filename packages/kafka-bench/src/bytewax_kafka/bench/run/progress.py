"""What the runner tells about its progress: :class:`Progress`, and :class:`QuietProgress` that tells nothing.

The terminal's rich progress bars (:mod:`bytewax_kafka.bench.report.terminal`)
implement the same protocol.
"""

from __future__ import annotations

from typing import Protocol

from bytewax_kafka.bench.define.cell import Cell, CellResult

__all__ = ["Progress", "QuietProgress"]


class Progress(Protocol):
    """What the runner tells about its progress."""

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        """A cell begins."""

    def cell_progress(self, phase: str, done: int, total: int | None) -> None:
        """Within a cell: ``phase`` (prefill, starting, running, load, draining, ...) and counts."""

    def cell_finished(self, cell: Cell, result: CellResult) -> None:
        """A cell ended (ok, failed or skipped)."""

    def log(self, message: str) -> None:
        """A line worth showing (broker started, ...)."""

    def notice(self, message: str) -> None:
        """A line the reader must not miss (a fallback broker, a busy machine)."""


class QuietProgress:
    """A :class:`Progress` that prints nothing."""

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        """Do nothing."""

    def cell_progress(self, phase: str, done: int, total: int | None) -> None:
        """Do nothing."""

    def cell_finished(self, cell: Cell, result: CellResult) -> None:
        """Do nothing."""

    def log(self, message: str) -> None:
        """Do nothing."""

    def notice(self, message: str) -> None:
        """Do nothing."""
