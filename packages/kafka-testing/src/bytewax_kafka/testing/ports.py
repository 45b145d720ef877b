"""Free loopback ports, asked of the operating system."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from bytewax_kafka.testing.errors import BrokerStartError

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that is free right now.

    The OS picks the port (bind to port 0), so concurrent test sessions do not
    collide the way random guesses do. The port is released before returning;
    a launcher that loses the race fails fast and says so in its log.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return ``count`` distinct free ports on ``host``."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when another socket listens on (or holds) ``host:port``.

    Binds as a broker would (``SO_REUSEADDR``, so connections of an earlier
    process still closing do not count) and releases the port at once.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def refuse_busy_ports(ports: Iterable[int], what: str, host: str = LOOPBACK) -> None:
    """Raise before starting ``what`` when one of ``ports`` is already taken.

    Raises:
        BrokerStartError: Naming the first busy port.
    """
    for port in ports:
        if port_in_use(port, host):
            raise BrokerStartError(
                f"cannot start {what}: port {port} on {host} is already in use (another broker, "
                "or another program, listens there); choose another port or stop that process"
            )
