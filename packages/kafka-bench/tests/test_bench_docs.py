"""The benchmarks page: its TOML blocks parse, its goals check a run, its commands name shipped scenarios."""

from __future__ import annotations

import re
from pathlib import Path

from bytewax_kafka.bench.define.catalog import shipped_names
from bytewax_kafka.bench.define.matrix import expand
from bytewax_kafka.bench.define.scenario import parse_scenario
from bytewax_kafka.bench.report.goals import goals_section, parse_goals

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "bench.md"
README = ROOT / "packages" / "kafka-bench" / "README.md"


def _blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def test_scenario_blocks_parse_and_expand():
    blocks = [b for p in (PAGE, README) for b in _blocks(p, "toml") if "[[goal]]" not in b]
    assert len(blocks) >= 2
    for b in blocks:
        assert expand(parse_scenario(b))


def test_the_goals_block_checks_a_run(doc_factory):
    [block] = [b for b in _blocks(PAGE, "toml") if "[[goal]]" in b]
    goals = parse_goals(block)
    assert [g.metric for g in goals] == ["busy_cpu_us_per_msg_vs_builtin", "latency_p99_ms"]
    lines = goals_section(goals, doc_factory(1.0, "g").summary, "goals.toml")
    text = "\n".join(lines)
    assert "### Goals" in text
    assert "goals.toml" in text
    assert "| busy CPU per message, ours over the built-in connector's |" in text
    assert "yes" in text  # ours uses half the built-in connector's CPU per message in the synthetic run


def test_commands_name_shipped_scenarios():
    names = set(shipped_names())
    for path in (PAGE, README, ROOT / "README.md", ROOT / "docs" / "performance.md"):
        for m in re.finditer(r"kafka-bench run ([\w.-]+)", path.read_text()):
            arg = m.group(1)
            assert arg.endswith(".toml") or arg in names or arg.isupper(), (
                f"{path.name}: kafka-bench run {arg}"
            )
