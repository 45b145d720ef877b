"""docs/settings.md lists exactly the librdkafka settings the code sets, with the code's values.

The settings are read from the code itself: the source's consumer settings,
the admin client's, the producers' defaults, the exactly-once producer's,
and those of every client created while a partition of an exactly-once or
commit-progress sink is built (recorded by wrapping ``make_client``). A
setting added to the code and not to the table, or a value changed on one
side only, fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import bytewax_kafka.core.config as config_module
import bytewax_kafka.core.consumer as consumer_module
import bytewax_kafka.core.producer as producer_module
import bytewax_kafka.core.source as source_module
import bytewax_kafka.core.worker_writer as worker_writer
from bytewax_kafka.core import (
    CommitProgress,
    ConsumerGroup,
    ExactlyOnce,
    KafkaGroupSource,
    KafkaSource,
    KafkaTimeoutError,
)
from bytewax_kafka.core.lag import WatermarkProbe
from bytewax_kafka.core.logs import ClientLog
from bytewax_kafka.core.metadata import ADMIN_SETTINGS
from bytewax_kafka.core.producer import PRODUCER_DEFAULTS, DeliveringProducer
from bytewax_kafka.testing.ports import free_port
from docblocks import DOCS

PAGE = DOCS / "settings.md"


def table() -> dict[tuple[str, str], str]:
    """``(setting, client) -> our value`` from the page's table."""
    rows: dict[tuple[str, str], str] = {}
    for line in PAGE.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        setting = cells[0].strip("`")
        value = re.findall(r"`([^`]*)`", cells[2])
        key = (setting, cells[1])
        assert key not in rows, f"{key} listed twice"
        rows[key] = value[0] if value else cells[2]
    return rows


def text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def recorded_group_clients(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The settings of the clients a commit-progress sink partition creates."""
    made: list[dict[str, Any]] = []
    real = worker_writer.make_client

    def record(factory: Any, config: dict[str, Any], what: str) -> Any:
        made.append(dict(config))
        return real(factory, config, what)

    monkeypatch.setattr(worker_writer, "make_client", record)
    mode = CommitProgress("<name>")
    mode.tracker.register_worker(0, 1)
    base = {"bootstrap.servers": f"127.0.0.1:{free_port()}"}
    writer = worker_writer.WorkerWriter(mode, 0, "flow", base)
    writer._group.close()
    return made


def from_code(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], str]:
    settings: dict[tuple[str, str], str] = {}
    plain = KafkaSource(["127.0.0.1:1"], ["t"]).consumer_config()
    plain.pop("bootstrap.servers")
    eos = ExactlyOnce("<name>")
    with_eos = KafkaSource(["127.0.0.1:1"], ["t"], exactly_once=eos).consumer_config()
    for key, value in {**plain, **with_eos}.items():
        if key != "bootstrap.servers":
            settings[(key, "source consumer")] = text(value)
    for key, value in ADMIN_SETTINGS.items():
        settings[(key, "source admin client")] = text(value)
    for key, value in PRODUCER_DEFAULTS.items():
        settings[(key, "producer")] = text(value)
    for key, value in eos.producer_settings(0).items():
        settings[(key, "exactly-once producer")] = text(value).replace("-w0", "-w<worker>")
    [group] = [c for c in recorded_group_clients(monkeypatch) if "group.id" in c]
    for key, value in group.items():
        if key not in ("bootstrap.servers", "error_cb", "logger"):
            settings[(key, "exactly-once and commit-progress group client")] = text(value)
    grp = ConsumerGroup("<group_id>", exactly_once=True, instance_id="<instance_id>")
    member = KafkaGroupSource(["127.0.0.1:1"], ["t"], grp).consumer_config(0)
    for key, value in member.items():
        if key != "bootstrap.servers":
            settings[(key, "group member consumer")] = text(value).replace("-w0", "-w<worker>")
    for key, value in grp.producer_settings(0).items():
        settings[(key, "consumer-group exactly-once producer")] = text(value).replace("-w0", "-w<worker>")
    probe = WatermarkProbe({"bootstrap.servers": "127.0.0.1:1"})
    settings[("allow.auto.create.topics", "lag probe admin client")] = text(
        probe._config["allow.auto.create.topics"]
    )
    settings[("error_cb", "source clients and producers")] = "ours"
    settings[("logger", "every client")] = "ours"
    return settings


def test_the_table_lists_every_setting_the_code_sets_with_its_value(monkeypatch):
    documented = table()
    code = from_code(monkeypatch)
    assert sorted(set(code) - set(documented)) == [], "set in the code, missing from docs/settings.md"
    assert sorted(set(documented) - set(code)) == [], "in docs/settings.md, not set by the code"
    wrong = {k: (documented[k], code[k]) for k in code if documented[k] != code[k]}
    assert wrong == {}, "(docs, code)"


def test_source_clients_and_producers_get_our_error_cb(monkeypatch):
    made: list[tuple[str, dict[str, Any]]] = []
    real = config_module.make_client

    def record(factory: Any, config: dict[str, Any], what: str) -> Any:
        made.append((what, dict(config)))
        return real(factory, config, what)

    monkeypatch.setattr(source_module, "make_client", record)
    monkeypatch.setattr(consumer_module, "make_client", record)
    monkeypatch.setattr(producer_module, "make_client", record)
    closed = f"127.0.0.1:{free_port()}"
    with pytest.raises(KafkaTimeoutError):
        KafkaSource([closed], ["t"], timeout=0.5).list_parts()
    DeliveringProducer({"bootstrap.servers": closed}, "t")
    worker = consumer_module.WorkerConsumer(KafkaSource([closed], ["t"]).consumer_config(), 1.0, 10)
    worker.consumer.close()
    assert {what for what, _config in made} == {"admin client", "producer", "consumer"}
    assert all(callable(config["error_cb"]) for _what, config in made)


def test_every_client_gets_our_logger_unless_it_names_one():
    built = config_module.make_client(lambda config: config, {"bootstrap.servers": "b:1"}, "consumer")
    assert isinstance(built["logger"], ClientLog)
    mine = object()
    built = config_module.make_client(lambda config: config, {"logger": mine}, "producer")
    assert built["logger"] is mine
