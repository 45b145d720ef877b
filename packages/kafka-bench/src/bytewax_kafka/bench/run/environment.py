"""The machine and software a run measured: recorded with every result."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

__all__ = ["collect_environment", "cpu_model", "loadavg"]

_DISTRIBUTIONS = (
    "bytewax",
    "confluent-kafka",
    "bytewax-kafka-core",
    "bytewax-kafka-operators",
    "bytewax-kafka-serde",
    "bytewax-kafka-testing",
    "bytewax-kafka-bench",
    "locust",
    "fastavro",
    "orjson",
    "psutil",
    "numpy",
    "matplotlib",
)


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU model name from ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> float:
    return round(float(psutil.virtual_memory().total) / 1024**3, 1)


def loadavg() -> float | None:
    """The machine's 1-minute load average (None where the system keeps none)."""
    try:
        return round(float(psutil.getloadavg()[0]), 2)
    except (OSError, AttributeError):
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    """``git ARGS``' output, or None when git fails or is missing."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _git_commit() -> str | None:
    commit = _git("rev-parse", "--short", "HEAD")
    if commit is None:
        return None
    return commit + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")


def collect_environment() -> dict[str, Any]:
    """CPU model and count, memory, OS, Python and library versions, git commit."""
    import confluent_kafka

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    return {
        "cpu_model": cpu_model(),
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_cores": psutil.cpu_count(logical=False),
        "cpu_usable": usable,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "librdkafka": confluent_kafka.libversion()[0],
        "packages": {d: _version(d) for d in _DISTRIBUTIONS},
        "git_commit": _git_commit(),
        "loadavg_at_start": loadavg(),
    }
