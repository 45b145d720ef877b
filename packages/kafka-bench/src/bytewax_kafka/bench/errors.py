"""Errors of kafka-bench: a bad scenario, a cell that could not be measured, unreadable results."""

from __future__ import annotations

__all__ = ["BenchError", "CellFailed", "HandoffError", "ResultsError", "ScenarioError"]


class BenchError(Exception):
    """Base class of every kafka-bench error."""


class ScenarioError(BenchError, ValueError):
    """A scenario file, a goals file, or an override of one is invalid; the message says where."""


class CellFailed(BenchError):
    """A cell could not be measured (lost messages, a crashed flow, a stall); the message says why."""


class HandoffError(BenchError, RuntimeError):
    """A benchmark subprocess was started without a valid cell in its environment."""


class ResultsError(BenchError, ValueError):
    """A file is not a kafka-bench results document (or not one this version reads)."""
