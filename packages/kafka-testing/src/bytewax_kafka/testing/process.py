"""Child processes that never outlive the test session that started them.

Every broker process is started in its own session (so a signal to the
process group reaches all of it), asked to die with its parent where Linux
allows (``PR_SET_PDEATHSIG``), tracked in a module registry that an
``atexit`` hook empties, and stopped with SIGTERM then SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()

_PR_SET_PDEATHSIG = 1


def _load_libc() -> ctypes.CDLL | None:
    """Load libc in the parent: a forked child must not run the dynamic loader."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies.

    The signal comes when the *thread* that forked the child ends, so start
    long-lived brokers from a thread that lives as long as they should. When
    the parent died before ``prctl`` took effect, the child exits at once.
    """
    libc = _LIBC

    def setup() -> None:  # pragma: no cover - runs in the child
        if libc is None:
            return
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


def tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a text file, or a note that it is missing."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    return "\n".join(data.splitlines()[-lines:])


class ManagedProcess:
    """One child process writing stdout and stderr to a log file.

    Args:
        argv: Program and arguments.
        log_path: File that receives the process's output (appended to, so a
            restarted process keeps its earlier log).
        env: Extra environment variables.
        cwd: Working directory.

    Example:
        >>> p = ManagedProcess(["sleep", "30"], Path("/tmp/sleep.log"))
        >>> p.start(); p.stop()
    """

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env or {})
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running process, or None when not started."""
        return self._popen.pid if self._popen is not None else None

    def start(self) -> None:
        """Start the process; a no-op when it is already running."""
        if self.alive():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        preexec = _die_with_parent(os.getpid()) if _LIBC is not None else None
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=preexec,
            )
        with _LIVE_LOCK:
            _LIVE.add(self)

    def alive(self) -> bool:
        """True while the process runs."""
        return self._popen is not None and self._popen.poll() is None

    def returncode(self) -> int | None:
        """Exit code once the process has ended, else None."""
        return None if self._popen is None else self._popen.poll()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group (no-op when it has ended)."""
        if self.alive() and self._popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process group and reap it."""
        if self._popen is None:
            return
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=10)
        self._forget()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        if self._popen is None:
            return
        if self.alive():
            self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
            self.signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._popen.wait(timeout=10)
        self._forget()

    def _forget(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)


def stop_all(timeout: float = 5.0) -> None:
    """Stop every process this interpreter started and has not stopped."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        proc.stop(timeout=timeout)


atexit.register(stop_all)
