"""Scenario files: TOML declaring one or more benchmark matrices.

A scenario's top-level keys are defaults for each ``[[matrix]]`` table; a
file without ``[[matrix]]`` tables is one matrix. Every *axis* key takes a
value or a list of values; the matrix is the product of its axes::

    name = "batches"
    description = "Ours against both baselines at two batch sizes."
    variant = ["ours", "builtin", "raw"]
    batch_size = [100, 1000]

Each ``[[matrix]]`` table (with a ``name``) is a matrix of its own that
inherits the top-level keys, e.g. one in ``mode = "fixed-rate"`` with
``rate = [10_000, 50_000]`` beside the max-rate one.

See :mod:`bytewax_kafka.bench.define.keys` for every key, its type and default.
Errors name the file, the matrix and the key.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from bytewax_kafka.bench.define.keys import (
    ALIASES,
    AXES,
    RATE_MODES,
    SETTINGS,
    check_axis,
    check_setting,
)
from bytewax_kafka.bench.errors import ScenarioError

__all__ = [
    "Matrix",
    "Scenario",
    "finish_matrix",
    "load_scenario",
    "parse_scenario",
    "read_text",
]

_TOP_ONLY = {"name", "description", "matrix"}


@dataclass
class Matrix:
    """One matrix of a scenario: axes (lists) and settings (single values)."""

    name: str
    axes: dict[str, list[Any]]
    settings: dict[str, Any]
    exclude: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scenario:
    """A parsed, validated scenario."""

    name: str
    description: str
    matrices: list[Matrix]
    path: str | None = None
    text: str = ""


def _canonical(key: str) -> str:
    return ALIASES.get(key, key)


def _collect(table: Mapping[str, Any], where: str, *, top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = _canonical(raw_key)
        if top and key in _TOP_ONLY:
            continue
        if not top and key in ("name", "exclude"):
            continue
        if key in out:
            raise ScenarioError(f"{where}: {raw_key}: given twice (also as {key!r})")
        if key in AXES:
            out[key] = check_axis(key, value, where)
        elif key in SETTINGS:
            out[key] = check_setting(key, value, where)
        elif key == "exclude":
            out[key] = value
        else:
            known = sorted([*AXES, *SETTINGS, "name", "exclude"])
            raise ScenarioError(f"{where}: unknown key {raw_key!r}; known keys: {', '.join(known)}")
    return out


def _check_exclude(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise ScenarioError(f"{where}: exclude: expected a list of tables such as [{{variant = 'raw'}}]")
    out = []
    for entry in value:
        checked: dict[str, Any] = {}
        for k, v in entry.items():
            key = _canonical(k)
            if key not in AXES:
                raise ScenarioError(f"{where}: exclude: {k!r} is not an axis ({', '.join(AXES)})")
            checked[key] = check_axis(key, v, f"{where}: exclude")
        out.append(checked)
    return out


def finish_matrix(name: str, merged: dict[str, Any], where: str) -> Matrix:
    """Fill defaults and check the rules between keys."""
    axes: dict[str, list[Any]] = {}
    settings: dict[str, Any] = {}
    for key, spec in AXES.items():
        if key in merged:
            axes[key] = merged[key]
        elif spec.default is not None:
            axes[key] = spec.default if isinstance(spec.default, list) else [spec.default]
    for key, spec in SETTINGS.items():
        settings[key] = merged.get(key, spec.default)
    mode = settings["mode"]
    given = {k for k, v in merged.items() if v is not None}
    if mode in ("fixed-rate", "backlog-drain") and "rate" not in axes:
        raise ScenarioError(f"{where}: rate: {mode} mode needs a rate (msg/s), e.g. rate = [10000]")
    if mode not in RATE_MODES:
        if "rate" in axes:
            raise ScenarioError(
                f"{where}: rate: only {', '.join(RATE_MODES)} modes take a rate (mode is {mode!r})"
            )
        if "duration" in given:
            raise ScenarioError(
                f"{where}: duration: max-rate mode pre-fills a message count; use messages = N"
            )
    if mode != "fixed-rate" and merged.get("shape") not in (None, "steady"):
        raise ScenarioError(f"{where}: shape: load shapes apply to fixed-rate mode only")
    if mode == "max-sustainable":
        if "messages" in given:
            raise ScenarioError(
                f"{where}: messages: max-sustainable mode searches a rate; set duration per step"
            )
        axes.setdefault("rate", [10_000])
        settings["duration"] = settings["duration"] or 5.0
    elif mode == "fixed-rate" and settings["duration"] is None and "messages" not in given:
        settings["duration"] = 10.0
    elif mode == "backlog-drain":
        settings["duration"] = settings["duration"] or 10.0
    settings["messages_given"] = "messages" in merged
    exclude = _check_exclude(merged.get("exclude", []), where)
    return Matrix(name=name, axes=axes, settings=settings, exclude=exclude)


def parse_scenario(text: str, path: str | None = None) -> Scenario:
    """Parse and validate scenario TOML text.

    Raises:
        ScenarioError: On a TOML syntax error or an invalid key or value.
    """
    label = path or "<scenario>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: not valid TOML: {exc}") from None
    name = data.get("name", Path(path).stem if path else "scenario")
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{label}: name: expected a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(f"{label}: description: expected a string")
    top = _collect(data, label, top=True)
    tables = data.get("matrix")
    if tables is None:
        tables = [{}]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables) or not tables:
        raise ScenarioError(f"{label}: matrix: expected [[matrix]] tables")
    matrices: list[Matrix] = []
    seen: set[str] = set()
    for i, table in enumerate(tables):
        mname = table.get("name", name if len(tables) == 1 else f"matrix-{i + 1}")
        if not isinstance(mname, str) or not mname:
            raise ScenarioError(f"{label}: matrix #{i + 1}: name: expected a non-empty string")
        if mname in seen:
            raise ScenarioError(f"{label}: matrix {mname!r}: the name is used twice")
        seen.add(mname)
        where = f"{label}: matrix {mname!r}"
        own = _collect(table, where, top=False)
        if "exclude" in table:
            own["exclude"] = table["exclude"]
        merged = {**top, **own}
        matrices.append(finish_matrix(mname, merged, where))
    return Scenario(name=name, description=description, matrices=matrices, path=path, text=text)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: When the file is missing or invalid.
    """
    return parse_scenario(read_text(path, "scenario"), str(path))


def read_text(path: str | Path, what: str) -> str:
    """A scenario's (or goals') file text.

    Raises:
        ScenarioError: When it cannot be read; the message names the file.
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
