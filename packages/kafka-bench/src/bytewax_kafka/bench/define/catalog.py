"""The scenarios shipped with kafka-bench, run by name: ``kafka-bench run quick``.

They live in the package (``bytewax_kafka/bench/scenarios/*.toml``), so an
installed wheel runs them; a path to a file of your own works the same way.

Example:
    >>> "quick" in shipped_names()
    True
    >>> resolve("quick").name
    'quick'
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from bytewax_kafka.bench.define.scenario import Scenario, load_scenario, parse_scenario
from bytewax_kafka.bench.errors import ScenarioError

__all__ = ["resolve", "shipped", "shipped_names"]


def _folder() -> Traversable:
    return resources.files("bytewax_kafka.bench").joinpath("scenarios")


def shipped_names() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(p.name[: -len(".toml")] for p in _folder().iterdir() if p.name.endswith(".toml"))


def shipped(name: str) -> Scenario:
    """The shipped scenario ``name``.

    Raises:
        ScenarioError: When no shipped scenario has that name.
    """
    entry = _folder().joinpath(f"{name}.toml")
    if not entry.is_file():
        raise ScenarioError(f"no scenario named {name!r}; shipped: {', '.join(shipped_names())}")
    return parse_scenario(entry.read_text(encoding="utf-8"), f"{name}.toml")


def resolve(spec: str | Path) -> Scenario:
    """A scenario by path (a file that exists) or by name (a shipped one).

    Raises:
        ScenarioError: When ``spec`` is neither, or the file is invalid.
    """
    text = str(spec)
    path = Path(text)
    if path.is_file():
        return load_scenario(path)
    looks_like_path = text.endswith(".toml") or "/" in text or "\\" in text
    if not looks_like_path and text in shipped_names():
        return shipped(text)
    if looks_like_path:
        raise ScenarioError(f"{text}: cannot read the scenario: no such file")
    raise ScenarioError(f"no scenario named {text!r} and no such file; shipped: {', '.join(shipped_names())}")
