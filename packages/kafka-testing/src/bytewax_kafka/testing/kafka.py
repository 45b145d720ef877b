"""Apache Kafka in KRaft mode, as real JVM processes on loopback.

Each node runs ``kafka.Kafka`` in combined mode (broker and controller in one
process); a cluster of ``n`` nodes is a static quorum of ``n`` voters. Data
lives on disk under ``workdir``, so a node can be stopped or SIGKILLed and
restarted with its topics and records.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bytewax_kafka.testing.broker import Broker, wait_for_metadata
from bytewax_kafka.testing.errors import BrokerStartError, BrokerUnavailable
from bytewax_kafka.testing.jars import kafka_libs, kafka_version
from bytewax_kafka.testing.ports import LOOPBACK, free_ports, refuse_busy_ports
from bytewax_kafka.testing.process import ManagedProcess, tail
from bytewax_kafka.testing.proxied import ProxiedListeners
from bytewax_kafka.testing.security import KafkaSecurity

if TYPE_CHECKING:
    from bytewax_kafka.testing.faults import NetworkFaults

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""

DEFAULT_JVM_OPTS = ("-Xmx512m", "-Xms128m", "-XX:+UseG1GC", "-Djava.awt.headless=true")


def java_bin() -> str:
    """Path of the ``java`` launcher (``JAVA_HOME`` first, then PATH).

    Raises:
        BrokerUnavailable: When no Java runtime is found.
    """
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerUnavailable(
            "Apache Kafka needs Java 17 or newer: no 'java' on PATH and JAVA_HOME is not set"
        )
    return found


class KafkaNode:
    """One Apache Kafka process of a KRaft quorum.

    Created by :class:`ApacheKafka` / :class:`ApacheKafkaCluster`; tests use it
    to stop, kill, pause and restart single nodes.
    """

    def __init__(
        self,
        *,
        node_id: int,
        broker_port: int,
        controller_port: int,
        workdir: Path,
        properties: dict[str, str],
        libs: Path,
        jvm_opts: tuple[str, ...],
        cluster_id: str,
        format_args: Sequence[str] = (),
        client_ports: Mapping[str, int] | None = None,
    ) -> None:
        self.node_id = node_id
        #: Extra ``kafka-storage format`` arguments (SCRAM users).
        self.format_args = list(format_args)
        #: Ports of the secured client listeners, by protocol (none by default).
        self.client_ports = dict(client_ports or {})
        self.broker_port = broker_port
        self.controller_port = controller_port
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.properties = properties
        self.libs = libs
        self.cluster_id = cluster_id
        self.config_path = workdir / "server.properties"
        self.log_path = workdir / "kafka.log"
        log4j = workdir / "log4j2.properties"
        self._java = java_bin()
        self._cp = f"{libs}/*"
        self._jvm = [*jvm_opts, f"-Dlog4j2.configurationFile={log4j}"]
        #: True between start() and stop()/kill(): a death then is a crash.
        self.wanted = False
        self.process = ManagedProcess(
            [self._java, *self._jvm, "-cp", self._cp, "kafka.Kafka", str(self.config_path)],
            self.log_path,
            env={"KAFKA_LOG4J_OPTS": ""},
        )

    @property
    def bootstrap(self) -> str:
        """This node's ``PLAINTEXT`` address (with security: the internal listener)."""
        return f"{LOOPBACK}:{self.broker_port}"

    @property
    def pid(self) -> int | None:
        """PID of the JVM, or None when it is not running."""
        return self.process.pid if self.process.alive() else None

    def prepare(self) -> None:
        """Write the config and format the storage (only the first time)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "log4j2.properties").write_text(_LOG4J2.format(level="INFO"))
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in sorted(self.properties.items())))
        if (self.data_dir / "meta.properties").exists():
            return
        proc = subprocess.run(
            [
                self._java,
                *self._jvm,
                "-cp",
                self._cp,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(self.config_path),
                "--ignore-formatted",
                *self.format_args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise BrokerStartError(
                f"formatting Kafka node {self.node_id} storage failed (exit {proc.returncode}):\n"
                + (proc.stdout + proc.stderr)[-3000:]
            )

    def start(self) -> None:
        """Start the JVM (does not wait for readiness)."""
        self.wanted = True
        self.process.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Controlled shutdown: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self.wanted = False
        self.process.stop(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the JVM: no controlled shutdown, data stays on disk."""
        self.wanted = False
        self.process.kill()

    def pause(self) -> None:
        """SIGSTOP: the node stops answering but keeps its connections."""
        self.process.signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self.process.signal(signal.SIGCONT)

    def exited(self) -> str | None:
        """A reason when the process has ended, else None."""
        code = self.process.returncode()
        if not self.wanted or code is None:
            return None
        return f"node {self.node_id} exited with code {code}"


class ApacheKafkaCluster(Broker):
    """``n`` Apache Kafka nodes in KRaft combined mode, with replication.

    Args:
        n: Number of nodes (each is a broker and a controller voter).
        version: Kafka version; defaults to ``BYTEWAX_KAFKA_VERSION`` or 4.1.1.
        workdir: Folder for data and logs; a temporary one (removed on
            :meth:`stop`) when None.
        config: Extra ``server.properties`` entries for every node.
        jvm_opts: JVM options (default: 512 MiB heap).
        start_timeout: Seconds to wait for readiness.
        port: Client port of the first node (the others use the next ports);
            free ports chosen by the OS when None.
        security: TLS/SASL client listeners and ACLs
            (:class:`~bytewax_kafka.testing.KafkaSecurity`); None (default)
            keeps one ``PLAINTEXT`` listener.
        proxied: Give every node a second client listener advertised through
            its own Toxiproxy proxy (``proxied_bootstrap``; faults through
            ``faults``). Needs Toxiproxy (built once with Go).

    Example:
        >>> with ApacheKafkaCluster(3) as cluster:
        ...     cluster.kill_node(0)
        ...     cluster.restart_node(0)
    """

    kind = "kafka-cluster"
    features = frozenset(
        {
            "offsets_for_times",
            "high_watermark",
            "create_topics",
            "create_partitions",
            "delete_records",
            "transactions",
            "consumer_groups",
            "multi_broker",
            "restart_keeps_data",
        }
    )

    def __init__(
        self,
        n: int = 3,
        *,
        version: str | None = None,
        workdir: Path | str | None = None,
        config: Mapping[str, Any] | None = None,
        jvm_opts: tuple[str, ...] = DEFAULT_JVM_OPTS,
        start_timeout: float = 120.0,
        port: int | None = None,
        security: KafkaSecurity | None = None,
        proxied: bool = False,
    ) -> None:
        if n < 1:
            raise ValueError(f"a Kafka cluster needs at least one node, got n={n}")
        self.n = n
        self.expected_brokers = n
        self.version = version or kafka_version()
        self._own_workdir = workdir is None
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.workdir: Path | None = None
        self.extra_config = {k: str(v) for k, v in (config or {}).items()}
        self.jvm_opts = jvm_opts
        self.start_timeout = start_timeout
        self.cluster_id = _cluster_id()
        self.port = port
        self.security = security
        self.nodes: list[KafkaNode] = []
        if proxied and security is not None:
            raise ValueError(
                "proxied=True cannot be combined with security (the proxied listener is PLAINTEXT)"
            )
        self._proxied = ProxiedListeners() if proxied else None

    # -- layout -----------------------------------------------------------------

    def _properties(
        self,
        node_id: int,
        bport: int,
        cport: int,
        voters: str,
        data: Path,
        client_ports: Mapping[str, int] | None = None,
    ) -> dict[str, str]:
        rf = str(min(self.n, 3))
        isr = "1" if self.n == 1 else "2"
        listeners = f"PLAINTEXT://{LOOPBACK}:{bport},CONTROLLER://{LOOPBACK}:{cport}"
        advertised = f"PLAINTEXT://{LOOPBACK}:{bport}"
        protocol_map = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        if self.security is not None and client_ports:
            more, protocols = self.security.listener_entries(client_ports, LOOPBACK)
            listeners += "," + more
            advertised += "," + more
            protocol_map += "," + protocols
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node_id),
            "controller.quorum.voters": voters,
            "listeners": listeners,
            "advertised.listeners": advertised,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": protocol_map,
            "log.dirs": str(data),
            "num.partitions": "1",
            "default.replication.factor": rf,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.flush.interval.messages": str(2**62),
        }
        if self.security is not None:
            props.update(self.security.server_properties())
        props.update(self.extra_config)
        return props

    def _build_nodes(self) -> None:
        if self._workdir_arg is not None:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"bytewax-kafka-{self.kind}-"))
        libs = kafka_libs(self.version)
        protocols = self.security.listeners if self.security is not None else ()
        ports = free_ports((2 + len(protocols)) * self.n)
        bports, cports = ports[: self.n], ports[self.n : 2 * self.n]
        if self.port is not None:
            bports = [self.port + i for i in range(self.n)]
        extra = iter(ports[2 * self.n :])
        client_ports = [{p: next(extra) for p in protocols} for _ in range(self.n)]
        format_args = self.security.format_args() if self.security is not None else []
        voters = ",".join(f"{i + 1}@{LOOPBACK}:{cports[i]}" for i in range(self.n))
        self.nodes = []
        for i in range(self.n):
            wd = self.workdir / f"node-{i + 1}"
            self.nodes.append(
                KafkaNode(
                    node_id=i + 1,
                    broker_port=bports[i],
                    controller_port=cports[i],
                    workdir=wd,
                    properties=self._properties(
                        i + 1, bports[i], cports[i], voters, wd / "data", client_ports[i]
                    ),
                    libs=libs,
                    jvm_opts=self.jvm_opts,
                    cluster_id=self.cluster_id,
                    format_args=format_args,
                    client_ports=client_ports[i],
                )
            )
        if self._proxied is not None:
            self._proxied.configure(self.nodes)

    # -- Broker API -------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` list for ``bootstrap.servers``.

        With ``security``, the first secured client listener's: clients also
        need the settings of :meth:`client_config`.
        """
        if self.security is not None:
            return self.listener_bootstrap(self.security.listeners[0])
        return self.internal_bootstrap

    @property
    def internal_bootstrap(self) -> str:
        """The ``PLAINTEXT`` listeners' addresses (with security: no authentication, no ACLs)."""
        if not self.nodes:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return ",".join(node.bootstrap for node in self.nodes)

    def listener_bootstrap(self, protocol: str) -> str:
        """The addresses of the secured client listener speaking ``protocol``."""
        if not self.nodes:
            raise RuntimeError(f"{type(self).__name__} is not started")
        if self.security is None or protocol not in self.security.listeners:
            raise ValueError(f"this broker has no {protocol} listener")
        return ",".join(f"{LOOPBACK}:{node.client_ports[protocol]}" for node in self.nodes)

    def client_config(
        self,
        protocol: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        mechanism: str = "SCRAM-SHA-512",
    ) -> dict[str, Any]:
        """Settings a client needs: bootstrap, and with security the listener's protocol and credentials.

        Args:
            protocol: Which secured listener (default: the first).
            user: SASL user (default: the security settings' admin).
            password: Its password (default: the one in the users).
            mechanism: ``SCRAM-SHA-512`` or ``PLAIN``.
        """
        if self.security is None:
            return {"bootstrap.servers": self.bootstrap_servers}
        protocol = protocol or self.security.listeners[0]
        return self.security.client_config(
            self.listener_bootstrap(protocol), protocol, user=user, password=password, mechanism=mechanism
        )

    def start(self) -> None:
        """Format (first time only), start every node, wait for all to register."""
        if self._proxied is not None:
            self._proxied.check()
        if not self.nodes:
            self._build_nodes()
        if not any(node.wanted for node in self.nodes):
            ports = [
                p
                for node in self.nodes
                for p in (node.broker_port, node.controller_port, *node.client_ports.values())
            ]
            try:
                refuse_busy_ports(ports, f"Apache Kafka {self.version} ({self.kind})")
            except BrokerStartError:
                self.stop()
                raise
        try:
            if self._proxied is not None and self.workdir is not None:
                self._proxied.start(self.nodes, self.workdir)
            with ThreadPoolExecutor(max_workers=self.n) as pool:
                list(pool.map(lambda node: node.prepare(), self.nodes))
            for node in self.nodes:
                node.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the metadata lists every running node."""
        running = [n for n in self.nodes if n.wanted]
        wait_for_metadata(
            {"bootstrap.servers": ",".join(n.bootstrap for n in running) or self.bootstrap_servers},
            expected_brokers=len(running),
            timeout=timeout or self.start_timeout,
            what=f"Apache Kafka {self.version} ({self.kind})",
            log_tail=self.log_tail,
            still_running=self._dead_node,
            cluster_id=self.cluster_id,
        )

    def _dead_node(self) -> str | None:
        # Only nodes that are meant to run count: tests kill nodes on purpose.
        for node in self.nodes:
            reason = node.exited()
            if reason is not None:
                return reason
        return None

    def stop(self) -> None:
        """Stop every node (in parallel) and delete a temporary workdir."""
        if self.nodes:
            with ThreadPoolExecutor(max_workers=self.n) as pool:
                list(pool.map(lambda node: node.stop(timeout=10), self.nodes))
        if self._proxied is not None:
            self._proxied.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self.nodes = []

    # -- proxied listeners ----------------------------------------------------------

    @property
    def proxied_bootstrap(self) -> str:
        """The nodes' proxied listeners (through Toxiproxy), for the clients under test.

        Raises:
            RuntimeError: When the broker was not made with ``proxied=True`` or is not started.
        """
        return self._proxies().bootstrap

    @property
    def faults(self) -> NetworkFaults:
        """Network faults on the proxied listeners: every node's, or ``faults.node(i)``'s."""
        faults = self._proxies().faults
        if faults is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return faults

    @property
    def toxiproxy_api(self) -> str:
        """The Toxiproxy HTTP API's URL (proxies are named ``kafka-<node id>``)."""
        toxi = self._proxies().toxiproxy
        if toxi is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return toxi.api

    def proxied_config(self) -> dict[str, Any]:
        """Client settings that go through the proxies."""
        return {"bootstrap.servers": self.proxied_bootstrap}

    def _proxies(self) -> ProxiedListeners:
        if self._proxied is None:
            raise RuntimeError(f"{type(self).__name__} was not made with proxied=True")
        if not self._proxied.ports:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._proxied

    def log_tail(self, lines: int = 40) -> str:
        """The tail of each node's log."""
        return "\n".join(
            f"--- node {n.node_id} ({n.log_path}) ---\n{tail(n.log_path, lines)}" for n in self.nodes
        )

    def describe(self) -> str:
        """One line naming the broker and its address."""
        addr = self.bootstrap_servers if self.nodes else "(not started)"
        secured = f" ({', '.join(self.security.listeners)})" if self.security is not None else ""
        if self._proxied is not None and self._proxied.ports:
            secured += f", proxied at {self._proxied.bootstrap}"
        return f"Apache Kafka {self.version} x{self.n} at {addr}{secured}"

    # -- faults -----------------------------------------------------------------

    def node(self, index: int) -> KafkaNode:
        """The node at ``index`` (0-based)."""
        return self.nodes[index]

    def node_by_id(self, node_id: int) -> KafkaNode:
        """The node whose Kafka ``node.id`` is ``node_id`` (as metadata names leaders)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no node with id {node_id}")

    def kill_node(self, index: int) -> None:
        """SIGKILL one node; its data stays for :meth:`restart_node`."""
        self.nodes[index].kill()

    def stop_node(self, index: int) -> None:
        """Controlled shutdown of one node."""
        self.nodes[index].stop()

    def restart_node(self, index: int, timeout: float | None = None) -> None:
        """Start a stopped or killed node again with its data, and wait for it."""
        node = self.nodes[index]
        node.prepare()
        node.start()
        self.wait_ready(timeout)


class ApacheKafka(ApacheKafkaCluster):
    """A single Apache Kafka node in KRaft combined mode.

    Args:
        version: Kafka version; defaults to ``BYTEWAX_KAFKA_VERSION`` or 4.1.1.
        workdir: Folder for data and logs (temporary when None).
        config: Extra ``server.properties`` entries.
        jvm_opts: JVM options.
        start_timeout: Seconds to wait for readiness.
        port: Client port (a free one when None); with ``security``, the
            internal ``PLAINTEXT`` listener's.
        security: TLS/SASL client listeners and ACLs
            (:class:`~bytewax_kafka.testing.KafkaSecurity`).
        proxied: Add a client listener advertised through a Toxiproxy proxy
            (``proxied_bootstrap``, ``faults``).

    Example:
        >>> with ApacheKafka() as kafka:
        ...     kafka.kill()      # SIGKILL: no clean shutdown
        ...     kafka.restart()   # same ports, same data
    """

    kind = "kafka"
    features = ApacheKafkaCluster.features - {"multi_broker"}

    def __init__(
        self,
        *,
        version: str | None = None,
        workdir: Path | str | None = None,
        config: Mapping[str, Any] | None = None,
        jvm_opts: tuple[str, ...] = DEFAULT_JVM_OPTS,
        start_timeout: float = 90.0,
        port: int | None = None,
        security: KafkaSecurity | None = None,
        proxied: bool = False,
    ) -> None:
        super().__init__(
            1,
            version=version,
            workdir=workdir,
            config=config,
            jvm_opts=jvm_opts,
            start_timeout=start_timeout,
            port=port,
            security=security,
            proxied=proxied,
        )

    @property
    def pid(self) -> int | None:
        """PID of the JVM, or None when not running."""
        return self.nodes[0].pid if self.nodes else None

    @property
    def log_path(self) -> Path:
        """The broker's log file."""
        return self.nodes[0].log_path

    def kill(self) -> None:
        """SIGKILL the broker; its data stays on disk."""
        self.kill_node(0)

    def restart(self, timeout: float | None = None) -> None:
        """Start the broker again on the same ports and data, and wait for it."""
        self.restart_node(0, timeout)


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding.

    Never starting with ``-`` (as Kafka's own ``Uuid`` does): the storage
    tool would read such an id as an option and refuse to format.
    """
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid
