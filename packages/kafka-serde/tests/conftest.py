"""Fixtures for kafka-serde's tests: mock and real schema registries.

The real registry is Apicurio Registry 2.4.2.Final (in-memory storage) with
its Confluent-compatible API, built once from Maven Central with the
``registry/pom.xml`` beside this file into the shared bytewax-kafka cache
(``$BYTEWAX_KAFKA_CACHE`` or ``~/.cache/bytewax-kafka``), then started on a
free loopback port for the test session. ``BYTEWAX_KAFKA_SCHEMA_REGISTRY_URL``
points the tests at an already running Confluent-compatible registry instead.
Tests needing it are skipped when Java or Maven is missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from bytewax_kafka.serde import registry_client
from bytewax_kafka.testing.jars import cache_root
from bytewax_kafka.testing.ports import LOOPBACK, free_port
from bytewax_kafka.testing.process import ManagedProcess, tail

APICURIO_VERSION = "2.4.2.Final"
_POM = Path(__file__).with_name("registry") / "pom.xml"
_COMPLETE = ".complete"


class RegistryUnavailable(RuntimeError):
    """The real registry cannot be built or started here."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _runner_jar(home: Path) -> Path | None:
    return next(iter(sorted((home / "target").glob("*-runner.jar"))), None)


def build_registry(home: Path | None = None) -> Path:
    """Return Apicurio Registry's runner jar, building it with Maven the first time.

    Raises:
        RegistryUnavailable: No ``mvn``, or the build failed (output included).
    """
    home = home or cache_root() / f"apicurio-registry-{APICURIO_VERSION}"
    jar = _runner_jar(home)
    pom = _POM.read_bytes()
    stamp = home / _COMPLETE
    if jar is not None and stamp.exists() and stamp.read_bytes() == pom:
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RegistryUnavailable("Maven ('mvn') is not on PATH to build Apicurio Registry")
    with _locked(home.parent / f".apicurio-registry-{APICURIO_VERSION}.lock"):
        jar = _runner_jar(home)
        if jar is not None and stamp.exists() and stamp.read_bytes() == pom:
            return jar
        home.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        (home / "pom.xml").write_bytes(pom)
        proc = subprocess.run(
            [mvn, "-B", "-q", "-f", str(home / "pom.xml"), "package"],
            capture_output=True,
            text=True,
            check=False,
            cwd=home,
        )
        jar = _runner_jar(home)
        if proc.returncode != 0 or jar is None:
            out = (proc.stdout + proc.stderr)[-4000:]
            msg = f"building Apicurio Registry failed (exit {proc.returncode}):\n{out}"
            raise RegistryUnavailable(msg)
        stamp.write_bytes(pom)
        return jar


class SchemaRegistry:
    """Apicurio Registry on a free loopback port, spoken to via its Confluent API.

    Example::

        with SchemaRegistry(build_registry(), tmp_path / "registry.log") as registry:
            client = SchemaRegistryClient({"url": registry.url})
    """

    def __init__(self, jar: Path, log_path: Path, *, heap: str = "384m") -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}/apis/ccompat/v7"
        self.log_path = log_path
        java = shutil.which("java")
        if java is None:
            raise RegistryUnavailable("Java ('java') is not on PATH to run Apicurio Registry")
        self.process = ManagedProcess(
            [
                java,
                f"-Xmx{heap}",
                f"-Dquarkus.http.host={LOOPBACK}",
                f"-Dquarkus.http.port={self.port}",
                "-Dquarkus.log.level=INFO",
                "-jar",
                str(jar),
            ],
            log_path,
            cwd=jar.parent,
        )

    def start(self, timeout: float = 120.0) -> None:
        """Start the registry and wait until its Confluent API answers."""
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                msg = f"Apicurio Registry exited with {self.process.returncode()}:\n{tail(self.log_path)}"
                raise RegistryUnavailable(msg)
            try:
                with urllib.request.urlopen(f"{self.url}/subjects", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        msg = f"Apicurio Registry not ready after {timeout}s:\n{tail(self.log_path)}"
        raise RegistryUnavailable(msg)

    def stop(self) -> None:
        """Stop the registry process (SIGTERM, then SIGKILL)."""
        self.process.stop()

    def __enter__(self) -> SchemaRegistry:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Confluent-compatible schema registry for this session."""
    external = os.environ.get("BYTEWAX_KAFKA_SCHEMA_REGISTRY_URL")
    if external:
        yield external
        return
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("a real schema registry needs Java and Maven (Apicurio Registry)")
    jar = build_registry()
    log = tmp_path_factory.mktemp("schema-registry") / "apicurio.log"
    with SchemaRegistry(jar, log) as registry:
        yield registry.url


@pytest.fixture
def real_registry(schema_registry_url: str) -> Iterator[SchemaRegistryClient]:
    """A client of the real registry (subjects must be unique per test)."""
    with registry_client(schema_registry_url) as client:
        yield client


@pytest.fixture
def mock_registry() -> SchemaRegistryClient:
    """confluent-kafka's in-memory registry, empty for each test."""
    return registry_client(f"mock://{uuid.uuid4().hex}")


@pytest.fixture
def unique() -> str:
    """A fresh name fragment for topics and subjects."""
    return uuid.uuid4().hex[:12]
