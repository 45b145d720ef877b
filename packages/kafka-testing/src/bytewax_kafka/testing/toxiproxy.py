"""Toxiproxy: a TCP proxy that injects network faults, built once with Go and run on loopback.

Resolution of the ``toxiproxy-server`` binary:

1. ``BYTEWAX_KAFKA_TOXIPROXY`` names an existing binary.
2. The cache folder (``$BYTEWAX_KAFKA_CACHE`` or ``~/.cache/bytewax-kafka``)
   ``/toxiproxy-<version>/bin/server``, built once (under a file lock, as the
   Kafka jars are fetched) by ``go install
   github.com/Shopify/toxiproxy/v2/cmd/server@v<version>``.

Where neither exists and Go is missing, :class:`ToxiproxyUnavailable` says so
(the pytest plugin turns it into a skip with that reason).

:class:`ToxiproxyClient` is a small typed client of its HTTP API;
:class:`Toxiproxy` runs the server as a child process on a free loopback port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from bytewax_kafka.testing.errors import BrokerError, BrokerStartError, BrokerUnavailable
from bytewax_kafka.testing.jars import _locked, cache_root
from bytewax_kafka.testing.ports import LOOPBACK, free_port
from bytewax_kafka.testing.process import ManagedProcess, tail

#: Toxiproxy version built unless ``BYTEWAX_KAFKA_TOXIPROXY_VERSION`` says otherwise.
TOXIPROXY_VERSION = "2.12.0"
_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
_COMPLETE = ".complete"


class ToxiproxyUnavailable(BrokerUnavailable):
    """Toxiproxy is not built here and cannot be (no Go toolchain, or the build failed)."""


class ToxiproxyError(BrokerError):
    """The Toxiproxy API refused a request; the message holds its status and answer."""


def toxiproxy_version() -> str:
    """The Toxiproxy version to build: ``BYTEWAX_KAFKA_TOXIPROXY_VERSION`` or the default."""
    return os.environ.get("BYTEWAX_KAFKA_TOXIPROXY_VERSION", TOXIPROXY_VERSION)


def toxiproxy_bin(version: str | None = None, *, build: bool = True) -> Path:
    """Path of a ``toxiproxy-server`` binary, built with ``go install`` the first time.

    Args:
        version: Toxiproxy version (defaults to :func:`toxiproxy_version`).
            Ignored when ``BYTEWAX_KAFKA_TOXIPROXY`` is set.
        build: Build it when the cache lacks it.

    Raises:
        ToxiproxyUnavailable: ``BYTEWAX_KAFKA_TOXIPROXY`` names no executable,
            or the binary is not cached and cannot be built (no ``go`` on
            PATH, or the build failed; its output is included).
    """
    env = os.environ.get("BYTEWAX_KAFKA_TOXIPROXY")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToxiproxyUnavailable(f"BYTEWAX_KAFKA_TOXIPROXY={env} is not an executable file")
        return path
    version = version or toxiproxy_version()
    target = cache_root() / f"toxiproxy-{version}"
    binary = target / "bin" / "server"
    if (target / _COMPLETE).exists() and binary.exists():
        return binary
    if not build:
        raise ToxiproxyUnavailable(f"Toxiproxy {version} is not built in {target} (building is disabled)")
    with _locked(cache_root() / f".toxiproxy-{version}.lock"):
        if (target / _COMPLETE).exists() and binary.exists():  # built by another process meanwhile
            return binary
        _build(version, target)
    return binary


def _build(version: str, target: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise ToxiproxyUnavailable(
            "Toxiproxy is not built and Go ('go') is not on PATH: install Go 1.22 or newer, or set "
            "BYTEWAX_KAFKA_TOXIPROXY to a toxiproxy-server binary"
        )
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="bin-", dir=target))
    try:
        proc = subprocess.run(
            [go, "install", f"{_MODULE}@v{version}"],
            env={**os.environ, "GOBIN": str(staging), "CGO_ENABLED": "0"},
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ToxiproxyUnavailable(
            f"building Toxiproxy {version} took more than {exc.timeout:.0f}s"
        ) from None
    if proc.returncode != 0 or not (staging / "server").exists():
        shutil.rmtree(staging, ignore_errors=True)
        out = (proc.stdout + proc.stderr)[-4000:]
        raise ToxiproxyUnavailable(
            f"building Toxiproxy {version} with Go failed (exit {proc.returncode}):\n{out}"
        )
    bin_dir = target / "bin"
    if bin_dir.exists():
        shutil.rmtree(bin_dir)
    staging.rename(bin_dir)
    (target / _COMPLETE).write_text(version + "\n")


class ToxiproxyClient:
    """A typed client of Toxiproxy's HTTP API (loopback only).

    Args:
        api: The API's base URL, e.g. ``http://127.0.0.1:8474``.
        timeout: Seconds for each HTTP request.

    Example:
        >>> client = ToxiproxyClient("http://127.0.0.1:8474")
        >>> client.create_proxy("kafka", listen="127.0.0.1:29092", upstream="127.0.0.1:9092")
        >>> client.add_toxic("kafka", "latency", {"latency": 200, "jitter": 50}, stream="downstream")
        'latency-downstream-1a2b3c4d'
    """

    def __init__(self, api: str, *, timeout: float = 10.0) -> None:
        self.api = api.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.api!r})"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; the decoded JSON answer (None for an empty one).

        Raises:
            ToxiproxyError: For an HTTP error status or no answer.
        """
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.api + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise ToxiproxyError(f"Toxiproxy {method} {path} failed: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.api} did not answer {method} {path}: {exc}") from None
        return json.loads(raw) if raw.strip() else None

    def version(self) -> str:
        """The server's version (a readiness check)."""
        req = urllib.request.Request(self.api + "/version")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text: str = resp.read().decode(errors="replace").strip()
                return text
        except (urllib.error.URLError, OSError) as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.api} did not answer GET /version: {exc}") from None

    def proxies(self) -> dict[str, Any]:
        """Every proxy, by name, with its toxics."""
        found: dict[str, Any] = self.request("GET", "/proxies")
        return found

    def create_proxy(self, name: str, *, listen: str, upstream: str, enabled: bool = True) -> dict[str, Any]:
        """Create a proxy listening on ``listen`` (``host:port``) that forwards to ``upstream``."""
        made: dict[str, Any] = self.request(
            "POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        )
        return made

    def delete_proxy(self, name: str) -> None:
        """Delete a proxy (its connections are closed)."""
        self.request("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a proxy: disabled, it closes every connection and refuses new ones."""
        self.request("POST", f"/proxies/{name}", {"enabled": enabled})

    def add_toxic(
        self,
        proxy: str,
        kind: str,
        attributes: dict[str, Any],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Add a toxic to ``proxy``; returns its name.

        Args:
            proxy: Proxy name.
            kind: ``latency``, ``bandwidth``, ``slow_close``, ``timeout``,
                ``reset_peer``, ``slicer`` or ``limit_data``.
            attributes: The toxic's attributes (see Toxiproxy's README).
            stream: ``upstream`` (client to server) or ``downstream`` (server to client).
            toxicity: Share of connections the toxic applies to (0 to 1).
            name: Toxic name (unique per proxy; one is made up when None).
        """
        if stream not in ("upstream", "downstream"):
            raise ValueError(f"stream must be 'upstream' or 'downstream', got {stream!r}")
        name = name or f"{kind}-{stream}-{uuid.uuid4().hex[:8]}"
        self.request(
            "POST",
            f"/proxies/{proxy}/toxics",
            {"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes},
        )
        return name

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove one toxic."""
        self.request("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        """The toxics of ``proxy``."""
        found: list[dict[str, Any]] = self.request("GET", f"/proxies/{proxy}/toxics")
        return found

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self.request("POST", "/reset")


class Toxiproxy:
    """A Toxiproxy server on a free loopback port, as a child process.

    Args:
        port: API port (a free one when None).
        binary: A ``toxiproxy-server`` (default: :func:`toxiproxy_bin`, built once).
        workdir: Folder for its log (temporary when None).
        start_timeout: Seconds to wait for its API to answer.

    Example:
        >>> with Toxiproxy() as toxi:
        ...     proxy = toxi.proxy("db", upstream="127.0.0.1:5432")
        ...     with proxy.latency(200, jitter=50):
        ...         ...  # connect to proxy.listen instead of the upstream
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: Path | str | None = None,
        workdir: Path | str | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.port = port
        self._binary = Path(binary) if binary is not None else None
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self.start_timeout = start_timeout
        self.process: ManagedProcess | None = None

    @property
    def api(self) -> str:
        """The HTTP API's base URL."""
        if self.port is None:
            raise RuntimeError("Toxiproxy is not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def client(self) -> ToxiproxyClient:
        """A client of this server's API."""
        return ToxiproxyClient(self.api)

    def start(self) -> None:
        """Start the server and wait until its API answers.

        Raises:
            ToxiproxyUnavailable: No binary and none can be built.
            BrokerStartError: The server did not answer in time or exited (log tail included).
        """
        binary = self._binary or toxiproxy_bin()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="bytewax-kafka-toxiproxy-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        log = self.workdir / "toxiproxy.log"
        self.process = ManagedProcess([str(binary), "-host", LOOPBACK, "-port", str(self.port)], log)
        self.process.start()
        client = self.client
        deadline = time.monotonic() + self.start_timeout
        while True:
            if not self.process.alive():
                code = self.process.returncode()
                self.stop()
                raise BrokerStartError(f"Toxiproxy exited with code {code} while starting:\n{tail(log)}")
            try:
                client.version()
                client.proxies()  # the API serves, not only the socket
                return
            except ToxiproxyError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerStartError(
                        f"Toxiproxy not ready after {self.start_timeout:.0f}s ({exc}):\n{tail(log)}"
                    ) from None
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (every proxy with it) and remove a temporary workdir."""
        if self.process is not None:
            self.process.stop(timeout=5)
            self.process = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def proxy(self, name: str, *, upstream: str, listen: str | None = None) -> Any:
        """Create a proxy to ``upstream``, on a free loopback port unless ``listen`` is given.

        Returns:
            A :class:`~bytewax_kafka.testing.faults.Proxy` with the fault helpers.
        """
        from bytewax_kafka.testing.faults import Proxy

        listen = listen or f"{LOOPBACK}:{free_port()}"
        self.client.create_proxy(name, listen=listen, upstream=upstream)
        return Proxy(self.client, name, listen=listen, upstream=upstream)

    def __enter__(self) -> Toxiproxy:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.api if self.port is not None and self.process is not None else "(not started)"
        return f"<Toxiproxy {where}>"
