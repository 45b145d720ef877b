"""The five packages are released in lockstep: one version everywhere.

Every package's ``pyproject.toml`` version, its ``__version__``, every pin of
a sibling (``bytewax-kafka-x==V``) and the newest entry of its CHANGELOG
must agree; each carries the repository's LICENSE (PEP 639 license files
must sit beside the ``pyproject.toml``) and the same project URLs.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


def pyproject(path: Path) -> dict[str, Any]:
    return tomllib.loads((path / "pyproject.toml").read_text())


def project(path: Path) -> dict[str, Any]:
    return dict(pyproject(path)["project"])


def module_name(path: Path) -> str:
    return str(pyproject(path)["tool"]["uv"]["build-backend"]["module-name"])


VERSIONS = {project(p)["name"]: project(p)["version"] for p in PACKAGES}


def test_five_packages_one_version() -> None:
    assert len(VERSIONS) == 5, VERSIONS
    assert len(set(VERSIONS.values())) == 1, VERSIONS


@pytest.mark.parametrize("path", PACKAGES, ids=lambda p: p.name)
def test_dunder_version_matches(path: Path) -> None:
    module = importlib.import_module(module_name(path))
    assert module.__version__ == project(path)["version"]


@pytest.mark.parametrize("path", PACKAGES, ids=lambda p: p.name)
def test_sibling_pins_are_exact_and_current(path: Path) -> None:
    meta = project(path)
    requirements = list(meta.get("dependencies", []))
    for extra in meta.get("optional-dependencies", {}).values():
        requirements += extra
    for text in requirements:
        req = Requirement(text)
        if req.name in VERSIONS and req.name != meta["name"]:
            assert str(req.specifier) == f"=={VERSIONS[req.name]}", f"{meta['name']}: {text}"


@pytest.mark.parametrize("path", PACKAGES, ids=lambda p: p.name)
def test_changelog_names_the_version(path: Path) -> None:
    text = (path / "CHANGELOG.md").read_text()
    entries = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert entries, f"{path.name}/CHANGELOG.md has no entry"
    newest = entries[0] if entries[0] != "Unreleased" else entries[1]
    assert newest == project(path)["version"]


ROOT_LICENSE = (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("path", PACKAGES, ids=lambda p: p.name)
def test_license_file_is_the_repositorys(path: Path) -> None:
    meta = project(path)
    assert meta["license"] == "Apache-2.0"
    assert meta["license-files"] == ["LICENSE"]
    assert (path / "LICENSE").read_text() == ROOT_LICENSE, f"{path.name}/LICENSE differs from LICENSE"


def test_project_urls_agree() -> None:
    urls = {project(p)["name"]: project(p)["urls"] for p in PACKAGES}
    shared = {k: {u[k] for u in urls.values()} for k in ("Homepage", "Documentation", "Issues")}
    assert all(len(v) == 1 for v in shared.values()), shared
    for path in PACKAGES:
        assert project(path)["urls"]["Changelog"].endswith(f"/packages/{path.name}/CHANGELOG.md")
