"""The engagement state machine: pure and table-driven. It decides; it never draws, stores or sends.

    attract -> approach -> engaged -> offer -> interaction -> feedback -> thanks -> cooldown -> attract
                                  (any)  -> maintenance -> attract
    attract, approach, engaged, offer, interaction, cooldown -> chat ("Questions?") -> cooldown

Inputs carry their own monotonic time ``t`` (from the kiosk's clock): perception (:class:`Seen`), touches
(:class:`Touch`), timer ticks (:class:`Tick`), the camera going up or down (:class:`CameraChanged`), the offer
engine's answer (:class:`OfferReady`), an operator's maintenance switch (:class:`MaintenanceSwitch`) and the
chat closing (:class:`ChatClosed`: the chat, :mod:`kiosk.chat.session`, decides when it ends; while it is
open the machine waits in ``chat`` with no timeout of its own).
Outputs are effects: :class:`ShowScreen`, :class:`ChooseOffer`, :class:`Record`, :class:`CallStaff`,
:class:`OfferEnded`. The runtime carries them out. :data:`TRANSITIONS` is the whole behaviour, one row each;
:data:`TIMEOUTS` says how long each state may last.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from kiosk.config import EngagementConfig
from kiosk.perception.types import Valence

State = Literal[
    "attract",
    "approach",
    "engaged",
    "offer",
    "interaction",
    "feedback",
    "thanks",
    "cooldown",
    "maintenance",
    "chat",
]
Screen = Literal[
    "attract",
    "welcome",
    "offer",
    "help",
    "details",
    "feedback",
    "thanks",
    "staff_coming",
    "maintenance",
    "chat",
]

# ---- inputs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Primary:
    """The face the screen addresses (the nearest confirmed one), as the machine needs it."""

    visit_id: str
    distance_m: float | None
    area_growth: float
    attention_s: float
    valence: Valence | None = None


@dataclass(frozen=True)
class Seen:
    """One frame's perception: how many faces, and the primary one if any."""

    t: float
    faces: int
    primary: Primary | None = None


@dataclass(frozen=True)
class Touch:
    """A touch on the screen: which control."""

    t: float
    action: Literal["tap", "call_staff", "done", "dismiss", "feedback", "consent", "decline", "questions"]
    score: int | None = None


@dataclass(frozen=True)
class Tick:
    """Time passes (drives timeouts)."""

    t: float


@dataclass(frozen=True)
class CameraChanged:
    """The camera went down or came back."""

    t: float
    ok: bool


@dataclass(frozen=True)
class OfferReady:
    """The offer engine's answer to :class:`ChooseOffer`; ``offer_id`` None when nothing is eligible."""

    t: float
    offer_id: str | None
    help: bool = False


@dataclass(frozen=True)
class MaintenanceSwitch:
    """An operator turned maintenance mode on or off."""

    t: float
    on: bool


@dataclass(frozen=True)
class ChatClosed:
    """The chat ended and the screen cleared it (done and rated, the visit ended, idle, resolved)."""

    t: float


Input = Seen | Touch | Tick | CameraChanged | OfferReady | MaintenanceSwitch | ChatClosed

# ---- effects ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowScreen:
    """Put a screen up (with an offer, for the offer and help screens)."""

    screen: Screen
    offer_id: str | None = None


@dataclass(frozen=True)
class ChooseOffer:
    """Ask the offer engine for an offer for this visit (None: a touch with nobody tracked)."""

    visit_id: str | None


@dataclass(frozen=True)
class Record:
    """Record an event of the shopper's session."""

    kind: Literal["offer_shown", "offer_tapped", "feedback"]
    offer_id: str | None
    visit_id: str | None
    help: bool = False
    score: int | None = None


@dataclass(frozen=True)
class CallStaff:
    """Call a person to the screen."""

    reason: Literal["shopper_request", "negative_valence"]
    visit_id: str | None


@dataclass(frozen=True)
class Consent:
    """The shopper agreed (or declined) to have their expression read, for this visit only (opt-in mode)."""

    visit_id: str | None
    opted_in: bool


@dataclass(frozen=True)
class OfferEnded:
    """The offer left the screen (closes its audience exposure)."""

    offer_id: str


Effect = ShowScreen | ChooseOffer | Record | CallStaff | OfferEnded | Consent

#: Transitions remembered for diagnostics (bounded: the kiosk runs for weeks).
HISTORY = 100

# ---- the machine --------------------------------------------------------------------------------------


@dataclass
class Context:
    """What the machine remembers: its state, since when, the session's visit and offer."""

    state: State = "attract"
    entered_at: float = 0.0
    visit_id: str | None = None
    offer_id: str | None = None
    help: bool = False
    staff_called: bool = False
    last_face_t: float = 0.0
    camera_ok: bool = True
    history: deque[tuple[float, State]] = field(default_factory=lambda: deque(maxlen=HISTORY))


Guard = Callable[[Context, EngagementConfig, Input], bool]
Action = Callable[[Context, Input], list[Effect]]


@dataclass(frozen=True)
class Transition:
    """One row: in any of ``sources``, on an input of type ``on`` whose ``guard`` holds, go to ``target``
    (None: stay) and emit the row's effects, then the target's entry effects."""

    sources: frozenset[State]
    on: type
    target: State | None
    guard: Guard = lambda _c, _k, _i: True
    action: Action = lambda _c, _i: []


ALL: frozenset[State] = frozenset(get_args(State))
WATCHING: frozenset[State] = frozenset(("approach", "engaged"))
#: Where the shopper may open the chat: the attract loop and an offer (the screens with "Questions?").
CHAT_FROM: frozenset[State] = frozenset(
    ("attract", "approach", "engaged", "offer", "interaction", "cooldown")
)


def _approaching(_c: Context, k: EngagementConfig, i: Input) -> bool:
    p = i.primary if isinstance(i, Seen) else None
    if p is None:
        return False
    close = p.distance_m is not None and p.distance_m <= k.approach_distance_m
    return close or p.area_growth >= k.approach_growth


def _attentive(_c: Context, k: EngagementConfig, i: Input) -> bool:
    p = i.primary if isinstance(i, Seen) else None
    return p is not None and p.attention_s >= k.engaged_attention_s


def _touch(action: str) -> Guard:
    return lambda _c, _k, i: isinstance(i, Touch) and i.action == action


def _has_offer(_c: Context, _k: EngagementConfig, i: Input) -> bool:
    return isinstance(i, OfferReady) and i.offer_id is not None


def _camera(ok: bool) -> Guard:
    return lambda _c, _k, i: isinstance(i, CameraChanged) and i.ok is ok


def _maintenance(on: bool) -> Guard:
    return lambda _c, _k, i: isinstance(i, MaintenanceSwitch) and i.on is on


def _audience_lost(c: Context, k: EngagementConfig, i: Input) -> bool:
    return isinstance(i, Tick) and i.t - c.last_face_t > k.lost_grace_s


def _adopt_primary(c: Context, i: Input) -> list[Effect]:
    if isinstance(i, Seen) and i.primary is not None:
        c.visit_id = i.primary.visit_id
    return []


def _take_offer(c: Context, i: Input) -> list[Effect]:
    assert isinstance(i, OfferReady)
    c.offer_id, c.help = i.offer_id, i.help
    return [Record("offer_shown", c.offer_id, c.visit_id, help=i.help)]


def _tapped(c: Context, _i: Input) -> list[Effect]:
    return [Record("offer_tapped", c.offer_id, c.visit_id)]


def _feedback(c: Context, i: Input) -> list[Effect]:
    assert isinstance(i, Touch)
    return [Record("feedback", c.offer_id, c.visit_id, score=i.score)]


def _call_staff(c: Context, _i: Input) -> list[Effect]:
    c.staff_called = True
    return [CallStaff("shopper_request", c.visit_id)]


def _consent(c: Context, i: Input) -> list[Effect]:
    assert isinstance(i, Touch)
    return [Consent(c.visit_id, i.action == "consent")]


def _consent_touch(c: Context, k: EngagementConfig, i: Input) -> bool:
    return isinstance(i, Touch) and i.action in ("consent", "decline")


def _valid_score(c: Context, k: EngagementConfig, i: Input) -> bool:
    """The feedback screen asks one CSAT question: 1 to 5."""
    return _touch("feedback")(c, k, i) and isinstance(i, Touch) and i.score is not None and 1 <= i.score <= 5


TRANSITIONS: tuple[Transition, ...] = (
    # Operator and camera first: they win over everything else.
    Transition(ALL - {"maintenance"}, MaintenanceSwitch, "maintenance", _maintenance(True)),
    Transition(frozenset({"maintenance"}), MaintenanceSwitch, "attract", _maintenance(False)),
    Transition(WATCHING, CameraChanged, "attract", _camera(False)),
    # The shopper asks for a person from any shopper-facing state (the chat has its own way to a person).
    Transition(ALL - {"maintenance", "thanks", "chat"}, Touch, "thanks", _touch("call_staff"), _call_staff),
    # The chat: opened by "Questions?", left when it closes.
    Transition(CHAT_FROM, Touch, "chat", _touch("questions")),
    Transition(frozenset({"chat"}), ChatClosed, "cooldown"),
    # The camera notice's consent buttons: no state change.
    Transition(ALL - {"maintenance"}, Touch, None, _consent_touch, _consent),
    # Watching the audience.
    Transition(frozenset({"attract"}), Seen, "approach", _approaching, _adopt_primary),
    Transition(frozenset({"attract", "approach"}), Touch, "engaged", _touch("tap")),
    Transition(frozenset({"approach"}), Seen, "engaged", _attentive, _adopt_primary),
    Transition(WATCHING, Tick, "attract", _audience_lost),
    # The offer.
    Transition(frozenset({"engaged"}), OfferReady, "offer", _has_offer, _take_offer),
    Transition(frozenset({"engaged"}), OfferReady, "cooldown"),
    Transition(frozenset({"offer"}), Touch, "interaction", _touch("tap"), _tapped),
    Transition(frozenset({"offer", "interaction"}), Touch, "cooldown", _touch("dismiss")),
    Transition(frozenset({"offer"}), Tick, "cooldown", _audience_lost),
    Transition(frozenset({"interaction"}), Touch, "feedback", _touch("done")),
    Transition(frozenset({"feedback"}), Touch, "thanks", _valid_score, _feedback),
)

#: How long each state may last, and where it goes then.
TIMEOUTS: dict[State, tuple[Callable[[EngagementConfig], float], State]] = {
    "approach": (lambda k: k.approach_timeout_s, "attract"),
    "engaged": (lambda k: k.approach_timeout_s, "attract"),
    "offer": (lambda k: k.offer_timeout_s, "cooldown"),
    "interaction": (lambda k: k.interaction_timeout_s, "feedback"),
    "feedback": (lambda k: k.feedback_timeout_s, "cooldown"),
    "thanks": (lambda k: k.thanks_s, "cooldown"),
    "cooldown": (lambda k: k.cooldown_s, "attract"),
}


#: What entering each state shows or asks for.
ON_ENTER: dict[State, Callable[[Context], list[Effect]]] = {
    "attract": lambda c: [ShowScreen("attract")],
    "cooldown": lambda c: [ShowScreen("attract")],
    "approach": lambda c: [ShowScreen("welcome")],
    "engaged": lambda c: [ChooseOffer(c.visit_id)],
    "offer": lambda c: [ShowScreen("help" if c.help else "offer", c.offer_id)],
    "interaction": lambda c: [ShowScreen("details", c.offer_id)],
    "feedback": lambda c: [ShowScreen("feedback", c.offer_id)],
    "thanks": lambda c: [ShowScreen("staff_coming" if c.staff_called else "thanks")],
    "maintenance": lambda c: [ShowScreen("maintenance")],
    "chat": lambda c: [ShowScreen("chat")],
}

SHOWING_OFFER: frozenset[State] = frozenset(("offer", "interaction"))


class EngagementMachine:
    """Feed it inputs with :meth:`step`; it returns the effects to carry out."""

    def __init__(self, config: EngagementConfig, t0: float = 0.0) -> None:
        self.config = config
        self.ctx = Context(entered_at=t0, last_face_t=t0)

    @property
    def state(self) -> State:
        """The current state."""
        return self.ctx.state

    def step(self, event: Input) -> list[Effect]:
        """Apply one input; return the effects, in order."""
        ctx = self.ctx
        if isinstance(event, Seen) and event.faces > 0:
            ctx.last_face_t = event.t
        if isinstance(event, CameraChanged):
            ctx.camera_ok = event.ok
        if isinstance(event, Tick) and ctx.state in TIMEOUTS:
            limit, target = TIMEOUTS[ctx.state]
            if event.t - ctx.entered_at >= limit(self.config):
                return self._go(target, event.t, [])
        for row in TRANSITIONS:
            if ctx.state in row.sources and isinstance(event, row.on) and row.guard(ctx, self.config, event):
                effects = row.action(ctx, event)
                if row.target is None:
                    return effects
                return self._go(row.target, event.t, effects)
        return []

    def _go(self, target: State, t: float, effects: list[Effect]) -> list[Effect]:
        ctx = self.ctx
        out: list[Effect] = []
        if ctx.state in SHOWING_OFFER and ctx.offer_id is not None and target not in SHOWING_OFFER:
            out.append(OfferEnded(ctx.offer_id))
        out.extend(effects)
        ctx.history.append((t, target))
        ctx.state, ctx.entered_at = target, t
        if target in ("attract", "cooldown", "maintenance"):
            ctx.visit_id, ctx.offer_id, ctx.help, ctx.staff_called = None, None, False, False
        out.extend(ON_ENTER[target](ctx))
        return out
