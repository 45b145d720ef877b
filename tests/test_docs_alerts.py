"""The Prometheus alert rules of docs/observability.md parse and name only metrics the source exports."""

from __future__ import annotations

import re

import yaml

from bytewax_kafka.core.metrics import PARTITION_GAUGES
from docblocks import DOCS

_YAML = re.compile(r"^```yaml\n(.*?)^```", flags=re.S | re.M)


def rules() -> list[dict]:
    [block] = _YAML.findall((DOCS / "observability.md").read_text())
    doc = yaml.safe_load(block)
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_are_prometheus_rule_groups():
    found = rules()
    assert len(found) >= 3
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"], rule
        assert rule["expr"], rule
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule
        assert rule["annotations"]["summary"], rule


def test_alert_rules_use_the_exported_metrics_with_their_labels():
    exported = {g._name: set(g._labelnames) for g in PARTITION_GAUGES}
    used = set()
    for rule in rules():
        names = set(re.findall(r"bytewax_kafka_\w+", rule["expr"]))
        assert names, rule
        assert names <= set(exported), names - set(exported)
        used |= names
        for by in re.findall(r"by \(([^)]*)\)", rule["expr"]):
            for label in (x.strip() for x in by.split(",")):
                assert all(label in exported[n] for n in names), (label, rule["alert"])
    assert "bytewax_kafka_source_partition_stalled" in used
    assert "bytewax_kafka_source_lag_seconds" in used
