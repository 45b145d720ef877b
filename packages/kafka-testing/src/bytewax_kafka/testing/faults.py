"""Network faults on Toxiproxy proxies, as context managers that undo themselves on exit.

A :class:`Proxy` is one Toxiproxy proxy (one listen address forwarding to one
upstream); :class:`NetworkFaults` applies the same fault to several at once
(every node of a proxied Kafka cluster). Directions: ``"upstream"`` is client
to server, ``"downstream"`` server to client, ``"both"`` (the default) each way.

Example:
    >>> with ApacheKafka(proxied=True) as kafka:
    ...     with kafka.faults.latency(200, jitter=50):   # each way, every node
    ...         ...  # clients of kafka.proxied_bootstrap see 400 +- 100 ms round trips
    ...     with kafka.faults.partition():               # the proxied listener is cut
    ...         ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from bytewax_kafka.testing.toxiproxy import ToxiproxyClient

_DIRECTIONS = {"both": ("upstream", "downstream"), "upstream": ("upstream",), "downstream": ("downstream",)}


def _streams(direction: str) -> tuple[str, ...]:
    try:
        return _DIRECTIONS[direction]
    except KeyError:
        raise ValueError(f"direction must be 'both', 'upstream' or 'downstream', got {direction!r}") from None


class Proxy:
    """One Toxiproxy proxy and its faults.

    Each helper is a context manager: the fault holds inside the ``with``
    block and is removed on exit, exception or not. :meth:`cut` and
    :meth:`heal` are the plain calls behind :meth:`partition`.

    Args:
        client: The Toxiproxy API client.
        name: Proxy name.
        listen: ``host:port`` clients connect to.
        upstream: ``host:port`` the proxy forwards to.

    Example:
        >>> proxy = toxi.proxy("node-1", upstream="127.0.0.1:9092")
        >>> with proxy.reset_peer(direction="downstream"):
        ...     ...  # every connection through proxy.listen is reset
    """

    def __init__(self, client: ToxiproxyClient, name: str, *, listen: str, upstream: str) -> None:
        self.client = client
        self.name = name
        self.listen = listen
        self.upstream = upstream

    def __repr__(self) -> str:
        return f"Proxy({self.name!r}, listen={self.listen!r}, upstream={self.upstream!r})"

    # -- plain calls -------------------------------------------------------------

    def cut(self) -> None:
        """Disable the proxy: open connections are closed, new ones refused."""
        self.client.set_enabled(self.name, False)

    def heal(self) -> None:
        """Enable the proxy again after :meth:`cut`."""
        self.client.set_enabled(self.name, True)

    def clear(self) -> None:
        """Remove every toxic and enable the proxy."""
        for toxic in self.client.toxics(self.name):
            self.client.remove_toxic(self.name, toxic["name"])
        self.heal()

    # -- context managers --------------------------------------------------------

    @contextlib.contextmanager
    def toxic(
        self, kind: str, attributes: dict[str, Any], *, direction: str = "both", toxicity: float = 1.0
    ) -> Iterator[list[str]]:
        """Any Toxiproxy toxic while the block runs; yields the toxics' names."""
        names: list[str] = []
        try:
            for stream in _streams(direction):
                names.append(
                    self.client.add_toxic(self.name, kind, attributes, stream=stream, toxicity=toxicity)
                )
            yield names
        finally:
            for name in names:
                with contextlib.suppress(Exception):  # the server may be gone (test teardown)
                    self.client.remove_toxic(self.name, name)

    def latency(self, ms: int, jitter: int = 0, *, direction: str = "both") -> Any:
        """Delay data by ``ms`` +- ``jitter`` milliseconds, in each ``direction``."""
        return self.toxic("latency", {"latency": int(ms), "jitter": int(jitter)}, direction=direction)

    def bandwidth(self, kbps: int, *, direction: str = "both") -> Any:
        """Limit the rate to ``kbps`` kilobytes per second, in each ``direction``."""
        return self.toxic("bandwidth", {"rate": int(kbps)}, direction=direction)

    def timeout(self, ms: int = 0, *, direction: str = "both") -> Any:
        """Stop all data; close connections after ``ms`` (0: hold them open, silent)."""
        return self.toxic("timeout", {"timeout": int(ms)}, direction=direction)

    def reset_peer(self, timeout_ms: int = 0, *, direction: str = "both") -> Any:
        """Reset connections (TCP RST) after ``timeout_ms`` (0: at their first data)."""
        return self.toxic("reset_peer", {"timeout": int(timeout_ms)}, direction=direction)

    def slicer(
        self, average_size: int = 64, size_variation: int = 32, delay_us: int = 10, *, direction: str = "both"
    ) -> Any:
        """Cut data into packets of ``average_size`` +- ``size_variation`` bytes, ``delay_us`` apart."""
        return self.toxic(
            "slicer",
            {
                "average_size": int(average_size),
                "size_variation": int(size_variation),
                "delay": int(delay_us),
            },
            direction=direction,
        )

    def limit_data(self, n_bytes: int, *, direction: str = "both") -> Any:
        """Close each connection once ``n_bytes`` have crossed it."""
        return self.toxic("limit_data", {"bytes": int(n_bytes)}, direction=direction)

    @contextlib.contextmanager
    def partition(self) -> Iterator[None]:
        """The proxy disabled while the block runs: no connection gets through."""
        self.cut()
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.heal()


class NetworkFaults:
    """The same faults on several proxies at once (one per node of a proxied cluster).

    ``faults.node(i)`` is node ``i``'s :class:`Proxy`; the other helpers take
    the same arguments as :class:`Proxy`'s and apply to every proxy.

    Example:
        >>> with cluster.faults.partition():        # every node cut off
        ...     ...
        >>> with cluster.faults.node(0).latency(500):
        ...     ...
    """

    def __init__(self, proxies: Sequence[Proxy]) -> None:
        self.proxies = list(proxies)

    def __repr__(self) -> str:
        return f"NetworkFaults({self.proxies!r})"

    def __len__(self) -> int:
        return len(self.proxies)

    def __iter__(self) -> Iterator[Proxy]:
        return iter(self.proxies)

    def node(self, index: int) -> Proxy:
        """The proxy of node ``index`` (0-based)."""
        return self.proxies[index]

    @property
    def listen(self) -> str:
        """The proxies' addresses, comma-separated (a bootstrap list)."""
        return ",".join(p.listen for p in self.proxies)

    def cut(self) -> None:
        """Disable every proxy."""
        for p in self.proxies:
            p.cut()

    def heal(self) -> None:
        """Enable every proxy."""
        for p in self.proxies:
            p.heal()

    def clear(self) -> None:
        """Remove every toxic and enable every proxy."""
        for p in self.proxies:
            p.clear()

    @contextlib.contextmanager
    def _each(self, method: str, *args: Any, **kwargs: Any) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for p in self.proxies:
                stack.enter_context(getattr(p, method)(*args, **kwargs))
            yield

    def toxic(self, kind: str, attributes: dict[str, Any], **kwargs: Any) -> Any:
        """:meth:`Proxy.toxic` on every proxy."""
        return self._each("toxic", kind, attributes, **kwargs)

    def latency(self, ms: int, jitter: int = 0, *, direction: str = "both") -> Any:
        """:meth:`Proxy.latency` on every proxy."""
        return self._each("latency", ms, jitter, direction=direction)

    def bandwidth(self, kbps: int, *, direction: str = "both") -> Any:
        """:meth:`Proxy.bandwidth` on every proxy."""
        return self._each("bandwidth", kbps, direction=direction)

    def timeout(self, ms: int = 0, *, direction: str = "both") -> Any:
        """:meth:`Proxy.timeout` on every proxy."""
        return self._each("timeout", ms, direction=direction)

    def reset_peer(self, timeout_ms: int = 0, *, direction: str = "both") -> Any:
        """:meth:`Proxy.reset_peer` on every proxy."""
        return self._each("reset_peer", timeout_ms, direction=direction)

    def slicer(
        self, average_size: int = 64, size_variation: int = 32, delay_us: int = 10, *, direction: str = "both"
    ) -> Any:
        """:meth:`Proxy.slicer` on every proxy."""
        return self._each("slicer", average_size, size_variation, delay_us, direction=direction)

    def limit_data(self, n_bytes: int, *, direction: str = "both") -> Any:
        """:meth:`Proxy.limit_data` on every proxy."""
        return self._each("limit_data", n_bytes, direction=direction)

    def partition(self) -> Any:
        """:meth:`Proxy.partition` on every proxy: the whole cluster cut off."""
        return self._each("partition")
