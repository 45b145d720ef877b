"""Shared helpers for the kafka-testing suite: process checks through /proc.

``pytester`` is enabled in test_testing_plugin.py itself: pytest refuses
``pytest_plugins`` in a conftest.py below the rootdir.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest


def pid_running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # reaped between the two checks
        return False
    # The state follows the parenthesised command name, which may hold spaces.
    state = stat.rsplit(")", 1)[1].split()[0]
    if state not in ("Z", "X"):
        return True
    # A zombie leader whose other threads still exit keeps its sockets open:
    # the process is gone only once its last thread is.
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def wait_pid_gone(pid: int, timeout: float = 15.0) -> None:
    """Fail unless ``pid`` has ended within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while pid_running(pid):
        if time.monotonic() > deadline:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            pytest.fail(f"process {pid} still runs after {timeout}s: {cmd[:200]!r}")
        time.sleep(0.05)


def child_pids(parent: int) -> list[int]:
    """PIDs whose parent is ``parent``, found by scanning /proc/*/status."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("PPid:"):
                if int(line.split()[1]) == parent:
                    found.append(int(entry.name))
                break
    return sorted(found)


def cmdline(pid: int) -> str:
    """The command line of ``pid`` with spaces between arguments ('' when gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def port_open(address: str) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def wait_port_closed(address: str, timeout: float = 15.0) -> None:
    """Fail unless nothing accepts connections at ``address`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while port_open(address):
        if time.monotonic() > deadline:
            pytest.fail(f"{address} still accepts connections after {timeout}s")
        time.sleep(0.1)


class ProcTools:
    """The helpers above, handed to tests as the ``proc`` fixture."""

    running = staticmethod(pid_running)
    wait_gone = staticmethod(wait_pid_gone)
    children = staticmethod(child_pids)
    cmdline = staticmethod(cmdline)
    port_open = staticmethod(port_open)
    wait_closed = staticmethod(wait_port_closed)


@pytest.fixture
def proc() -> type[ProcTools]:
    """Process and port checks through /proc (no psutil)."""
    return ProcTools
