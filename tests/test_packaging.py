"""Release check: build every package, inspect the artifacts, install each wheel alone.

``twine check --strict`` must pass on every wheel and sdist, and each
package's long description must be its README, rendered as PyPI renders it.

Each wheel goes into its own clean virtualenv with nothing but its declared
dependencies (siblings come from the freshly built dist folder, third-party
packages at the versions uv.lock pins, so the uv cache serves them), and its
module must import there.
"""

from __future__ import annotations

import base64
import csv
import email
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from readme_renderer.markdown import render

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]

#: distribution name -> import path, for the five published packages.
PACKAGES = {
    "bytewax-kafka-core": "bytewax_kafka.core",
    "bytewax-kafka-operators": "bytewax_kafka.operators",
    "bytewax-kafka-serde": "bytewax_kafka.serde",
    "bytewax-kafka-testing": "bytewax_kafka.testing",
    "bytewax-kafka-bench": "bytewax_kafka.bench",
}


def uv() -> str:
    # `uv run` names its own binary in $UV: uv need not be on PATH (after
    # `make install`, it may sit in pip's user scripts folder).
    found = os.environ.get("UV") or shutil.which("uv")
    if found is None:
        pytest.fail("the packaging test needs uv: run it with `uv run`, or put uv on PATH")
    return found


def uv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def run(*argv: str | Path, cwd: Path = ROOT) -> str:
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=uv_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(str(a) for a in argv)} failed with exit {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc.stdout


def wheel_stem(dist: str) -> str:
    return dist.replace("-", "_")


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every package built once per session: a wheel and an sdist each."""
    out = tmp_path_factory.mktemp("dist")
    run(uv(), "build", "--all-packages", "-o", out)
    return out


@pytest.fixture(scope="session")
def constraints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The third-party versions uv.lock pins, as a pip constraints file."""
    path = tmp_path_factory.mktemp("constraints") / "constraints.txt"
    run(
        uv(),
        "export",
        "--frozen",
        "--all-packages",
        "--no-emit-workspace",
        "--no-hashes",
        "--no-header",
        "--no-annotate",
        "-o",
        path,
    )
    return path


def wheels(dist: Path) -> dict[str, Path]:
    return {d: next(dist.glob(f"{wheel_stem(d)}-*.whl")) for d in PACKAGES}


def test_one_wheel_and_one_sdist_per_package(dist):
    artifacts = sorted(p.name for p in dist.iterdir() if p.suffix in (".whl", ".gz"))
    assert len(artifacts) == 10, artifacts
    for name in PACKAGES:
        stem = wheel_stem(name)
        assert [a for a in artifacts if a.startswith(f"{stem}-") and a.endswith(".whl")], name
        assert [a for a in artifacts if a.startswith(f"{stem}-") and a.endswith(".tar.gz")], name


def test_wheels_own_only_their_leaf_package(dist):
    for name, module in PACKAGES.items():
        wheel = wheels(dist)[name]
        with zipfile.ZipFile(wheel) as zf:
            files = zf.namelist()
        leaf = module.replace(".", "/")
        # The namespace level belongs to nobody: one __init__.py there would
        # shadow every sibling installed next to it.
        assert "bytewax_kafka/__init__.py" not in files, wheel.name
        assert f"{leaf}/__init__.py" in files, wheel.name
        assert f"{leaf}/py.typed" in files, wheel.name
        code = [f for f in files if f.endswith(".py")]
        assert all(f.startswith(f"{leaf}/") for f in code), (wheel.name, code)


def test_testing_wheel_ships_its_pom_plugin_and_script(dist):
    with zipfile.ZipFile(wheels(dist)["bytewax-kafka-testing"]) as wheel:
        assert "bytewax_kafka/testing/pom.xml" in wheel.namelist()
        entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
        text = wheel.read(entry_points).decode()
    assert "[pytest11]" in text
    assert "bytewax_kafka = bytewax_kafka.testing.plugin" in text
    assert "bytewax-kafka-broker = bytewax_kafka.testing.cli:main" in text


#: What an sdist holds besides its package's sources. uv_build (0.12 and later)
#: writes a TOML 1.0 normalized ``pyproject.toml`` and keeps the original, byte
#: for byte, as ``pyproject.toml.orig``; it cannot be turned off.
SDIST_FILES = {"PKG-INFO", "pyproject.toml", "pyproject.toml.orig", "README.md", "LICENSE"}


def test_sdists_hold_sources_readme_license_and_nothing_else(dist):
    for name, module in PACKAGES.items():
        folder = ROOT / "packages" / name.removeprefix("bytewax-")
        sdist = next(dist.glob(f"{wheel_stem(name)}-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            files = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if m.isfile() and "/" in m.name}
            leaf = module.replace(".", "/")
            assert f"src/{leaf}/py.typed" in files, sdist.name
            assert "src/bytewax_kafka/__init__.py" not in files, sdist.name
            sources = {f for f in files if f.startswith(f"src/{leaf}/")}
            tracked = {
                str(p.relative_to(folder))
                for p in (folder / "src" / leaf).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            }
            assert sources == tracked, (sdist.name, sorted(sources ^ tracked))
            assert set(files) - sources == SDIST_FILES, (sdist.name, sorted(set(files) - sources))

            assert read(tar, files["LICENSE"]) == (ROOT / "LICENSE").read_bytes(), sdist.name
            orig = read(tar, files["pyproject.toml.orig"])
            assert orig == (folder / "pyproject.toml").read_bytes(), sdist.name


def read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    assert f is not None
    return f.read()


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(zf.read(metadata))


def test_wheels_ship_the_license_and_declare_it(dist):
    for name, wheel in wheels(dist).items():
        with zipfile.ZipFile(wheel) as zf:
            licenses = [n for n in zf.namelist() if ".dist-info/licenses/" in n and not n.endswith("/")]
            assert [n.rsplit("/", 1)[1] for n in licenses] == ["LICENSE"], (name, licenses)
            assert zf.read(licenses[0]) == (ROOT / "LICENSE").read_bytes(), name
        meta = wheel_metadata(wheel)
        assert meta["License-Expression"] == "Apache-2.0", name
        assert meta.get_all("License-File") == ["LICENSE"], name


#: Packages whose code imports bytewax (0.21 supports Python 3.10-3.12).
IMPORTS_BYTEWAX = {"bytewax-kafka-core", "bytewax-kafka-operators", "bytewax-kafka-bench"}


def test_metadata_names_urls_classifiers_and_python_versions(dist):
    for name, wheel in wheels(dist).items():
        meta = wheel_metadata(wheel)
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
        assert {"Homepage", "Documentation", "Source", "Changelog", "Issues"} <= set(urls), name
        assert urls["Changelog"].endswith(f"packages/{name.removeprefix('bytewax-')}/CHANGELOG.md"), name
        classifiers = set(meta.get_all("Classifier") or [])
        assert any(c.startswith("Development Status :: ") for c in classifiers), name
        for version in ("3.10", "3.11", "3.12"):
            assert f"Programming Language :: Python :: {version}" in classifiers, name
        assert ("Framework :: Pytest" in classifiers) == (name == "bytewax-kafka-testing"), name
        # The <3.13 cap only where bytewax forces it.
        capped = "<3.13" in (meta["Requires-Python"] or "")
        assert capped == (name in IMPORTS_BYTEWAX), (name, meta["Requires-Python"])


def test_testing_needs_pytest_and_testcontainers_only_through_extras(dist):
    meta = wheel_metadata(wheels(dist)["bytewax-kafka-testing"])
    assert set(meta.get_all("Provides-Extra") or []) == {"pytest", "containers"}
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    extra_of = {r.name: str(r.marker) if r.marker else "" for r in requires}
    assert extra_of["pytest"] == 'extra == "pytest"', extra_of
    assert extra_of["testcontainers"] == 'extra == "containers"', extra_of
    assert "docker" not in extra_of  # it comes with testcontainers
    assert all(not m for n, m in extra_of.items() if n not in ("pytest", "testcontainers")), extra_of


def test_twine_check_strict(dist):
    artifacts = sorted(p for p in dist.iterdir() if p.suffix in (".whl", ".gz"))
    out = run(sys.executable, "-m", "twine", "check", "--strict", *artifacts)
    assert out.count("PASSED") == len(artifacts) == 10, out


def test_long_description_is_the_readme_and_renders_on_pypi(dist):
    for name, module in PACKAGES.items():
        folder = ROOT / "packages" / name.removeprefix("bytewax-")
        meta = wheel_metadata(wheels(dist)[name])
        assert meta["Description-Content-Type"] == "text/markdown", name
        body = meta.get_payload()
        assert isinstance(body, str)
        assert body.strip() == (folder / "README.md").read_text().strip(), name
        # PyPI renders Markdown with readme_renderer, GitHub flavour.
        html = render(body, variant="GFM")
        assert html is not None, name
        assert re.search(rf"<h1[^>]*>{re.escape(name)}<", html), name
        assert f"pip install {name}" in body, f"{name}: the README does not say how to install it"
        assert module in body, f"{name}: the README does not name its import path"
        assert "```python" in body or "```toml" in body, f"{name}: the README has no example"


def record_hashes(record: str, prefix: str = "bytewax_kafka/") -> dict[str, str]:
    rows = csv.reader(io.StringIO(record))
    return {row[0]: row[1] for row in rows if row and row[0].startswith(prefix)}


def test_each_wheel_installs_alone_and_imports(dist, constraints, tmp_path):
    built = wheels(dist)
    for name, module in PACKAGES.items():
        venv = tmp_path / name
        run(uv(), "venv", "--python", "3.11", "--no-project", venv, cwd=tmp_path)
        python = venv / "bin" / "python"
        run(
            uv(),
            "pip",
            "install",
            "--python",
            python,
            "--find-links",
            dist,
            "--constraint",
            constraints,
            built[name],
            cwd=tmp_path,
        )
        out = run(
            python,
            "-c",
            f"import {module} as m, sys; print(m.__file__); print(sys.prefix)",
            cwd=tmp_path,
        )
        module_file, prefix = out.split()
        assert Path(prefix) == venv
        assert Path(module_file).is_relative_to(venv), module_file

        # Every bytewax-kafka distribution in the venv is one we just built:
        # siblings came from the dist folder, not from some index.
        site = Path(module_file).parents[2]
        installed = sorted(site.glob("bytewax_kafka_*.dist-info"))
        assert any(d.name.startswith(f"{wheel_stem(name)}-") for d in installed)
        for info in installed:
            dist_name = info.name.split("-")[0]
            with zipfile.ZipFile(next(dist.glob(f"{dist_name}-*.whl"))) as wheel:
                in_wheel = record_hashes(wheel.read(f"{info.name}/RECORD").decode())
            assert record_hashes((info / "RECORD").read_text()) == in_wheel, info.name
            for path, digest in in_wheel.items():
                data = (site / path).read_bytes()
                b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                assert digest == f"sha256={b64.decode()}", path

        if name == "bytewax-kafka-testing":
            # The broker command installs without pytest, testcontainers or docker.
            absent = run(
                python,
                "-c",
                "import importlib.util as u;"
                "print([m for m in ('pytest', 'testcontainers', 'docker') if u.find_spec(m) is None])",
                cwd=tmp_path,
            )
            assert absent.strip() == "['pytest', 'testcontainers', 'docker']", absent
            assert "Ctrl-C" in run(venv / "bin" / "bytewax-kafka-broker", "--help", cwd=tmp_path)
            plugins = run(
                python,
                "-c",
                "from importlib.metadata import entry_points;"
                "print([e.value for e in entry_points(group='pytest11')])",
                cwd=tmp_path,
            )
            assert "bytewax_kafka.testing.plugin" in plugins
            plugin_without_containers(venv, dist, constraints, built[name], tmp_path)


PLUGIN_TEST = """
def test_a_tansu_fixture(tansu_broker):
    assert tansu_broker.bootstrap_servers.startswith("127.0.0.1:")


def test_the_session_broker(kafka_broker):
    pass
"""


def plugin_without_containers(venv: Path, dist: Path, constraints: Path, wheel: Path, tmp_path: Path) -> None:
    """With the ``pytest`` extra only, the plugin works and a Docker broker is skipped, naming the extra."""
    python = venv / "bin" / "python"
    run(
        uv(),
        "pip",
        "install",
        "--python",
        python,
        "--find-links",
        dist,
        "--constraint",
        constraints,
        f"{wheel}[pytest]",
        cwd=tmp_path,
    )
    folder = tmp_path / "plugin-check"
    folder.mkdir()
    (folder / "test_plugin.py").write_text(PLUGIN_TEST)
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--kafka-broker",
            "redpanda",
            str(folder),
        ],
        cwd=folder,
        env=uv_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 passed, 1 skipped" in proc.stdout, proc.stdout[-3000:]
    assert "pip install 'bytewax-kafka-testing[containers]'" in proc.stdout, proc.stdout[-3000:]


def test_bench_wheel_alone_runs_the_documented_quick_job(dist, constraints, tmp_path):
    """docs/bench.md's install-and-run example, from a clean venv with only the bench wheel (tiny size)."""
    page = (ROOT / "docs" / "bench.md").read_text()
    for command in ("pip install bytewax-kafka-bench", "kafka-bench list", "kafka-bench run quick"):
        assert command in page, command
    venv = tmp_path / "bench"
    run(uv(), "venv", "--python", "3.11", "--no-project", venv, cwd=tmp_path)
    run(
        uv(),
        "pip",
        "install",
        "--python",
        venv / "bin" / "python",
        "--find-links",
        dist,
        "--constraint",
        constraints,
        wheels(dist)["bytewax-kafka-bench"],
        cwd=tmp_path,
    )
    bench = venv / "bin" / "kafka-bench"
    listed = run(bench, "list", cwd=tmp_path)
    assert "quick  [18 cells" in listed
    assert "max-sustainable" in listed
    # The quick job by name, at a tiny size: one repetition, small counts, short loads.
    tiny = ["--repeat", "1", "--set", "messages=3000", "--set", "duration=2", "--set", "warmup=0.5"]
    tiny += ["--set", "min_window=0.1", "--set", "broker_warmup=1", "--set", "partitions=2"]
    run(bench, "run", "quick", *tiny, "-o", tmp_path / "out", "--run-id", "q", "-q", cwd=tmp_path)
    report = (tmp_path / "out" / "q" / "report.md").read_text()
    assert "## Summary" in report
    assert "raw confluent-kafka loop" in report
    assert not re.search(r"\bissue\b", report, re.I)
    doc = json.loads((tmp_path / "out" / "q" / "results.json").read_text())
    assert {c["status"] for c in doc["cells"]} == {"ok"}
    assert len(doc["cells"]) == 6
