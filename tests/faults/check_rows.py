"""The rows that are not about events: each passes or fails on its own check (the failure is refused or
survived, the error is clear and names the fix), and reports its event columns as n/a."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .event_rows import Outcome
from .harness import BIN, FaultError, broker, wait_until

# --- camera -------------------------------------------------------------------------------------------


class _FakeDevice:
    """A camera at the OpenCV seam (``cv2.VideoCapture``) that can be unplugged and plugged back."""

    present = True

    def __init__(self, target: object) -> None:
        self.target = target
        self.opened = _FakeDevice.present

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        if self.opened and _FakeDevice.present:
            return True, np.zeros((120, 160, 3), np.uint8)
        return False, None

    def set(self, *_: object) -> bool:
        return True

    def get(self, *_: object) -> float:
        return 0.0

    def release(self) -> None:
        self.opened = False


class _Worker:
    """A real CaptureWorker on a source factory, run in a thread."""

    def __init__(self, source: str, factory: Callable[[], Any] | None = None) -> None:
        from kiosk.clock import SystemClock
        from kiosk.config import CameraConfig
        from kiosk.perception.camera import CaptureWorker, LatestFrames, make_source

        config = CameraConfig(source=source, loop=True, reconnect_initial_s=0.1, reconnect_max_s=0.5)
        make = factory or (lambda: make_source(config))
        self.worker = CaptureWorker(make, config, SystemClock(), LatestFrames(2))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> _Worker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)
        if self.thread.is_alive():
            raise FaultError("the capture thread did not stop within 10 s (it hangs)")

    def vanish_and_return(self, what: str, vanish: Callable[[], None], back: Callable[[], None]) -> float:
        """Frames flow; the source vanishes: the camera is reported down with a reason; it comes back:
        frames flow again. Returns the seconds from its return to the next frame."""
        health = lambda: self.worker.health  # noqa: E731 (the worker replaces its health object)
        wait_until(lambda: health().ok and health().frames > 3, 10, f"frames from the {what}")
        vanish()
        wait_until(lambda: not health().ok, 10, f"the {what} reported down after it vanished")
        if not health().last_error:
            raise FaultError(f"the {what} went down without a reason")
        frames = health().frames
        back()
        return wait_until(lambda: health().ok and health().frames > frames, 15, f"the {what} to come back")


def camera_vanishes(folder: Path) -> Outcome:
    """A missing video file, an image folder removed mid-run and a device unplugged mid-run."""
    import cv2

    from kiosk.perception import camera

    notes = []
    missing = folder / "clip.mp4"
    with _Worker(str(missing)) as run:
        wait_until(lambda: run.worker.health.failures > 0, 10, "the missing file reported")
        error = run.worker.health.last_error
        if str(missing) not in error:
            raise FaultError(f"the error for a missing file does not name it: {error!r}")
    images = folder / "images"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), np.full((120, 160, 3), 40 * i, np.uint8))
    parked = folder / "images-away"
    with _Worker(str(images)) as run:
        back_s = run.vanish_and_return(
            "image folder", lambda: images.rename(parked), lambda: parked.rename(images)
        )
    notes.append(f"folder back in {back_s:.1f} s")
    _FakeDevice.present = True

    def device() -> camera.OpenCVSource:  # the kiosk's OpenCV source, its capture seam a test double
        return camera.OpenCVSource("/dev/video0", 160, 120, 30, capture=_FakeDevice)

    def unplug() -> None:
        _FakeDevice.present = False

    def plug() -> None:
        _FakeDevice.present = True

    with _Worker("/dev/video0", device) as run:
        back_s = run.vanish_and_return("device", unplug, plug)
    notes.append(f"device back in {back_s:.1f} s")
    return Outcome(None, None, [], "; ".join(notes))


# --- models -------------------------------------------------------------------------------------------


def models_corrupt(folder: Path) -> Outcome:
    """A truncated and a corrupted (same size) model file are refused with a message naming the file and
    the fix; an intact one still loads; the originals are untouched."""
    from edge_models.errors import ModelVerificationError
    from edge_models.manifest import MODELS_DIR
    from edge_models.runtime import open_model

    models = folder / "models"
    shutil.copytree(MODELS_DIR, models)
    truncated = models / "face_full_range_int8.tflite"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    corrupt = models / "emotion_vitrina_int8.tflite"
    content = bytearray(corrupt.read_bytes())
    middle = len(content) // 2
    content[middle : middle + 16] = bytes(b ^ 0xFF for b in content[middle : middle + 16])
    corrupt.write_bytes(bytes(content))
    for name, path, word in (
        ("face_full_range_int8", truncated, "truncated"),
        ("emotion_vitrina_int8", corrupt, "corrupt"),
    ):
        try:
            open_model(name, models_dir=models).close()
        except ModelVerificationError as exc:
            message = str(exc)
            if str(path) not in message or word not in message or "restore" not in message:
                raise FaultError(f"the refusal of {name} is unclear: {message[:160]}") from None
        else:
            raise FaultError(f"the {word} model {name} was loaded")
    open_model("face_short_range_int8", models_dir=models).close()
    return Outcome(None, None, [], "both refused naming file and fix; intact model loads")


# --- configuration ------------------------------------------------------------------------------------


def config_misspelt(folder: Path) -> Outcome:
    """``kiosk validate-config`` on misspelt keys and a misspelt section: exit 2, every problem named by
    its dotted path with the right spelling suggested; an empty file (the defaults) is valid."""
    bad = folder / "kiosk.toml"
    bad.write_text('[camera]\nsorce = "0"\n\n[storag]\ndata_dir = "var"\n\n[mqtt]\nhots = "broker"\n')
    done = subprocess.run([str(BIN / "kiosk"), "validate-config", str(bad)], capture_output=True, check=False)
    output = (done.stdout + done.stderr).decode(errors="replace")
    if done.returncode != 2:
        raise FaultError(f"validate-config exited {done.returncode}, not 2: {output[-200:]}")
    lines = output.splitlines()
    for wrong, right in (("camera.sorce", "source"), ("storag", "storage"), ("mqtt.hots", "host")):
        at = next((i for i, x in enumerate(lines) if x.strip().startswith(f"{wrong}:")), None)
        block = "\n".join(lines[at : at + 3]) if at is not None else ""
        if f"did you mean '{right}'" not in block:
            raise FaultError(
                f"validate-config does not name {wrong!r} with a hint {right!r}: {output[-300:]}"
            )
    empty = folder / "empty.toml"
    empty.write_text("")
    good = subprocess.run(
        [str(BIN / "kiosk"), "validate-config", str(empty)], capture_output=True, check=False
    )
    if good.returncode != 0:
        raise FaultError(f"validate-config refused the defaults (exit {good.returncode})")
    return Outcome(None, None, [], "exit 2, 3 of 3 problems named with the right spelling")


# --- commands -----------------------------------------------------------------------------------------


class _Control:
    """The kiosk's side of commands, recording what was applied."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def acknowledge_staff(self, call_id: str) -> bool:
        self.applied.append(f"staff_ack {call_id}")
        return True

    def set_maintenance(self, on: bool) -> None:
        self.applied.append(f"maintenance {on}")

    def install_catalogue(self, catalogue: object, image_base: Path) -> None:
        self.applied.append("catalogue")


def _envelope(name: str, args: dict[str, Any], key: Ed25519PrivateKey | None) -> bytes:
    from mqtt_bridge.commands import sign
    from mqtt_bridge.contract.payloads import CommandEnvelope

    now = datetime.now(UTC)
    envelope = CommandEnvelope.model_validate(
        {
            "command_id": uuid.uuid4().hex,
            "name": name,
            "issued_at": now,
            "expires_at": now + timedelta(minutes=10),
            "nonce": secrets.token_urlsafe(24),
            "args": args,
        }
    )
    if key is not None:
        envelope = sign(envelope, key)
    return envelope.model_dump_json().encode()


def _kiosk_config(mqtt: Any, data_dir: Path, key: Ed25519PrivateKey) -> Any:
    from kiosk.config import KioskConfig
    from mqtt_bridge.commands import public_key_text

    return KioskConfig.model_validate(
        {
            "device": {"store_id": "s1", "device_id": "d1"},
            "storage": {"data_dir": str(data_dir)},
            "outbox": {"path": str(data_dir / "outbox.sqlite")},
            "offers": {"installed_dir": str(data_dir / "catalogue")},
            "mqtt": {
                "enabled": True,
                "host": mqtt.host,
                "port": mqtt.port,
                "commands": {"public_keys": [public_key_text(key)]},
            },
        }
    )


def commands_unsigned(folder: Path) -> Outcome:
    """Through the real broker into the kiosk's own command path (``build_device_sync`` from a
    ``KioskConfig`` with only the key and the broker set): unsigned ``staff_ack``/``maintenance`` and
    replays of captured signed ones are sent, before and after the kiosk restarts on the same data dir.
    Applied must be 0 for those, and exactly the two genuine signed commands must be applied."""
    from kiosk.link.sync import build_device_sync
    from mqtt_bridge.contract.topics import DeviceTopics
    from mqtt_bridge.settings import BrokerSettings
    from mqtt_bridge.transport import MqttTransport, drain_queue

    key = Ed25519PrivateKey.generate()
    control = _Control()
    topics = DeviceTopics("vitrina/v1", "s1", "d1")
    results: list[str] = []
    with broker(folder / "broker", persistence=False) as mqtt:
        config = _kiosk_config(mqtt, folder / "kiosk", key)
        attacker = MqttTransport(
            BrokerSettings(enabled=True, host=mqtt.host, port=mqtt.port),
            client_id="faults-sender",
            subscriptions=[(topics.command_result_filter, 1)],
        )
        attacker.start()
        attacker.wait_connected(10)

        def send(payloads: list[tuple[str, bytes]]) -> None:
            want = len(results) + len(payloads)
            for name, payload in payloads:
                attacker.publish(topics.command(name), payload, qos=1).wait(10)
            deadline = time.monotonic() + 15
            while len(results) < want and time.monotonic() < deadline:
                results.extend(m.payload.decode() for m in drain_queue(attacker.inbound, 0.1))

        def unsigned(n: int) -> list[tuple[str, bytes]]:
            return [
                *(("staff_ack", _envelope("staff_ack", {"call_id": f"c{i}"}, None)) for i in range(n)),
                *(("maintenance", _envelope("maintenance", {"on": i % 2 == 0}, None)) for i in range(n)),
            ]

        genuine = [
            ("staff_ack", _envelope("staff_ack", {"call_id": "real"}, key)),
            ("maintenance", _envelope("maintenance", {"on": True}, key)),
        ]
        try:
            for run in (1, 2):  # the kiosk, then the kiosk restarted on the same data dir
                sync = build_device_sync(config, control, models={}, offers=False)
                sync.start()
                sync.transport.wait_connected(10)
                time.sleep(0.5)  # its SUBACKs
                try:
                    send(unsigned(10))
                    if run == 1:
                        before = len(control.applied)
                        send(genuine)
                        genuine_applied = len(control.applied) - before
                    send(genuine * 3)  # replays of captured signed commands
                finally:
                    sync.stop()
        finally:
            attacker.stop()
    wrongly = len(control.applied) - genuine_applied
    problems = []
    if genuine_applied != 2:
        problems.append(f"{genuine_applied} of 2 genuine signed commands applied (the row checks nothing)")
    if wrongly:
        problems.append(
            f"{wrongly} unsigned or replayed commands applied: {sorted(set(control.applied))[:4]}"
        )
    sent = 2 * 10 * 2 + 2 * 3 * 2
    return Outcome(None, None, problems, f"{sent} unsigned/replayed sent, {len(results)} answered, 0 applied")


FUZZ_EXAMPLES = 1000

# --- fuzz ---------------------------------------------------------------------------------------------


def fuzz(folder: Path) -> Outcome:
    """1,000 fuzzed commands into the kiosk's command processor (never raises, applies nothing unsigned or
    badly signed) and 1,000 fuzzed messages into the ingest's parser and store (never raises; what is
    stored is exactly the valid events)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from backoffice.ingest import SqliteStore, parse_messages
    from kiosk.link.sync import build_device_sync
    from mqtt_bridge.contract.events import EVENT_ADAPTER

    key = Ed25519PrivateKey.generate()
    stranger = Ed25519PrivateKey.generate()
    control = _Control()

    class _NoBroker:
        host, port = "127.0.0.1", 9  # never connected: only the processor is used

    sync = build_device_sync(
        _kiosk_config(_NoBroker(), folder / "kiosk", key), control, models={}, offers=False
    )
    if sync.commands is None:
        raise FaultError("the kiosk has no command processor with commands enabled")
    processor = sync.commands.processor
    names = st.sampled_from(["staff_ack", "maintenance", "catalogue", "purge", "configure"]) | st.text(
        max_size=12
    )
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )

    @st.composite
    def commands(draw: st.DrawFn) -> tuple[str, bytes]:
        name = draw(names)
        if draw(st.integers(0, 4)) == 0:
            return name, draw(st.binary(max_size=300))
        body = json.loads(_envelope("staff_ack", {}, None))
        body["name"] = draw(st.sampled_from([name, "staff_ack", "maintenance"]))
        body["args"] = draw(st.dictionaries(st.sampled_from(["call_id", "on", "x"]), json_values, max_size=3))
        for field in draw(st.sets(st.sampled_from(sorted(body)), max_size=3)):
            body[field] = draw(json_values)
        signer = draw(st.sampled_from([None, "stranger", "garbage"]))
        if signer == "garbage":
            body["signature"] = draw(st.text(max_size=90))
        raw = json.dumps(body, default=str).encode()
        if signer == "stranger":
            try:
                from mqtt_bridge.commands import sign
                from mqtt_bridge.contract.payloads import CommandEnvelope

                raw = sign(CommandEnvelope.model_validate_json(raw), stranger).model_dump_json().encode()
            except ValueError:
                pass
        return draw(
            st.sampled_from([name, body.get("name") if isinstance(body.get("name"), str) else name])
        ), raw

    crashes: list[str] = []
    tried = {"commands": 0, "payloads": 0}

    @settings(
        max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(commands())
    def one_command(case: tuple[str, bytes]) -> None:
        tried["commands"] += 1
        try:
            processor.handle(*case)
        except Exception as exc:
            crashes.append(f"command {case[1][:60]!r}: {type(exc).__name__}: {exc}")

    one_command()
    store = SqliteStore(folder / "fuzz-store.sqlite")
    valid_event = json.loads(
        EVENT_ADAPTER.validate_python(
            {"type": "visit_started", "store_id": "s1", "device_id": "d1", "visit_ref": "v1"}
        ).model_dump_json()
    )
    topics = st.sampled_from(
        [
            "vitrina/v1/s1/d1/events",
            "vitrina/v1/s1/d1/alerts",
            "vitrina/v1/s1/d1/status",
            "vitrina/v1/s1/d1/metrics",
        ]
    ) | st.text(max_size=30)
    stored_ok: list[bool] = []

    @st.composite
    def messages(draw: st.DrawFn) -> tuple[str, bytes]:
        topic = draw(topics)
        if draw(st.integers(0, 3)) == 0:
            return topic, draw(st.binary(max_size=300))
        event = dict(valid_event)
        event["event_id"] = uuid.uuid4().hex
        for field in draw(st.sets(st.sampled_from(sorted(event)), max_size=2)):
            event[field] = draw(json_values)
        if draw(st.booleans()):
            event[draw(st.text(max_size=8))] = draw(json_values)
        batch: dict[str, Any] = {"batch_id": uuid.uuid4().hex, "store_id": "s1", "device_id": "d1"}
        batch["events"] = [event]
        for field in draw(st.sets(st.sampled_from(["batch_id", "store_id", "device_id"]), max_size=1)):
            batch[field] = draw(json_values)
        return topic, json.dumps(batch, default=str).encode()

    @settings(
        max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(messages())
    def one_message(message: tuple[str, bytes]) -> None:
        tried["payloads"] += 1
        try:
            parsed = parse_messages("vitrina/v1", [message])
            store.write(parsed)
            for event in parsed.events:  # what is kept validates again and belongs to its topic
                EVENT_ADAPTER.validate_json(event.model_dump_json())
                stored_ok.append(message[0].startswith(f"vitrina/v1/{event.store_id}/{event.device_id}/"))
        except Exception as exc:
            crashes.append(f"payload {message[1][:60]!r}: {type(exc).__name__}: {exc}")

    one_message()
    stored = len(store.event_ids())
    store.close()
    problems = [f"only {n} fuzzed {what}" for what, n in tried.items() if n < FUZZ_EXAMPLES]
    if stored != len(stored_ok):
        problems.append(f"{stored} events stored, {len(stored_ok)} passed validation")
    if crashes:
        problems.append(f"{len(crashes)} crashes, first: {crashes[0][:150]}")
    if control.applied:
        problems.append(f"{len(control.applied)} fuzzed commands applied: {control.applied[:3]}")
    if not all(stored_ok):
        problems.append("an event was stored under another device's topic")
    note = (
        f"{tried['commands']} commands, {tried['payloads']} payloads; {len(stored_ok)} valid events "
        "stored; 0 crashes, 0 applied"
    )
    return Outcome(None, None, problems, note)
