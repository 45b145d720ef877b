"""A client listener per Kafka node advertised through its own Toxiproxy proxy.

With ``ApacheKafka(proxied=True)`` (or ``ApacheKafkaCluster(n, proxied=True)``)
every node gets a third listener, ``EXTERNAL``, whose advertised address is
its proxy's. A client that bootstraps from ``proxied_bootstrap`` learns only
proxy addresses from the metadata, so its metadata, fetch, produce,
group and transaction traffic all cross the proxies; the brokers' own traffic
(replication, the controller quorum) and clients of ``bootstrap_servers``
(topic set-up, checking what a flow wrote) do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bytewax_kafka.testing.faults import NetworkFaults, Proxy
from bytewax_kafka.testing.ports import LOOPBACK, free_ports
from bytewax_kafka.testing.toxiproxy import Toxiproxy, toxiproxy_bin

if TYPE_CHECKING:
    from bytewax_kafka.testing.kafka import KafkaNode

LISTENER = "EXTERNAL"


class ProxiedListeners:
    """The ``EXTERNAL`` listener of each node, and the Toxiproxy proxies in front of them."""

    def __init__(self) -> None:
        #: Per node (by index): (the broker's EXTERNAL port, its proxy's port).
        self.ports: list[tuple[int, int]] = []
        self.toxiproxy: Toxiproxy | None = None
        self.faults: NetworkFaults | None = None

    def check(self) -> None:
        """Make sure Toxiproxy can run (built once), before any node starts.

        Raises:
            ToxiproxyUnavailable: No binary, and none can be built here.
        """
        toxiproxy_bin()

    def configure(self, nodes: Sequence[KafkaNode]) -> None:
        """Add the ``EXTERNAL`` listener to every node's ``server.properties`` (before it is written)."""
        taken = {p for node in nodes for p in (node.broker_port, node.controller_port)}
        taken |= {p for node in nodes for p in node.client_ports.values()}
        while True:
            ports = free_ports(2 * len(nodes))
            if not taken & set(ports):
                break
        self.ports = [(ports[2 * i], ports[2 * i + 1]) for i in range(len(nodes))]
        for node, (external, proxy) in zip(nodes, self.ports, strict=True):
            props = node.properties
            props["listeners"] += f",{LISTENER}://{LOOPBACK}:{external}"
            props["advertised.listeners"] += f",{LISTENER}://{LOOPBACK}:{proxy}"
            props["listener.security.protocol.map"] += f",{LISTENER}:PLAINTEXT"

    def start(self, nodes: Sequence[KafkaNode], workdir: Path) -> None:
        """Start Toxiproxy and one proxy per node (``kafka-<node id>``); a no-op when running."""
        if self.toxiproxy is not None:
            return
        toxi = Toxiproxy(workdir=workdir / "toxiproxy")
        toxi.start()
        self.toxiproxy = toxi
        proxies: list[Proxy] = []
        for node, (external, proxy) in zip(nodes, self.ports, strict=True):
            proxies.append(
                toxi.proxy(
                    f"kafka-{node.node_id}", upstream=f"{LOOPBACK}:{external}", listen=f"{LOOPBACK}:{proxy}"
                )
            )
        self.faults = NetworkFaults(proxies)

    def stop(self) -> None:
        """Stop Toxiproxy."""
        if self.toxiproxy is not None:
            self.toxiproxy.stop()
            self.toxiproxy = None
            self.faults = None

    @property
    def bootstrap(self) -> str:
        """The proxies' addresses, comma-separated."""
        return ",".join(f"{LOOPBACK}:{proxy}" for _external, proxy in self.ports)
