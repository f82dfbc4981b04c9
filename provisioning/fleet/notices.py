"""The fleet's notices to the back office: a retained :class:`FleetDeviceNotice` per device on
``{prefix}/_fleet/devices/{store}/{device}`` (docs/mqtt.md, Enrolment), published over a back-office
identity's own connection."""

from __future__ import annotations

import logging
from pathlib import Path

from mqtt_bridge.contract.enrolment import EnrolmentTopics, FleetDeviceNotice
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.identity import bundle_broker_settings
from mqtt_bridge.settings import BrokerSettings
from mqtt_bridge.transport import MqttTransport, Publisher

log = logging.getLogger(__name__)


def bundle_settings(broker_url: str, bundle: Path, prefix: str) -> BrokerSettings:
    """Settings that connect to ``broker_url`` with a back-office bundle (ca.pem, cert.pem, key.pem): the
    same :func:`mqtt_bridge.identity.bundle_broker_settings` the ``backoffice`` commands' ``--identity``
    uses."""
    return bundle_broker_settings(broker_url, bundle, BrokerSettings(topic_prefix=prefix))


def notice_message(prefix: str, notice: FleetDeviceNotice) -> tuple[str, bytes]:
    """The topic and payload of a notice."""
    topic = EnrolmentTopics(prefix).device_notice(notice.store_id, notice.device_id)
    return topic, notice.model_dump_json(exclude_none=True).encode("utf-8")


def publish_notice(
    publisher: Publisher, prefix: str, notice: FleetDeviceNotice, timeout_s: float = 5.0
) -> bool:
    """Publish a notice, retained, QoS 1, on an open connection; True when the broker acknowledged it."""
    topic, payload = notice_message(prefix, notice)
    handle = publisher.publish(topic, payload, qos=1, retain=True)
    return handle.wait(timeout_s)


def publish_notice_once(settings: BrokerSettings, notice: FleetDeviceNotice, timeout_s: float = 10.0) -> str:
    """Connect, publish one notice, disconnect (``provision revoke``); returns what happened, in words."""
    transport = MqttTransport(settings, client_id="notice")
    transport.start()
    try:
        transport.wait_connected(timeout_s)
        if publish_notice(transport, settings.topic_prefix, notice, timeout_s):
            return f"back office told: retained notice on {notice_message(settings.topic_prefix, notice)[0]}"
        return "the broker did not acknowledge the notice in time"
    except MqttBridgeError as exc:
        log.warning("could not tell the back office: %s", exc)
        return f"back office NOT told: {exc}"
    finally:
        transport.stop()
