"""A private Mosquitto broker for tests: the real binary, on free loopback ports, with a config we write.

It has a plain listener and a TLS listener that requires a client certificate (mutual TLS). The
certificates (a CA, the broker's, a client's) are generated with ``cryptography`` for each broker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MISSING_BINARY = (
    "the Mosquitto broker binary was not found on PATH or in /usr/sbin. These tests need the real broker: "
    "install the Debian/Ubuntu package 'mosquitto' (sudo apt-get install mosquitto), or run `make test`, "
    "which installs it when run as root."
)


#: Messages Mosquitto queues per client beyond those in flight, for a session whose client is away.
#: Its default, 1000, is a silent loss: past it a QoS 1 message for an offline ingest is dropped although
#: the broker PUBACKed it to the device, which then deleted it (measured on 2.0.11: 1000 of 1500 delivered
#: after the ingest came back). 100000 holds an hour of a 25-message/s fleet, the ingest's
#: ``session_expiry_s``; a production broker needs at least (messages/s of the fleet) x session_expiry_s.
MAX_QUEUED_MESSAGES = 100_000


class BrokerStartError(RuntimeError):
    """The private broker could not be started."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test PKI: a CA, the broker's certificate and key, a client's certificate and key."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def find_mosquitto() -> str:
    """Path of the mosquitto binary; raises :class:`BrokerStartError` with the install hint when absent."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise BrokerStartError(MISSING_BINARY)
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now.

    The sockets stay bound until all are chosen: binding port 0 one socket at a time can hand back a port
    just released, which gave a broker two listeners on one port ("Address already in use").
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def make_tls_files(folder: Path, host: str = "127.0.0.1") -> TlsFiles:
    """Generate a CA and broker and client certificates signed by it, valid for a day, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write_key(path: Path, private: ec.EllipticCurvePrivateKey) -> None:
        path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)

    ca_key = key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Vitrina test CA"))
        .issuer_name(name("Vitrina test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common: str, usage: x509.ObjectIdentifier, san: x509.GeneralName | None
    ) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        leaf_key = key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca_cert.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if san is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([san, x509.DNSName("localhost")]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), leaf_key

    files = TlsFiles(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_pem, server_key = leaf(
        "Vitrina test broker", ExtendedKeyUsageOID.SERVER_AUTH, x509.IPAddress(ipaddress.ip_address(host))
    )
    files.server_cert.write_bytes(server_pem)
    write_key(files.server_key, server_key)
    client_pem, client_key = leaf("demo-store/demo-kiosk", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    files.client_cert.write_bytes(client_pem)
    write_key(files.client_key, client_key)
    return files


class MosquittoBroker:
    """A running private broker. Use :meth:`start` and :meth:`stop`, or the pytest fixture in conftest."""

    #: Credentials accepted on :attr:`auth_port` (a listener that refuses anonymous clients).
    username = "vitrina-test"
    password = "correct horse battery staple"

    def __init__(
        self, folder: Path, host: str = "127.0.0.1", persistence: bool = False, quiet: bool = False
    ) -> None:
        """``quiet``: log warnings and errors only (benchmarks: ``log_type all`` writes every PUBLISH)."""
        self.folder = folder
        self.host = host
        self.persistence = persistence
        self.quiet = quiet
        self.binary = find_mosquitto()
        self.port, self.tls_port, self.auth_port = free_ports(3)
        self.password_file = folder / "passwords"
        self.tls = make_tls_files(folder / "pki", host)
        self.log_file = folder / "mosquitto.log"
        self.config_file = folder / "mosquitto.conf"
        self._process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        """Write the broker's config: a plain listener, a mutual-TLS listener and a password listener.

        With ``persistence`` the broker saves sessions and queued messages on a clean stop (SIGTERM) and
        reloads them on start, as a production broker would.
        """
        self._write_password_file()
        persistence = (
            ["persistence true", f"persistence_location {self.folder}/", "autosave_interval 1"]
            if self.persistence
            else ["persistence false"]
        )
        self.config_file.write_text(
            "\n".join(
                [
                    "per_listener_settings true",
                    f"user {getpass.getuser()}",  # as root, mosquitto would otherwise switch to 'mosquitto'
                    *persistence,
                    f"max_queued_messages {MAX_QUEUED_MESSAGES}",
                    "max_queued_bytes 0",  # no byte limit either: the message count above bounds it
                    f"log_dest file {self.log_file}",
                    *(["log_type error", "log_type warning"] if self.quiet else ["log_type all"]),
                    "",
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    "",
                    f"listener {self.tls_port} {self.host}",
                    "allow_anonymous true",
                    f"cafile {self.tls.ca}",
                    f"certfile {self.tls.server_cert}",
                    f"keyfile {self.tls.server_key}",
                    "require_certificate true",
                    "use_identity_as_username true",
                    "",
                    f"listener {self.auth_port} {self.host}",
                    "allow_anonymous false",
                    f"password_file {self.password_file}",
                    "",
                ]
            ),
            encoding="utf-8",
        )

    def _write_password_file(self) -> None:
        if self.password_file.exists():
            return
        tool = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path="/usr/bin:/usr/sbin")
        if not tool:
            raise BrokerStartError(
                "mosquitto_passwd was not found; it comes with the Debian package 'mosquitto'"
            )
        self.password_file.write_text("", encoding="utf-8")
        subprocess.run(
            [tool, "-b", str(self.password_file), self.username, self.password],
            check=True,
            capture_output=True,
        )
        self.password_file.chmod(0o600)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the broker, stay down ``down_s`` seconds, start it again on the same ports."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until both listeners accept connections."""
        self.write_config()
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        pending = {self.port, self.tls_port, self.auth_port}
        while pending:
            if self._process.poll() is not None:
                raise BrokerStartError(
                    f"mosquitto exited with {self._process.returncode}: {self._diagnostics()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartError(
                    f"mosquitto did not listen within {timeout_s} s: {self._diagnostics()}"
                )
            for port in list(pending):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.settimeout(0.2)
                    if sock.connect_ex((self.host, port)) == 0:
                        pending.discard(port)
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()

    @property
    def pid(self) -> int:
        """The broker's process id (for its CPU time); the broker must be running."""
        assert self._process is not None, "the broker is not started"
        return self._process.pid

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def _diagnostics(self) -> str:
        stderr = b""
        if (
            self._process is not None
            and self._process.stderr is not None
            and self._process.poll() is not None
        ):
            stderr = self._process.stderr.read()
        log_tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
        return (stderr.decode(errors="replace") + log_tail).strip() or "(no output)"
