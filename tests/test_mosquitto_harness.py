"""The harness's private broker is the real Mosquitto; messages round-trip over plain and mutual TLS."""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import time
import uuid

import mosquitto_broker
import paho.mqtt.client as mqtt
import pytest
from mosquitto_broker import BrokerStartError, MosquittoBroker
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

pytestmark = pytest.mark.integration


def _client(broker: MosquittoBroker, tls: bool, with_client_cert: bool = True) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    if tls:
        files = broker.tls
        client.tls_set(
            ca_certs=str(files.ca),
            certfile=str(files.client_cert) if with_client_cert else None,
            keyfile=str(files.client_key) if with_client_cert else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    return client


def _round_trip(broker: MosquittoBroker, tls: bool) -> bytes:
    received: queue.Queue[bytes] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = _client(broker, tls)
    topic = f"vitrina/test/{uuid.uuid4().hex}"

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None) -> None:
        assert not rc.is_failure, rc
        c.subscribe(topic, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object) -> None:
        subscribed.put(all(not code.is_failure for code in codes))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda _c, _u, msg: received.put(msg.payload)
    client.connect(broker.host, broker.tls_port if tls else broker.port)
    client.loop_start()
    try:
        assert subscribed.get(timeout=10)
        client.publish(topic, b"hello over " + (b"tls" if tls else b"plain"), qos=1).wait_for_publish(10)
        return received.get(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_round_trip_plain(mosquitto: MosquittoBroker) -> None:
    assert _round_trip(mosquitto, tls=False) == b"hello over plain"


def test_round_trip_mutual_tls(mosquitto: MosquittoBroker) -> None:
    assert _round_trip(mosquitto, tls=True) == b"hello over tls"


def test_tls_listener_refuses_a_client_without_certificate(mosquitto: MosquittoBroker) -> None:
    client = _client(mosquitto, tls=True, with_client_cert=False)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client.connect(mosquitto.host, mosquitto.tls_port)
        # TLS 1.3 reports the missing certificate only on the first read after the handshake.
        for _ in range(50):
            rc = client.loop(timeout=0.1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError(f"broker closed the connection: {rc}")


def test_broker_stops_and_frees_its_port(mosquitto: MosquittoBroker) -> None:
    assert mosquitto.running
    mosquitto.stop()
    assert not mosquitto.running


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto_broker.shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(BrokerStartError, match="package 'mosquitto'"):
        mosquitto_broker.find_mosquitto()


def test_free_ports_are_distinct_and_unused() -> None:
    ports = mosquitto_broker.free_ports(64)
    assert len(set(ports)) == 64
    for port in ports[:3]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # raises if anything still holds it


def test_a_broker_listens_on_three_different_ports(mosquitto: MosquittoBroker) -> None:
    assert len({mosquitto.port, mosquitto.tls_port, mosquitto.auth_port}) == 3


def test_an_away_session_keeps_more_than_mosquittos_default_1000_messages(mosquitto: MosquittoBroker) -> None:
    """The harness raises ``max_queued_messages``: past Mosquitto's default 1000, messages for an offline
    session are dropped although the publisher got its PUBACK."""
    count = 1500
    assert count <= mosquitto_broker.MAX_QUEUED_MESSAGES
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    received: queue.Queue[bytes] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()

    def consumer() -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="away-consumer", protocol=mqtt.MQTTv5)
        client.on_connect = lambda c, *_a: c.subscribe("harness/queue", qos=1)
        client.on_subscribe = lambda *_a: subscribed.put(True)
        client.on_message = lambda _c, _u, msg: received.put(msg.payload)
        client.connect(mosquitto.host, mosquitto.port, clean_start=False, properties=props)
        client.loop_start()
        return client

    away = consumer()
    assert subscribed.get(timeout=10)
    away.disconnect()
    away.loop_stop()
    publisher = _client(mosquitto, tls=False)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    for i in range(count):
        publisher.publish("harness/queue", str(i).encode(), qos=1).wait_for_publish(10)
    publisher.disconnect()
    publisher.loop_stop()
    back = consumer()  # the same client id: its session, with what was queued
    try:
        got: set[bytes] = set()
        deadline = time.monotonic() + 20
        while len(got) < count and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                got.add(received.get(timeout=0.5))
        assert len(got) == count
    finally:
        back.disconnect()
        back.loop_stop()
