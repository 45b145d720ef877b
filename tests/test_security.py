"""TLS and SASL against Apache Kafka on loopback; secrets never shown.

One broker for the module, started by ``ApacheKafka(security=...)`` with three
client listeners: ``SASL_SSL`` and ``SASL_PLAINTEXT`` (users log in with
``SCRAM-SHA-512`` or ``PLAIN``) and ``SSL`` (mutual TLS: the certificate's
CN is the user), a CA and certificates made by the test (``tlskit.py``), and
Kafka's ``StandardAuthorizer``: ``alice`` may use topics named ``alice-*``,
``bob`` nothing.

- Source and sink authenticate through ``add_config`` on every listener and
  mechanism, in-process and as a ``python -m bytewax.run`` process.
- A wrong password, an unknown user or a CA the client does not know fail
  within the timeout with an error saying so (librdkafka only retries and
  logs them; the connector's error now names the cause).
- A topic denied by an ACL fails clearly when reading and when writing.
- Every test's captured output (stdout and stderr at the file-descriptor
  level, so librdkafka's own log lines too; log records; exception texts;
  reprs), the flow process's log and the broker's log are scanned for the
  passwords: none may appear.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from bytewax_kafka import operators as kop
from bytewax_kafka.core import (
    KafkaAuthenticationError,
    KafkaConnectorError,
    KafkaDeliveryError,
    KafkaSink,
    KafkaSinkMessage,
    KafkaSource,
    KafkaTimeoutError,
    redact,
)
from bytewax_kafka.testing import (
    ApacheKafka,
    KafkaSecurity,
    TlsFiles,
    create_topic,
    produce_n,
    read_to_end,
)
from faultkit import FlowProcess, flow_cmd, flow_env
from tlskit import TestCA

pytestmark = pytest.mark.slow


@dataclass
class Secure:
    broker: ApacheKafka
    passwords: dict[str, str]
    alice_cert: Any
    alice_key_password: str
    #: Every secret of this module: passwords, a wrong one, the client key's password.
    secrets: list[str] = field(default_factory=list)
    #: Files to scan at the end (flow logs).
    logs: list[Path] = field(default_factory=list)

    def conf(self, protocol: str, user: str = "alice", **kw: Any) -> dict[str, Any]:
        """Client settings for ``user`` on the ``protocol`` listener."""
        if protocol == "SSL":
            conf = self.broker.client_config("SSL")
            conf.update(
                {
                    "ssl.certificate.location": str(self.alice_cert.cert),
                    "ssl.key.location": str(self.alice_cert.key),
                    "ssl.key.password": self.alice_key_password,
                }
            )
            return conf
        return self.broker.client_config(protocol, user=user, **kw)

    def topic(self, owner: str = "alice") -> str:
        return create_topic(self.broker.client_config(), f"{owner}-{uuid.uuid4().hex}", partitions=2)


def _secret(name: str) -> str:
    return f"{name}-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def secure(tmp_path_factory) -> Any:
    folder = tmp_path_factory.mktemp("tls")
    ca = TestCA(folder)
    server = ca.issue("broker", server=True)
    admin_key_password, alice_key_password = _secret("admin-key"), _secret("alice-key")
    admin_cert = ca.issue("admin", key_password=admin_key_password)
    alice_cert = ca.issue("alice", key_password=alice_key_password)
    passwords = {"admin": _secret("admin"), "alice": _secret("alice"), "bob": _secret("bob")}
    security = KafkaSecurity(
        listeners=("SASL_SSL", "SASL_PLAINTEXT", "SSL"),
        users=passwords,
        admin="admin",
        acls=True,
        tls=TlsFiles(
            ca=ca.cert,
            keystore=server.bundle,
            admin_cert=admin_cert.cert,
            admin_key=admin_cert.key,
            admin_key_password=admin_key_password,
        ),
    )
    with ApacheKafka(security=security) as broker:
        admin = AdminClient(broker.client_config())
        acls = [
            AclBinding(
                ResourceType.TOPIC,
                "alice-",
                ResourcePatternType.PREFIXED,
                "User:alice",
                "*",
                AclOperation.ALL,
                AclPermissionType.ALLOW,
            ),
            AclBinding(
                ResourceType.GROUP,
                "*",
                ResourcePatternType.LITERAL,
                "User:alice",
                "*",
                AclOperation.ALL,
                AclPermissionType.ALLOW,
            ),
        ]
        for fut in admin.create_acls(acls, request_timeout=30).values():
            fut.result()
        yield Secure(
            broker=broker,
            passwords=passwords,
            alice_cert=alice_cert,
            alice_key_password=alice_key_password,
            secrets=[*passwords.values(), admin_key_password, alice_key_password, WRONG],
        )


WRONG = _secret("wrong")


@dataclass
class Scan:
    """Texts a test adds (exception texts, reprs) for the secret scan at its end."""

    texts: list[str] = field(default_factory=list)

    def add(self, *items: Any) -> None:
        for item in items:
            if isinstance(item, BaseException):
                self.texts.append(_chain(item))
            else:
                self.texts.append(str(item))
                self.texts.append(repr(item))


@pytest.fixture
def scan(secure, capfd, caplog):
    """After the test: nothing it printed, logged, raised or repr'd holds a secret."""
    caplog.set_level("DEBUG")
    found = Scan()
    yield found
    out, err = capfd.readouterr()
    # caplog.text holds only the current phase's records: gather the test's.
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)
    texts = {"stdout": out, "stderr": err, "log records": logged}
    texts.update({f"text {i}": t for i, t in enumerate(found.texts)})
    leaks = [(where, s) for where, text in texts.items() for s in secure.secrets if s in text]
    assert not leaks, f"secrets leaked: {[(where, s[:6] + '...') for where, s in leaks]}"


def _chain(exc: BaseException | None) -> str:
    out = []
    while exc is not None:
        out.append(f"{type(exc).__name__}: {exc}\n{exc!r}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


def _copy_flow(conf: dict[str, Any], src: str, dst: str, *, operators: bool) -> list[Any]:
    brokers = conf["bootstrap.servers"].split(",")
    add = {k: v for k, v in conf.items() if k != "bootstrap.servers"}
    flow = Dataflow("secure_copy")
    seen: list[Any] = []
    if operators:
        kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False, add_config=add)
        msgs = kinp.oks
        op.output("errs", kinp.errs, TestingSink(seen))
        out = op.map("copy", msgs, lambda m: KafkaSinkMessage(m.key, m.value))
        kop.output("out", out, brokers=brokers, topic=dst, add_config=add)
    else:
        source = KafkaSource(brokers, [src], tail=False, add_config=add)
        msgs = op.input("in", flow, source)
        out = op.map("copy", msgs, lambda m: KafkaSinkMessage(m.key, m.value))
        op.output("out", out, KafkaSink(brokers, dst, add_config=add))
    run_main(flow)
    return seen


PATHS = [
    ("SASL_SSL", "SCRAM-SHA-512"),
    ("SASL_SSL", "PLAIN"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ("SASL_PLAINTEXT", "PLAIN"),
    ("SSL", "client certificate"),
]


@pytest.mark.parametrize(("protocol", "mechanism"), PATHS)
def test_source_and_sink_authenticate(protocol, mechanism, secure, scan):
    conf = secure.conf(protocol, mechanism=mechanism) if protocol != "SSL" else secure.conf("SSL")
    src, dst = secure.topic(), secure.topic()
    produce_n(secure.broker.client_config(), src, 200)
    errs = _copy_flow(conf, src, dst, operators=protocol != "SASL_PLAINTEXT")
    assert errs == []
    assert sorted(int(r.value) for r in read_to_end(secure.broker.client_config(), dst)) == list(range(200))
    brokers = conf["bootstrap.servers"].split(",")
    add = {k: v for k, v in conf.items() if k != "bootstrap.servers"}
    scan.add(
        KafkaSource(brokers, [src], add_config=add), KafkaSink(brokers, dst, add_config=add), redact(conf)
    )


def test_flow_process_authenticates(secure, scan, tmp_path):
    conf = secure.conf("SASL_SSL")
    src, dst = secure.topic(), secure.topic()
    produce_n(secure.broker.client_config(), src, 500)
    add = {k: v for k, v in conf.items() if k != "bootstrap.servers"}
    env = flow_env(brokers=conf["bootstrap.servers"], **{"in": src, "out": dst}, config=json.dumps(add))
    log = tmp_path / "flow.log"
    secure.logs.append(log)
    flow = FlowProcess(flow_cmd("fault_flow", None), env, log).start()
    assert flow.wait(timeout=120) == 0, "the flow failed (its log is scanned at the end of the module)"
    assert len(read_to_end(secure.broker.client_config(), dst)) == 500


# (case, client settings, what the error must say)
BAD_LOGINS = [
    ("wrong-password-scram", {"user": "alice", "password": WRONG}, "Authentication failed"),
    (
        "unknown-user-plain",
        {"user": "mallory", "password": WRONG, "mechanism": "PLAIN"},
        "Authentication failed",
    ),
]
REFUSED = "the broker refused the client's credentials"
TLS_FAILED = "the TLS handshake with the broker failed"


@pytest.mark.parametrize(("case", "login", "says"), BAD_LOGINS, ids=[c for c, _, _ in BAD_LOGINS])
@pytest.mark.parametrize("side", ["source", "sink"])
def test_bad_credentials_fail_clearly_within_the_timeout(case, login, says, side, secure, scan):
    conf = secure.broker.client_config("SASL_SSL", **login)
    _fails_clearly(conf, side, secure, scan, says, first=REFUSED)


@pytest.mark.parametrize("side", ["source", "sink"])
def test_unknown_ca_fails_clearly_within_the_timeout(side, secure, scan):
    conf = {k: v for k, v in secure.conf("SASL_SSL").items() if k != "ssl.ca.location"}
    _fails_clearly(conf, side, secure, scan, "certificate verify failed", first=TLS_FAILED)


def _connector_error(exc: BaseException | None) -> BaseException:
    """The connector's own exception inside bytewax's wrapping."""
    while exc is not None:
        if isinstance(exc, KafkaConnectorError):
            return exc
        exc = exc.__cause__ or exc.__context__
    raise AssertionError("no bytewax-kafka error in the chain")


def _fails_clearly(
    conf: dict[str, Any], side: str, secure: Secure, scan: Scan, says: str, *, first: str
) -> None:
    timeout = 3
    brokers = conf["bootstrap.servers"].split(",")
    add = {k: v for k, v in conf.items() if k != "bootstrap.servers"}
    topic = secure.topic()
    flow = Dataflow("bad_login")
    if side == "source":
        src = KafkaSource(brokers, [topic], tail=False, timeout=timeout, add_config=add)
        op.output("out", op.input("in", flow, src), TestingSink([]))
        before: type[Exception] = KafkaTimeoutError  # what was raised before: still true
    else:
        sink = KafkaSink(brokers, topic, add_config={**add, "message.timeout.ms": timeout * 1000})
        op.output("out", op.input("in", flow, _one_message()), sink)
        before = KafkaDeliveryError
    t = time.monotonic()
    with pytest.raises(Exception) as info:  # noqa: PT011 - bytewax wraps ours
        run_main(flow)
    elapsed = time.monotonic() - t
    text = _chain(info.value)
    scan.add(info.value)
    ours = _connector_error(info.value)
    assert isinstance(ours, KafkaAuthenticationError), text[-2000:]
    assert isinstance(ours, before)
    # The refusal comes first: the broker did answer, it refused.
    assert str(ours).startswith(first), str(ours)
    assert says in ours.cause, ours.cause
    assert elapsed < timeout + 15, f"took {elapsed:.0f}s"


def _one_message() -> Any:
    from bytewax.testing import TestingSource

    return TestingSource([KafkaSinkMessage(None, b"x")])


def test_topic_denied_by_acl_fails_clearly(secure, scan):
    topic = secure.topic("alice")
    produce_n(secure.broker.client_config(), topic, 3)
    bob = secure.conf("SASL_SSL", user="bob")
    brokers = bob["bootstrap.servers"].split(",")
    add = {k: v for k, v in bob.items() if k != "bootstrap.servers"}

    flow = Dataflow("denied_read")
    op.output(
        "out",
        op.input("in", flow, KafkaSource(brokers, [topic], tail=False, add_config=add)),
        TestingSink([]),
    )
    with pytest.raises(Exception) as read:  # noqa: PT011
        run_main(flow)
    text = _chain(read.value)
    scan.add(read.value)
    assert "KafkaTopicError" in text
    assert f"not authorized to read topic {topic!r}" in text

    flow = Dataflow("denied_write")
    op.output("out", op.input("in", flow, _one_message()), KafkaSink(brokers, topic, add_config=add))
    with pytest.raises(Exception) as write:  # noqa: PT011
        run_main(flow)
    text = _chain(write.value)
    scan.add(write.value)
    assert "KafkaDeliveryError" in text
    assert f"delivery to topic {topic!r}" in text
    assert "TOPIC_AUTHORIZATION_FAILED" in text


def test_a_missing_topic_the_user_may_create_is_not_created_by_reading_it(secure, scan):
    """alice may create ``alice-*`` topics: a source asking for a missing one must not make it."""
    missing = f"alice-missing-{uuid.uuid4().hex}"
    alice = secure.conf("SASL_SSL")
    brokers = alice["bootstrap.servers"].split(",")
    add = {k: v for k, v in alice.items() if k != "bootstrap.servers"}
    for _run in range(2):
        flow = Dataflow("missing_read")
        src = KafkaSource(brokers, [missing], tail=False, timeout=10, add_config=add)
        op.output("out", op.input("in", flow, src), TestingSink([]))
        with pytest.raises(Exception) as info:  # noqa: PT011
            run_main(flow)
        scan.add(info.value)
        assert f"topic {missing!r} does not exist" in _chain(info.value)
    admin = AdminClient(secure.broker.client_config())
    assert missing not in admin.list_topics(timeout=10).topics


def test_no_secret_in_reprs_logs_or_files(secure, scan):
    """The launcher's own reprs, the flow process logs and the broker's log hold no password."""
    scan.add(secure.broker, secure.broker.security, secure.broker.describe())
    files = [*secure.logs, *(node.log_path for node in secure.broker.nodes)]
    assert files
    for path in files:
        text = path.read_text(errors="replace")
        leaked = [s[:6] + "..." for s in secure.secrets if s in text]
        assert not leaked, f"{path} holds secrets {leaked}"


BENCH_SCENARIO = """\
name = "secrets"
description = "a kafka-bench run whose client settings hold secrets"
broker = "tansu"
partitions = 1
message_size = 100
repetitions = 1
broker_warmup = 0

[[matrix]]
name = "throughput"
mode = "max-rate"
messages = 2_000
variant = ["ours"]
consumer_config = {{ "sasl.username" = "bench-user", "sasl.password" = "{password}" }}
producer_config = {{ "ssl.key.password" = "{key_password}" }}
"""


def test_bench_run_folder_holds_no_secret(tmp_path):
    """A kafka-bench run (on Tansu: the runner's own clients take no security settings) keeps no secret.

    The scenario's client settings reach the flows; its results, report,
    logs and console output must not show them.
    """
    password, key_password = _secret("bench"), _secret("bench-key")
    scenario = tmp_path / "secrets.toml"
    scenario.write_text(BENCH_SCENARIO.format(password=password, key_password=key_password))
    run = subprocess.run(
        [
            shutil.which("kafka-bench") or "kafka-bench",
            "run",
            str(scenario),
            "--output",
            str(tmp_path),
            "--run-id",
            "r",
            "--no-plots",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    texts = {"console": run.stdout + run.stderr}
    texts.update({str(p): p.read_text(errors="replace") for p in (tmp_path / "r").rglob("*") if p.is_file()})
    assert len(texts) > 3  # results.json, results.csv, report.md, logs
    leaks = [where for where, text in texts.items() if password in text or key_password in text]
    assert not leaks, f"secrets in {leaks}"
