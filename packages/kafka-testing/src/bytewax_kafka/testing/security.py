"""TLS and SASL client listeners for the Apache Kafka launchers.

A secured broker keeps its ``PLAINTEXT`` listener (the broker's own
inter-broker traffic, and test set-up through
:attr:`~bytewax_kafka.testing.ApacheKafkaCluster.internal_bootstrap`) and its
``PLAINTEXT`` controller listener, both on loopback, and adds one client
listener per protocol asked for, each on its own port:

- ``SASL_SSL`` and ``SASL_PLAINTEXT``: SASL with ``SCRAM-SHA-512`` (users
  created when the storage is formatted) and ``PLAIN`` (users in the
  listener's JAAS configuration), every user with both;
- ``SSL``: TLS with client certificates required (mutual TLS); a
  certificate's ``CN`` is its user name (``CN=alice,O=x`` -> ``User:alice``).

TLS material comes as PEM files (:class:`TlsFiles`): the broker uses them
directly (``ssl.keystore.type=PEM``), no Java keystore needed.

With ``acls=True`` the broker runs Kafka's ``StandardAuthorizer``: clients may
do only what ACLs allow, except the ``admin`` user (a super user). The
broker's own listeners (principal ``ANONYMOUS``) are super users too, so the
internal listener bypasses authentication and ACLs: use it only to set up
tests, never as the client under test.

Example:
    >>> tls = TlsFiles(ca=Path("ca.pem"), keystore=Path("broker.pem"))
    >>> security = KafkaSecurity(
    ...     listeners=("SASL_SSL", "SASL_PLAINTEXT"),
    ...     users={"admin": "admin-secret", "alice": "alice-secret"},
    ...     admin="admin",
    ...     acls=True,
    ...     tls=tls,
    ... )
    >>> with ApacheKafka(security=security) as kafka:
    ...     admin_conf = kafka.client_config()  # SASL_SSL as "admin", SCRAM-SHA-512
    ...     alice_conf = kafka.client_config(user="alice", mechanism="PLAIN")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PROTOCOLS", "KafkaSecurity", "TlsFiles"]

#: Client listener protocols a secured broker can offer.
PROTOCOLS = ("SASL_SSL", "SASL_PLAINTEXT", "SSL")
#: SASL mechanisms every SASL listener offers, every user with both.
MECHANISMS = ("SCRAM-SHA-512", "PLAIN")
_FORBIDDEN = set('"\\,]=[ \n')


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS listeners.

    Attributes:
        ca: The CA certificate: clients trust the broker's certificate
            through it, and the broker trusts client certificates it signed.
        keystore: The broker's private key (unencrypted PKCS#8) followed by
            its certificate chain; the certificate must name ``127.0.0.1``
            (IP SAN), as clients check the host name.
        admin_cert: The admin's client certificate (``CN=<admin>``), for
            :meth:`~bytewax_kafka.testing.ApacheKafkaCluster.client_config` on
            an ``SSL`` listener.
        admin_key: Its private key (PEM).
        admin_key_password: The key's password, when it is encrypted.
    """

    ca: Path
    keystore: Path
    admin_cert: Path | None = None
    admin_key: Path | None = None
    admin_key_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class KafkaSecurity:
    """Secured client listeners of an Apache Kafka launcher.

    Attributes:
        listeners: Protocols of the client listeners (see :data:`PROTOCOLS`);
            the first is the one ``bootstrap_servers`` and ``client_config()``
            use.
        users: SASL users, ``{name: password}``; each can log in with
            ``SCRAM-SHA-512`` and ``PLAIN``. Never shown in reprs.
        admin: The user (SASL) or certificate CN (SSL) that
            ``client_config()`` authenticates as; a super user.
        acls: Run the ``StandardAuthorizer`` (deny what no ACL allows).
        tls: PEM files; required for ``SASL_SSL`` and ``SSL``.
    """

    listeners: tuple[str, ...] = ("SASL_SSL",)
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    admin: str | None = None
    acls: bool = False
    tls: TlsFiles | None = None

    def __post_init__(self) -> None:
        if isinstance(self.listeners, str):
            raise TypeError("listeners must be a tuple of protocols, not a str")
        if not self.listeners:
            raise ValueError("a secured broker needs at least one client listener")
        for protocol in self.listeners:
            if protocol not in PROTOCOLS:
                raise ValueError(f"unknown listener protocol {protocol!r}; use {', '.join(PROTOCOLS)}")
        if len(set(self.listeners)) != len(self.listeners):
            raise ValueError(f"listeners repeat a protocol: {self.listeners}")
        if any("SSL" in p for p in self.listeners) and self.tls is None:
            raise ValueError("SSL and SASL_SSL listeners need tls=TlsFiles(...)")
        if any(p.startswith("SASL") for p in self.listeners) and not self.users:
            raise ValueError("SASL listeners need users={name: password}")
        for name, password in self.users.items():
            # Both end up inside quoted strings of the JAAS and --add-scram syntaxes.
            if not name or set(name) & _FORBIDDEN or not password or set(password) & _FORBIDDEN:
                raise ValueError(
                    "user names and passwords must be non-empty, without quotes, backslashes, "
                    f"commas, brackets, '=' or spaces (user {name!r})"
                )
        if self.admin is not None and self.users and self.admin not in self.users:
            raise ValueError(f"admin {self.admin!r} is not one of the users")
        if self.acls and self.admin is None:
            raise ValueError("acls=True needs an admin (a super user) to set the ACLs up")

    # -- broker side -------------------------------------------------------------

    def server_properties(self) -> dict[str, str]:
        """``server.properties`` entries for SASL, TLS and ACLs (listeners aside)."""
        props: dict[str, str] = {}
        sasl = [p for p in self.listeners if p.startswith("SASL")]
        if sasl:
            props["sasl.enabled.mechanisms"] = ",".join(MECHANISMS)
            plain_users = " ".join(f'user_{n}="{pw}"' for n, pw in self.users.items())
            for protocol in sasl:
                prefix = f"listener.name.{protocol.lower()}"
                props[f"{prefix}.scram-sha-512.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                )
                props[f"{prefix}.plain.sasl.jaas.config"] = (
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
                )
        if self.tls is not None:
            props.update(
                {
                    "ssl.keystore.type": "PEM",
                    "ssl.keystore.location": str(self.tls.keystore),
                    "ssl.truststore.type": "PEM",
                    "ssl.truststore.location": str(self.tls.ca),
                    "ssl.principal.mapping.rules": "RULE:^.*CN=([^,]+).*$/$1/,DEFAULT",
                }
            )
        if "SSL" in self.listeners:
            props["listener.name.ssl.ssl.client.auth"] = "required"
        if self.acls:
            props["authorizer.class.name"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
            props["super.users"] = f"User:ANONYMOUS;User:{self.admin}"
        return props

    def listener_entries(self, listener_ports: Mapping[str, int], host: str) -> tuple[str, str]:
        """The ``listeners`` and ``listener.security.protocol.map`` entries of the client listeners."""
        listeners = ",".join(f"{p}://{host}:{listener_ports[p]}" for p in self.listeners)
        protocols = ",".join(f"{p}:{p}" for p in self.listeners)
        return listeners, protocols

    def format_args(self) -> list[str]:
        """``kafka-storage format`` arguments creating the SCRAM users."""
        args: list[str] = []
        if any(p.startswith("SASL") for p in self.listeners):
            for name, password in self.users.items():
                args += ["--add-scram", f'SCRAM-SHA-512=[name={name},password="{password}"]']
        return args

    # -- client side -------------------------------------------------------------

    def client_config(
        self,
        bootstrap: str,
        protocol: str,
        *,
        user: str | None = None,
        password: str | None = None,
        mechanism: str = "SCRAM-SHA-512",
    ) -> dict[str, Any]:
        """Client settings to reach the ``protocol`` listener as ``user`` (the admin by default)."""
        conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "security.protocol": protocol}
        if "SSL" in protocol:
            assert self.tls is not None
            conf["ssl.ca.location"] = str(self.tls.ca)
        if protocol.startswith("SASL"):
            name = user or self.admin
            if name is None:
                raise ValueError("no user given and the security settings name no admin")
            conf.update(
                {
                    "sasl.mechanism": mechanism,
                    "sasl.username": name,
                    "sasl.password": password if password is not None else self.users.get(name, ""),
                }
            )
        elif protocol == "SSL" and self.tls is not None and self.tls.admin_cert is not None:
            conf["ssl.certificate.location"] = str(self.tls.admin_cert)
            if self.tls.admin_key is not None:
                conf["ssl.key.location"] = str(self.tls.admin_key)
            if self.tls.admin_key_password is not None:
                conf["ssl.key.password"] = self.tls.admin_key_password
        return conf
