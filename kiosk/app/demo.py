"""``kiosk demo``: the whole shopper's screen on embedded defaults, with a demo catalogue and pictures.

With ``--camera SOURCE`` (a camera index, or a video file played in a loop) it runs the whole kiosk: the
composition root (:class:`~kiosk.app.root.KioskApp`: camera, perception with the ``edge_models`` detector,
brain, event store) with the screen in the main thread, and a :class:`ReactiveShopper` tapping through
what it shows.

Without it (``--scripted``), the demo runs the kiosk's own brain
(:class:`~kiosk.decisions.brain.KioskBrain`, stepped in-process on the render thread by
:class:`~kiosk.app.screen_port.InProcessBrain`) on a **scripted perception feed**
(:class:`ScriptedPerception`: snapshots of face detections, as the perception worker makes them from a
camera): two visitors on a loop, one who looks, opts out of expression reading, opens an offer, shows its
code and answers the feedback questions; one who is read as frustrated, gets the help screen and calls a
consultant, whom the back office acknowledges; then the camera drops out and comes back, and an operator
switches maintenance on and off. The scripted shopper taps real buttons: its actions become mouse clicks on
the buttons' rectangles.

With ``--broker URL`` (``[mqtt] enabled``) the whole kiosk also publishes its telemetry and answers the back
office's commands (:mod:`kiosk.link.sync`), and the reactive shopper asks for a consultant after showing the
code, so a staff call reaches ``alerts`` for the back office to acknowledge with ``staff_ack``.

With ``--chat`` the FAQ assistant is on (the demo's FAQ, :data:`DEMO_FAQ`, unless ``[assistant]`` names
one) and every second visitor, on the offer screen, opens "Questions?" instead (:class:`ChattingShopper`):
taps a suggested question, types a question of their own on the on-screen keyboard, then asks for a person;
with ``--broker`` the hand-off reaches the back office's operator console, whose replies show on the screen.
The chat ends when the visitor walks away (the visit ends), or, once the operator resolves it, with a
rating; nobody joining in time, the visitor calls a consultant to the screen and taps "done".

Headless (no display, or ``--headless``), it runs ``seconds``, saves a screenshot of every screen it
reached and writes ``summary.json`` (a :class:`~kiosk.app.summary.RunSummary`, like ``kiosk run --summary``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from kiosk.app.summary import RunSummary, decision_figures, screen_summary
from kiosk.clock import SystemClock
from kiosk.config import EngagementConfig, KioskConfig
from kiosk.decisions.offers import load_catalogue
from kiosk.errors import KioskError
from kiosk.perception.types import Box, Detection, Detector, Snapshot, Valence, ValenceReading
from kiosk.views.kiosk_ui import KioskUi
from kiosk.views.layout import Layout
from kiosk.views.screen import ActionName, ScreenView, UiAction
from mqtt_bridge.contract.catalogue import TimeRange

if TYPE_CHECKING:
    from kiosk.app.screen_port import InProcessBrain

log = logging.getLogger(__name__)

DEMO_ASSETS = Path(__file__).resolve().parent.parent / "demo_assets"
DEMO_CATALOGUE = DEMO_ASSETS / "catalogue.toml"
#: The demo's FAQ (a copy of examples/faq.yaml, shipped with the package).
DEMO_FAQ = DEMO_ASSETS / "faq.yaml"

#: The state machine's timings at demo pace, so one loop of the script shows every screen in ~10 s.
DEMO_ENGAGEMENT = EngagementConfig(
    engaged_attention_s=0.5,
    approach_timeout_s=5.0,
    offer_timeout_s=8.0,
    interaction_timeout_s=8.0,
    feedback_timeout_s=6.0,
    thanks_s=1.2,
    cooldown_s=0.6,
    lost_grace_s=1.0,
)


class DemoError(KioskError):
    """The demo cannot run as asked."""


@dataclass(frozen=True)
class Visitor:
    """A scripted visitor: when they are in view, where in the frame, how near, read how."""

    name: str
    arrives: float
    leaves: float
    distance_m: float
    valence: Valence | None
    box: Box


@dataclass(frozen=True)
class Beat:
    """At ``at`` seconds into the loop: a shopper's tap (when ``screen`` is up), or a world event."""

    at: float
    screen: str
    tap: UiAction | None = None
    world: str = ""


def _tap(at: float, screen: str, name: ActionName, score: int | None = None) -> Beat:
    return Beat(at, screen, tap=UiAction(name, score))


def _world(at: float, what: str) -> Beat:
    return Beat(at, "*", world=what)


VISITORS = (
    Visitor("a", 0.3, 4.2, 1.4, "neutral", Box(260, 140, 380, 260)),
    Visitor("b", 5.6, 7.0, 1.2, "negative", Box(80, 120, 200, 240)),
)
BEATS = (
    _tap(1.3, "offer", "opt_out"),
    _tap(1.8, "offer", "tap"),
    _tap(2.5, "details", "show_code"),
    _tap(3.3, "details", "done"),
    _tap(3.9, "feedback_csat", "feedback", 5),
    _tap(4.6, "feedback_nps", "feedback", 9),
    _tap(6.7, "help", "call_staff"),
    _world(7.6, "staff_ack"),
    _tap(8.1, "staff_coming", "close"),
    _world(8.3, "camera_down"),
    _world(8.9, "camera_up"),
    _world(9.1, "maintenance_on"),
    _world(9.8, "maintenance_off"),
)
LOOP_S = 10.5
PERCEPTION_HZ = 15.0


class ScriptedPerception:
    """The scripted perception feed and shopper (a stand-in for camera + models + a person): detections for
    the brain, taps for the screen, and the world's events (the back office, the camera, an operator)."""

    def __init__(self, runtime: InProcessBrain) -> None:
        self.runtime = runtime
        self.start: float | None = None  # the script starts on the first frame, once the screen is up
        self.snapshots = 0
        self._loop = -1
        self._done: set[int] = set()
        self._next_seen = 0.0
        self._camera_ok = True

    def __call__(self, now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        """Once a frame: feed perception to the brain, and return the shopper's taps due now."""
        if self.start is None:
            self.start = self._next_seen = now
        elapsed = now - self.start
        loop, t = int(elapsed // LOOP_S), elapsed % LOOP_S
        if loop != self._loop:
            self._loop, self._done = loop, set()
        actions: list[UiAction] = []
        for index, beat in enumerate(BEATS):
            if index in self._done or t < beat.at:
                continue
            if beat.tap is None:
                self._done.add(index)
                self._world(beat.world)
            elif view.screen == beat.screen:
                self._done.add(index)
                actions.append(beat.tap)
            elif t > beat.at + 2.0:
                self._done.add(index)  # the screen never came (a timing slip): skip the beat
        if self._camera_ok and now >= self._next_seen:
            self._next_seen = now + 1.0 / PERCEPTION_HZ
            self.snapshots += 1
            self.runtime.see(self._snapshot(now, t))
        return actions

    def _snapshot(self, now: float, t: float) -> Snapshot:
        """The faces in view at ``t``: frontal, at their distance, with a confident valence reading."""
        faces = tuple(
            Detection(
                visitor.box,
                distance_m=visitor.distance_m,
                yaw_deg=0.0,
                reading=ValenceReading(visitor.valence, 0.9) if visitor.valence is not None else None,
            )
            for visitor in VISITORS
            if visitor.arrives <= t < visitor.leaves
        )
        return Snapshot(now, faces)

    def _world(self, what: str) -> None:
        runtime = self.runtime
        if what == "staff_ack":
            runtime.acknowledge_staff()
        elif what in ("camera_down", "camera_up"):
            self._camera_ok = what == "camera_up"
            runtime.camera(self._camera_ok)
        elif what in ("maintenance_on", "maintenance_off"):
            runtime.maintenance(what == "maintenance_on")


class ReactiveShopper:
    """A scripted shopper for a real clip or camera (a clip cannot touch the screen): taps through whatever
    the screen shows, a moment after it appears."""

    PLAN: ClassVar[dict[str, tuple[tuple[float, UiAction], ...]]] = {
        "offer": ((1.5, UiAction("tap")),),
        "help": ((2.0, UiAction("call_staff")),),
        "details": ((1.0, UiAction("show_code")), (2.5, UiAction("done"))),
        "feedback_csat": ((1.0, UiAction("feedback", 5)),),
        "feedback_nps": ((1.0, UiAction("feedback", 8)),),
        "staff_coming": ((3.0, UiAction("close")),),
    }

    #: With ``calls_staff``: after showing the code, the shopper asks for a consultant instead of finishing.
    CALLS_STAFF: ClassVar[dict[str, tuple[tuple[float, UiAction], ...]]] = {
        "details": ((1.0, UiAction("show_code")), (2.5, UiAction("call_staff"))),
    }

    def __init__(self, calls_staff: bool = False) -> None:
        self._plan = {**self.PLAN, **self.CALLS_STAFF} if calls_staff else self.PLAN
        self._screen = ""
        self._since = 0.0
        self._step = 0
        self._welcomes = 0
        self._notice_read = False

    def __call__(self, now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        """Once a frame: the tap due now, if any."""
        if view.notice is not None:  # reading the camera notice, then closing it
            return [UiAction("close")] if now - self._since >= 2.0 else []
        if view.screen != self._screen:
            self._screen, self._since, self._step = view.screen, now, 0
            self._welcomes += view.screen == "welcome"
        if view.screen == "attract" and not self._notice_read and now - self._since >= 1.0:
            self._notice_read, self._since = True, now
            return [UiAction("notice")]
        plan = self._plan.get(view.screen, ())
        if view.screen == "welcome" and self._welcomes % 2 == 0:
            plan = ((0.3, UiAction("language")),)  # every second visitor reads English
        if self._step < len(plan) and now - self._since >= plan[self._step][0]:
            self._step += 1
            return [plan[self._step - 1][1]]
        return []


#: What the chatting visitor types, by the screen's language: a question, then a request for a person.
CHAT_LINES: dict[str, tuple[str, str]] = {
    "ru": ("можно ли вернуть покупку", "позовите человека, пожалуйста"),
    "en": ("can i return a purchase", "can i talk to someone"),
}


class ChattingShopper:
    """:class:`ReactiveShopper`, except that every second visitor opens the chat on the offer screen:
    a suggested question, a typed one (a key a frame on the on-screen keyboard), a request for a person;
    then waits for the operator, rates the chat when it ends, or calls a consultant when nobody joins."""

    def __init__(self, reactive: ReactiveShopper) -> None:
        self.reactive = reactive
        self._offers = 0
        self._chatting = False
        self._since = 0.0
        self._typing: list[UiAction] = []
        self._said = 0
        self._screen = ""
        self._no_operator_since: float | None = None

    def __call__(self, now: float, view: ScreenView, layout: Layout) -> list[UiAction]:
        """Once a frame: the chat's next step, or the reactive shopper's."""
        if view.screen != self._screen:
            self._screen, self._since = view.screen, now
            if view.screen == "offer":
                self._offers += 1
        if view.screen == "offer" and self._offers % 2 == 1 and now - self._since >= 1.0:
            self._chatting, self._said, self._typing = True, 0, []
            self._no_operator_since = None
            return [UiAction("questions")]
        if view.screen == "chat" and view.chat is not None:
            return self._chat(now, view)
        if view.screen == "chat_rating":
            return [UiAction("chat_rate", 5)] if now - self._since >= 1.5 else []
        self._chatting = False
        return self.reactive(now, view, layout)

    def _chat(self, now: float, view: ScreenView) -> list[UiAction]:
        assert view.chat is not None
        if self._typing:
            return [self._typing.pop(0)]
        keys = {b.action.key for b in view.buttons}
        waited = now - self._since
        if self._said == 0 and waited >= 1.5 and "chat_suggest:0" in keys:
            self._said = 1
            return [UiAction("chat_suggest", score=0)]
        if self._said in (1, 2) and waited >= 2.5 * (self._said + 1):
            text = CHAT_LINES[view.language][self._said - 1]
            self._typing = [UiAction("chat_key", text=ch) for ch in text] + [UiAction("chat_send")]
            self._said += 1
            return [self._typing.pop(0)]
        if "chat_call_staff" in keys:  # nobody could join: a consultant to the screen, then done
            if self._no_operator_since is None:
                self._no_operator_since = now
                return [UiAction("chat_call_staff")]
            if now - self._no_operator_since >= 5.0:
                return [UiAction("chat_done")]
        return []


def _open_models(config: KioskConfig) -> Detector:
    try:
        from kiosk.perception.detector import open_model_detector

        return open_model_detector(
            config.presence,
            config.emotion,
            read_expression=config.privacy.mode != "presence_only",
            perception=config.perception,
            tracker=config.tracker,
            data_dir=config.storage.data_dir,
        )
    except Exception as exc:  # any failure to load the models: missing package, file or interpreter
        raise DemoError(
            f"cannot open the vision models ({exc}). A camera- or clip-driven demo needs edge_models' "
            "runtime and models; run `kiosk demo` without --camera for the scripted perception feed."
        ) from exc


def run_demo(
    config: KioskConfig,
    *,
    seconds: float | None,
    headless: bool,
    out_dir: Path,
    camera: str | None = None,
    rng: random.Random | None = None,
    detector: Callable[[KioskConfig], Detector] | None = None,
    chat: bool = False,
) -> RunSummary:
    """Run the demo; returns the summary it wrote to ``out_dir/summary.json``.

    ``camera`` None: the scripted perception feed on the kiosk's brain. Otherwise a camera index or a video
    file (looped) watched by the whole kiosk (:class:`~kiosk.app.root.KioskApp`, with ``detector``).
    ``chat``: the assistant on and a shopper who chats (:class:`ChattingShopper`; the whole kiosk only).
    """
    if chat and camera is None:
        raise DemoError(
            "--chat needs the whole kiosk (the chat's visitor is the reactive shopper): drop --scripted "
            "(the shipped footage is used) or pass --camera SOURCE"
        )
    if chat:
        config = with_demo_chat(config)
    if camera is None and config.mqtt.enabled:
        raise DemoError(
            "the scripted demo has no event store and publishes nothing; with a broker, run the whole "
            "kiosk: drop --scripted (the shipped footage is used) or pass --camera SOURCE"
        )
    if camera is not None:
        summary = _run_on_camera(
            config,
            camera,
            seconds=seconds,
            headless=headless,
            out_dir=out_dir,
            detector=(detector or _open_models)(config),
            rng=rng or random.SystemRandom(),
            chat=chat,
        )
    else:
        summary = _run_scripted(config, seconds=seconds, headless=headless, out_dir=out_dir, rng=rng)
    summary.write(out_dir / "summary.json")
    return summary


def _run_scripted(
    config: KioskConfig, *, seconds: float | None, headless: bool, out_dir: Path, rng: random.Random | None
) -> RunSummary:
    """The brain stepped on the render thread, fed by :class:`ScriptedPerception`."""
    from kiosk.app.screen_port import InProcessBrain
    from kiosk.ui.screen_app import ScreenApp

    rng = rng or random.SystemRandom()
    clock = SystemClock()
    catalogue = load_catalogue(DEMO_CATALOGUE)
    demo_config = config.model_copy(update={"engagement": DEMO_ENGAGEMENT})
    zone = ZoneInfo(config.device.timezone)
    runtime = InProcessBrain(demo_config, clock, rng, catalogue=catalogue, image_base=DEMO_CATALOGUE.parent)
    ui = KioskUi(
        privacy=config.privacy,
        engagement=DEMO_ENGAGEMENT,
        rng=rng,
        catalogue=catalogue,
        image_base=DEMO_CATALOGUE.parent,
        zone=config.device.zone,
        language=config.ui.language,
        settings=config.ui.model_copy(
            update={"nps_share": 0.5, "staff_fallback_s": 20.0, "staff_linger_s": 3.0, "attract_slide_s": 3.0}
        ),
        local_time=lambda: datetime.now(zone).replace(tzinfo=None),
    )
    feed = ScriptedPerception(runtime)
    app = ScreenApp(
        ui,
        runtime,
        size=(config.ui.width, config.ui.height),
        fullscreen=config.ui.fullscreen,
        headless=headless,
        fps=config.ui.fps,
        font_scale=config.ui.font_scale,
        clock=clock.monotonic,
        hook=feed,
        screenshot_dir=out_dir,
    )
    stats = app.run(seconds)
    brain = runtime.brain
    brain.finish(clock.monotonic())
    counts = brain.stats
    return RunSummary(
        perception="scripted",
        seconds=round(stats.seconds, 3),
        frames=feed.snapshots,
        frames_processed=counts.snapshots,
        fps=round(counts.snapshots / stats.seconds, 2) if stats.seconds > 0 else 0.0,
        inference_ms=None,
        dropped_frames=0,
        dropped_snapshots=0,
        **decision_figures(brain),
        decision_latency_ms_p50=None,
        decision_latency_ms_p95=None,
        events_recorded=None,
        events_dropped={},
        alerts_spilled=0,
        events_handed_to_outbox=None,
        events_delivered=None,
        outbox_depth=None,
        mqtt_connected=None,
        mqtt_connects=None,
        mqtt_disconnects=None,
        mqtt_last_error=None,
        camera_failures=0,
        camera_reconnects=0,
        worker_restarts={},
        fatal=None,
        headless=stats.headless,
        screen=screen_summary(stats),
    )


def with_demo_chat(config: KioskConfig) -> KioskConfig:
    """``config`` with the assistant on: its own ``[assistant]`` when enabled there, else the demo's FAQ
    with operators on duty around the clock (so a demo at night still reaches the console)."""
    if config.assistant.enabled:
        return config
    assistant = config.assistant.model_copy(
        update={
            "enabled": True,
            "faq": DEMO_FAQ,
            "duty_hours": [TimeRange(start=time(0), end=time(23, 59, 59))],
        }
    )
    return config.model_copy(update={"assistant": assistant})


#: The demo's own command-signing key, written into ``--out`` when it runs with a broker.
DEMO_COMMAND_KEY = "backoffice-commands.pem"


def _with_demo_command_key(config: KioskConfig, out_dir: Path) -> KioskConfig:
    """Every command must be signed: the demo makes its own Ed25519 key pair at start, trusts its public
    half and leaves the private half (PEM, mode 600) in ``out_dir`` for ``backoffice send-command --key``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mqtt_bridge.signing import public_key_text

    key = Ed25519PrivateKey.generate()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DEMO_COMMAND_KEY
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    commands = config.mqtt.commands
    keys = [*commands.public_keys, public_key_text(key)]
    log.info("demo command key: %s (backoffice send-command --key %s ...)", path, path)
    return config.model_copy(
        update={
            "mqtt": config.mqtt.model_copy(
                update={"commands": commands.model_copy(update={"public_keys": keys})}
            )
        }
    )


def _run_on_camera(
    config: KioskConfig,
    source: str,
    *,
    seconds: float | None,
    headless: bool,
    out_dir: Path,
    detector: Detector,
    rng: random.Random,
    chat: bool = False,
) -> RunSummary:
    """The whole kiosk (camera, perception, brain, store) with the screen in this thread."""
    from kiosk.app.root import KioskApp
    from kiosk.app.screen_port import run_screen
    from mqtt_bridge.errors import MqttBridgeError

    is_file = Path(source).is_file()
    if config.mqtt.enabled:
        config = _with_demo_command_key(config, out_dir)
    run_config = config.model_copy(
        update={
            "camera": config.camera.model_copy(update={"source": source, "loop": is_file}),
            "storage": config.storage.model_copy(update={"data_dir": out_dir / "store"}),
        }
    )
    catalogue = load_catalogue(DEMO_CATALOGUE)
    try:
        app = KioskApp(run_config, detector, catalogue=catalogue, image_base=DEMO_CATALOGUE.parent)
    except MqttBridgeError as exc:
        raise DemoError(f"cannot link to the broker: {exc}") from exc
    except KioskError as exc:  # the assistant's FAQ, say
        raise DemoError(f"cannot start the kiosk: {exc}") from exc
    shopper = ReactiveShopper(calls_staff=config.mqtt.enabled)
    try:
        _ui, stats = run_screen(
            app,
            seconds=seconds,
            headless=headless,
            settings=config.ui.model_copy(update={"nps_share": 0.5}),
            rng=rng,
            hook=ChattingShopper(shopper) if chat else shopper,
            screenshot_dir=out_dir,
        )
    finally:
        close = getattr(detector, "close", None)
        if callable(close):
            close()
    return app.summary(screen_summary(stats))
