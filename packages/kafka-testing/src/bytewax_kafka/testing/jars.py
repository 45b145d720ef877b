"""The Apache Kafka broker's jars: from ``KAFKA_HOME`` or fetched once from Maven Central.

Resolution order:

1. ``KAFKA_HOME`` names an unpacked Apache Kafka distribution: its ``libs/``.
2. The per-version cache folder
   (``$BYTEWAX_KAFKA_CACHE`` or ``~/.cache/bytewax-kafka``)/``kafka-<version>/libs``,
   filled once by ``mvn -q dependency:copy-dependencies`` with the ``pom.xml``
   shipped in this package.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from bytewax_kafka.testing.errors import JarsUnavailable

#: Apache Kafka version used unless ``BYTEWAX_KAFKA_VERSION`` or an argument says otherwise.
DEFAULT_KAFKA_VERSION = "4.1.1"

_COMPLETE = ".complete"


def kafka_version() -> str:
    """The Kafka version to run: ``BYTEWAX_KAFKA_VERSION`` or the default."""
    return os.environ.get("BYTEWAX_KAFKA_VERSION", DEFAULT_KAFKA_VERSION)


def cache_root() -> Path:
    """Folder that holds fetched jars, one sub-folder per Kafka version."""
    env = os.environ.get("BYTEWAX_KAFKA_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "bytewax-kafka"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _has_broker(libs: Path) -> bool:
    return any(libs.glob("kafka_2.13-*.jar")) and any(libs.glob("kafka-server-*.jar"))


def kafka_libs(version: str | None = None, *, fetch: bool = True) -> Path:
    """Return a folder holding every jar an Apache Kafka broker needs.

    Args:
        version: Kafka version (defaults to :func:`kafka_version`). Ignored when
            ``KAFKA_HOME`` is set.
        fetch: Fetch the jars with Maven when the cache lacks them.

    Raises:
        JarsUnavailable: ``KAFKA_HOME`` has no broker jars, or the jars are not
            cached and cannot be fetched (no ``mvn``, or Maven failed; its
            output is included).
    """
    home = os.environ.get("KAFKA_HOME")
    if home:
        libs = Path(home) / "libs"
        if not _has_broker(libs):
            raise JarsUnavailable(f"KAFKA_HOME={home} has no Kafka broker jars in {libs}")
        return libs

    version = version or kafka_version()
    target = cache_root() / f"kafka-{version}"
    libs = target / "libs"
    if (target / _COMPLETE).exists():
        return libs
    if not fetch:
        raise JarsUnavailable(f"Kafka {version} jars are not in {libs} (fetching is disabled)")
    with _locked(cache_root() / f".kafka-{version}.lock"):
        if (target / _COMPLETE).exists():  # another process fetched them meanwhile
            return libs
        _fetch(version, target)
    return libs


def _fetch(version: str, target: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarsUnavailable(
            "Apache Kafka's jars are not cached and Maven ('mvn') is not on PATH; "
            "install Maven, or set KAFKA_HOME to an unpacked Kafka distribution"
        )
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=target))
    # Maven writes beside the pom (target/), so run a copy inside the cache.
    pom_path = target / "pom.xml"
    pom_path.write_bytes(resources.files("bytewax_kafka.testing").joinpath("pom.xml").read_bytes())
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom_path),
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=target,
    )
    if proc.returncode != 0 or not _has_broker(staging):
        shutil.rmtree(staging, ignore_errors=True)
        out = (proc.stdout + proc.stderr)[-4000:]
        raise JarsUnavailable(
            f"fetching Apache Kafka {version} jars with Maven failed (exit {proc.returncode}):\n{out}"
        )
    libs = target / "libs"
    if libs.exists():
        shutil.rmtree(libs)
    staging.rename(libs)
    (target / _COMPLETE).write_text(version + "\n")
