"""KafkaSecurity: validation, the broker settings it makes, secrets kept out of reprs (no broker).

A secured broker itself is exercised by the root suite's ``tests/test_security.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bytewax_kafka.testing import ApacheKafka, KafkaSecurity, TlsFiles

TLS = TlsFiles(ca=Path("/x/ca.pem"), keystore=Path("/x/broker.pem"), admin_key_password="key-secret-1")
USERS = {"admin": "admin-secret-1", "alice": "alice-secret-2"}


def test_settings_for_sasl_tls_and_acls():
    sec = KafkaSecurity(listeners=("SASL_SSL", "SSL"), users=USERS, admin="admin", acls=True, tls=TLS)
    props = sec.server_properties()
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    assert 'user_alice="alice-secret-2"' in props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["ssl.keystore.type"] == "PEM"
    assert props["super.users"] == "User:ANONYMOUS;User:admin"
    assert sec.listener_entries({"SASL_SSL": 1, "SSL": 2}, "127.0.0.1") == (
        "SASL_SSL://127.0.0.1:1,SSL://127.0.0.1:2",
        "SASL_SSL:SASL_SSL,SSL:SSL",
    )
    assert sec.format_args() == [
        "--add-scram",
        'SCRAM-SHA-512=[name=admin,password="admin-secret-1"]',
        "--add-scram",
        'SCRAM-SHA-512=[name=alice,password="alice-secret-2"]',
    ]
    conf = sec.client_config("127.0.0.1:1", "SASL_SSL", user="alice", mechanism="PLAIN")
    assert conf["sasl.username"] == "alice"
    assert conf["sasl.password"] == "alice-secret-2"
    assert conf["ssl.ca.location"] == "/x/ca.pem"


def test_reprs_hold_no_password():
    sec = KafkaSecurity(users=USERS, admin="admin", tls=TLS)
    broker = ApacheKafka(security=sec)
    for text in (repr(sec), repr(TLS), repr(broker), broker.describe()):
        assert "secret" not in text


def test_default_launcher_is_unchanged():
    broker = ApacheKafka()
    assert broker.security is None
    assert "(SASL" not in broker.describe()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"listeners": ("TLS",)}, "unknown listener protocol"),
        ({"listeners": "SASL_SSL"}, "tuple of protocols"),
        ({"listeners": ("SASL_SSL",), "users": USERS}, "need tls="),
        ({"listeners": ("SASL_PLAINTEXT",)}, "need users="),
        ({"listeners": ("SASL_PLAINTEXT",), "users": {"a": 'pw"x'}}, "without quotes"),
        ({"listeners": ("SASL_PLAINTEXT",), "users": USERS, "admin": "root"}, "not one of the users"),
        ({"listeners": ("SASL_PLAINTEXT",), "users": USERS, "acls": True}, "needs an admin"),
    ],
)
def test_invalid_security_settings_are_refused(kwargs, error):
    with pytest.raises((ValueError, TypeError), match=error):
        KafkaSecurity(**kwargs)
