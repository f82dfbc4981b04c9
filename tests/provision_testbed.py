"""A private fleet for provisioning's tests and bench: a fleet folder (``Fleet.init``), the real Mosquitto run
on the config ``provision broker-config`` writes (as is: when the tests run as root it drops to the user
``mosquitto``, so every file it reads must be readable by that user), ``provision serve`` as a subprocess,
devices enrolled by claim, and MQTT clients on any identity bundle (raw paho, to observe MQTT 5 reason codes
and deliveries).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from mosquitto_broker import BrokerStartError, find_mosquitto, free_ports
from paho.mqtt.enums import CallbackAPIVersion

from mqtt_bridge.identity import CA_FILE, CERT_FILE, KEY_FILE, IdentityFolder
from provisioning.fleet.authority import Fleet, FleetSettings
from provisioning.fleet.broker_config import (
    CONF_FILE,
    LOG_FILE,
    BrokerOptions,
    write_access,
    write_broker_config,
)

PROVISION = Path(sys.executable).parent / "provision"

#: Under libfaketime, move the wall clock only (a device whose clock is off), never the monotonic one: with
#: it moved ahead, every timed wait (Python's Event.wait) waits the offset too and the process hangs.
FAKE_WALL_CLOCK_ONLY = {"FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def now() -> datetime:
    """The wall clock, UTC (what the commands use)."""
    return datetime.now(UTC)


def broker_user() -> str:
    """The user Mosquitto runs as: ``mosquitto`` when we are root and it exists (production), else us."""
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            pwd.getpwnam("mosquitto")
            return "mosquitto"
    return getpass.getuser()


@dataclass
class Client:
    """A raw paho MQTT 5 client on one identity bundle: what it received, PUBACK reasons, disconnects."""

    bundle: Path
    port: int
    client_id: str = "test"
    received: list[tuple[str, bytes]] = field(default_factory=list)
    acks: dict[int, int] = field(default_factory=dict)
    disconnects: list[int] = field(default_factory=list)
    connack: int | None = None
    error: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        self.client.tls_set(
            ca_certs=str(self.bundle / CA_FILE),
            certfile=str(self.bundle / CERT_FILE),
            keyfile=str(self.bundle / KEY_FILE),
        )
        self.client.on_message = lambda _c, _u, m: self._got(m.topic, bytes(m.payload))
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self._ack(mid, int(rc.value))
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.append(int(rc.value))
        self.client.on_connect = lambda _c, _u, _f, rc, _p: setattr(self, "connack", int(rc.value))

    def _got(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.received.append((topic, payload))

    def _ack(self, mid: int, code: int) -> None:
        with self._lock:
            self.acks[mid] = code

    def connect(self, timeout_s: float = 10.0) -> bool:
        """Connect; True when the broker accepted (CONNACK 0). A TLS refusal (revoked) is False."""
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        except OSError as exc:
            self.error = str(exc)
            return False
        self.client.loop_start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.connack is not None or self.disconnects:
                break
            time.sleep(0.02)
        return self.connack == 0 and not self.disconnects

    def subscribe(self, topic: str, wait_s: float = 0.3) -> None:
        """Subscribe (QoS 1) and give the SUBACK time to arrive."""
        self.client.subscribe(topic, 1)
        time.sleep(wait_s)

    def publish(
        self, topic: str, payload: bytes = b"{}", retain: bool = False, timeout_s: float = 5.0
    ) -> int | None:
        """Publish QoS 1 and return the PUBACK's reason code (0 or 16 accepted, 135 not authorised), None
        when no PUBACK came."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if info.mid in self.acks:
                    return self.acks[info.mid]
            time.sleep(0.01)
        return None

    def messages(self, topic_prefix: str = "") -> list[tuple[str, bytes]]:
        """What arrived so far (on topics starting with ``topic_prefix``)."""
        with self._lock:
            return [m for m in self.received if m[0].startswith(topic_prefix)]

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


class FleetTestbed:
    """A fleet, its broker and (on demand) its enrolment service. Use as a context manager."""

    def __init__(self, name: str = "test", crl_days: float = 7.0, made_at: datetime | None = None) -> None:
        """``made_at``: when the fleet's CA, broker certificate and CRL are dated (default now): a fleet made
        days ago, for a device whose clock is that far off to still accept the broker's certificate."""
        # Not pytest's tmp_path: its folders are 0700 root, which Mosquitto (as 'mosquitto') cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="vitrina-fleet-"))
        self.root.chmod(0o755)
        self.port = free_ports(1)[0]
        self.fleet_dir = self.root / "fleet"
        self.broker_dir = self.root / "broker"
        self.user = broker_user()
        settings = FleetSettings(
            name=name,
            broker_url=f"mqtts://127.0.0.1:{self.port}",
            broker_hosts=["127.0.0.1", "localhost"],
            crl_days=crl_days,
        )
        self.fleet = Fleet.init(self.fleet_dir, settings, made_at or now())
        self.options = BrokerOptions(port=self.port, bind="127.0.0.1", user=self.user)
        write_broker_config(self.fleet, self.broker_dir, self.options, made_at or now())
        self.broker: subprocess.Popen[bytes] | None = None
        self.service: subprocess.Popen[bytes] | None = None
        self.service_log = self.root / "serve.log"
        self._service_starts = 0
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- the broker -------------------------------------------------------------------------------------

    def start_broker(self, timeout_s: float = 10.0) -> None:
        """Run ``mosquitto -c broker/mosquitto.conf`` and wait until it listens."""
        self.broker = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.broker_dir / CONF_FILE)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.broker.poll() is not None:
                raise BrokerStartError(
                    f"mosquitto exited with {self.broker.returncode}: {self.broker_log()[-2000:]}"
                )
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise BrokerStartError(f"mosquitto did not listen within {timeout_s} s: {self.broker_log()[-2000:]}")

    def stop_broker(self) -> None:
        """SIGTERM the broker and wait."""
        process, self.broker = self.broker, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def sighup(self, settle_s: float = 0.3) -> None:
        """SIGHUP the broker (reload ACL, CRL, certificates) and give it a moment."""
        assert self.broker is not None
        os.kill(self.broker.pid, signal.SIGHUP)
        time.sleep(settle_s)

    def broker_log(self) -> str:
        """The broker's log so far."""
        path = self.broker_dir / LOG_FILE
        return path.read_text(errors="replace") if path.exists() else ""

    # -- the enrolment service --------------------------------------------------------------------------

    def start_service(self, *extra: str, timeout_s: float = 15.0, prefix: tuple[str, ...] = ()) -> None:
        """Run ``provision serve --fleet FLEET`` as a subprocess (after ``prefix``, e.g. ``faketime -f
        -5d``); wait until it is connected."""
        log = self.service_log.open("ab")
        self.service = subprocess.Popen(
            [*prefix, str(PROVISION), "serve", "--fleet", str(self.fleet_dir), *extra],
            env={**os.environ, **FAKE_WALL_CLOCK_ONLY},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.service.poll() is not None:
                raise RuntimeError(f"provision serve exited: {self.service_text()}")
            if self.service_text().count("enrolment service for fleet") > self._service_starts:
                self._service_starts += 1
                return
            time.sleep(0.05)
        raise RuntimeError(f"provision serve did not connect in {timeout_s} s: {self.service_text()}")

    def stop_service(self) -> None:
        """SIGTERM the service and wait."""
        process, self.service = self.service, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def service_text(self) -> str:
        """What the service logged so far."""
        return self.service_log.read_text(errors="replace") if self.service_log.exists() else ""

    # -- devices ------------------------------------------------------------------------------------------

    def token(self, store_id: str, device_id: str, ttl: timedelta = timedelta(hours=1)) -> str:
        """A new enrolment token for one device."""
        import secrets

        value = secrets.token_urlsafe(24)
        stamp = now()
        self.fleet.registry.add_token(value, store_id, device_id, stamp, stamp + ttl)
        return value

    def device_folder(self, label: str) -> IdentityFolder:
        """A device's identity folder with the claim bundle in it (as a device image would have it)."""
        root = self.root / "devices" / label
        root.mkdir(parents=True, mode=0o700)
        shutil.copytree(self.fleet.claim_dir, root / "claim")
        return IdentityFolder(root)

    def backoffice_bundle(self, name: str) -> Path:
        """A new back-office process's bundle (its own certificate: two connections on one certificate
        disconnect each other), with the broker's ACL rewritten and reloaded."""
        folder = self.fleet.process_dir(name)
        self.fleet.new_backoffice_bundle(name, "backoffice", now(), folder)
        write_access(self.fleet, self.broker_dir, now(), self.user)
        if self.broker is not None:
            self.sighup()
        return folder

    def enrol(self, label: str, store_id: str, device_id: str, *, timeout_s: float = 60.0) -> IdentityFolder:
        """``provision enrol --code`` (a subprocess, as on a device) into a new identity folder holding the
        claim bundle; fails the test with the command's output when it does not enrol."""
        folder = self.device_folder(label)
        code = f"vitrina-enrol:{store_id}/{device_id}/{self.token(store_id, device_id)}"
        done = subprocess.run(
            [str(PROVISION), "enrol", "--identity", str(folder.root), "--code", code, "--json"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return folder

    # -- other processes (the back office's commands) -------------------------------------------------------

    def spawn(
        self, label: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a process (its output in ``ROOT/{label}.log``); :meth:`stop_process` or :meth:`close` stops
        it."""
        log = (self.root / f"{label}.log").open("ab")
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        log.close()
        self.processes[label] = process
        return process

    def process_text(self, label: str) -> str:
        """What a spawned process wrote so far."""
        path = self.root / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_process(self, label: str) -> int | None:
        """SIGTERM a spawned process and wait; its exit status."""
        process = self.processes.pop(label, None)
        if process is None:
            return None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        return process.returncode

    def client(self, bundle: Path, client_id: str = "test") -> Client:
        """An MQTT 5 client on ``bundle`` (not connected yet)."""
        return Client(bundle, self.port, client_id)

    @contextlib.contextmanager
    def connected(self, bundle: Path, client_id: str = "test") -> Iterator[Client]:
        """A connected client on ``bundle``, closed afterwards; fails when the broker refuses it."""
        client = self.client(bundle, client_id)
        assert client.connect(), f"{bundle} could not connect: {client.error or client.disconnects}"
        try:
            yield client
        finally:
            client.close()

    # -- lifetime -------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything and remove the folder."""
        for label in list(self.processes):
            self.stop_process(label)
        self.stop_service()
        self.stop_broker()
        self.fleet.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> FleetTestbed:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
