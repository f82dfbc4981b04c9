"""Audience metrics, pure: opportunity to see, watchers, glances, dwell, attention, valence mix, crowd, and
each offer's exposure (time on screen; the attention and valence of the shopper it was shown to).

The definitions (docs/metrics.md) follow Quividi's and the DPAA's terms. :class:`AudienceMeter` consumes the
tracker's updates in time order; it holds only per-visit counters in memory, keyed by the ephemeral visit id,
and forgets a visit as soon as it has reported it. For mood uplift it also keeps each visit's valence of the
last ``uplift_window_s`` seconds (a few spans, bounded by that window), so that an offer can take the valence
of the seconds before it showed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kiosk.config import AudienceConfig
from kiosk.decisions.tracker import Track, TrackerUpdate
from kiosk.perception.types import VALENCES, Valence


@dataclass
class ValenceSeconds:
    """Seconds of each smoothed valence (seconds with no valence are not counted)."""

    negative_s: float = 0.0
    neutral_s: float = 0.0
    positive_s: float = 0.0

    def add(self, valence: Valence, seconds: float) -> None:
        """Count ``seconds`` of ``valence``."""
        setattr(self, f"{valence}_s", getattr(self, f"{valence}_s") + seconds)

    def as_dict(self) -> dict[str, float]:
        """``{"negative_s": ..., "neutral_s": ..., "positive_s": ...}``, rounded to milliseconds."""
        return {f"{v}_s": round(getattr(self, f"{v}_s"), 3) for v in VALENCES}


@dataclass(frozen=True)
class VisitMetrics:
    """One ended visit's metrics (the ephemeral id is for the caller to turn into a visit_ref and drop)."""

    visit_id: str
    dwell_s: float
    attention_s: float
    watcher: bool
    glance: bool
    valence: ValenceSeconds


@dataclass(frozen=True)
class OfferExposure:
    """One offer's time on screen and the valence mix of every face in view meanwhile; and, of the visit it
    was shown to (none: all zero), its frontal seconds while it showed, whether they reached the watcher
    threshold, and its valence mix in the ``uplift_window_s`` before it showed and while it showed."""

    offer_id: str
    seconds: float
    valence: ValenceSeconds
    peak_crowd: int
    attention_s: float = 0.0
    attended: bool = False
    valence_before: ValenceSeconds = field(default_factory=ValenceSeconds)
    valence_during: ValenceSeconds = field(default_factory=ValenceSeconds)


@dataclass
class AudienceTotals:
    """Running totals since start (the summary and health reports)."""

    opportunities_to_see: int = 0
    watchers: int = 0
    glances: int = 0
    dwell_s: float = 0.0
    attention_s: float = 0.0
    peak_crowd: int = 0
    valence: ValenceSeconds = field(default_factory=ValenceSeconds)


#: A stretch of one smoothed valence of a visit: (from, to, valence), in monotonic seconds.
Span = tuple[float, float, Valence]

#: Two spans closer than this are one (float noise between a frame's end and the next one's start).
_JOIN_S = 1e-6


@dataclass
class _Visit:
    last_t: float
    attention_s: float = 0.0
    valence: ValenceSeconds = field(default_factory=ValenceSeconds)
    #: The valence spans of the last ``uplift_window_s`` seconds, oldest first (an offer's valence_before).
    recent: deque[Span] = field(default_factory=deque)


@dataclass
class _Offer:
    offer_id: str
    started: float
    last_t: float
    valence: ValenceSeconds = field(default_factory=ValenceSeconds)
    peak_crowd: int = 0
    visit_id: str | None = None  # the visit it was shown to (memory only, like every visit id)
    attention_s: float = 0.0
    before: ValenceSeconds = field(default_factory=ValenceSeconds)
    during: ValenceSeconds = field(default_factory=ValenceSeconds)


def _remember(recent: deque[Span], span: Span, window_s: float) -> None:
    """Add ``span`` (joined to the last one when it continues it) and forget what lies before the window."""
    start, end, valence = span
    if recent and recent[-1][2] == valence and abs(recent[-1][1] - start) < _JOIN_S:
        recent[-1] = (recent[-1][0], end, valence)
    else:
        recent.append(span)
    horizon = end - window_s
    while recent and recent[0][1] <= horizon:
        recent.popleft()
    if recent and recent[0][0] < horizon:
        recent[0] = (horizon, recent[0][1], recent[0][2])


def _mix_between(spans: deque[Span], lo: float, hi: float) -> ValenceSeconds:
    """Seconds of each valence of ``spans`` inside [lo, hi] (spans clipped at both ends)."""
    mix = ValenceSeconds()
    for start, end, valence in spans:
        overlap = min(end, hi) - max(start, lo)
        if overlap > 0:
            mix.add(valence, overlap)
    return mix


class AudienceMeter:
    """Turns tracker updates into per-visit metrics, per-offer valence mixes and running totals."""

    def __init__(self, config: AudienceConfig) -> None:
        self._config = config
        self._visits: dict[str, _Visit] = {}
        self._offer: _Offer | None = None
        self.totals = AudienceTotals()

    def is_frontal(self, yaw_deg: float) -> bool:
        """Whether a head yaw counts as attention."""
        return abs(yaw_deg) <= self._config.attention_yaw_deg

    def attention_s(self, visit_id: str) -> float:
        """Attention time so far of a visit in view (0 when unknown)."""
        visit = self._visits.get(visit_id)
        return visit.attention_s if visit else 0.0

    def observe(self, update: TrackerUpdate) -> list[VisitMetrics]:
        """Account one frame; return the metrics of the visits that ended in it."""
        t = update.t
        for track in update.started:
            self._visits.setdefault(track.visit_id, _Visit(last_t=track.first_seen))
        for track in update.active:
            if track.seen_now:
                self._account(track, t)
        self.totals.peak_crowd = max(self.totals.peak_crowd, update.crowd_size)
        if self._offer is not None:
            self._offer.peak_crowd = max(self._offer.peak_crowd, update.crowd_size)
            dt = min(t - self._offer.last_t, self._config.max_gap_s)
            for track in update.active:
                valence = track.valence(t)
                if valence is not None and track.seen_now:
                    self._offer.valence.add(valence, max(0.0, dt))
            self._offer.last_t = t
        return [self._finish(track) for track in update.ended]

    def _account(self, track: Track, t: float) -> None:
        """Count the time since the visit's last sighting, (t - dt, t], to the visit and, for the part after
        the offer went up, to the offer shown to it."""
        visit = self._visits.setdefault(track.visit_id, _Visit(last_t=t))
        dt = max(0.0, min(t - visit.last_t, self._config.max_gap_s))
        visit.last_t = t
        if dt == 0.0:
            return
        frontal = self.is_frontal(track.yaw_deg)
        if frontal:
            visit.attention_s += dt
        valence = track.valence(t)
        if valence is not None:
            visit.valence.add(valence, dt)
            _remember(visit.recent, (t - dt, t, valence), self._config.uplift_window_s)
        offer = self._offer
        if offer is not None and offer.visit_id == track.visit_id:
            shown = max(0.0, min(dt, t - offer.started))
            if frontal:
                offer.attention_s += shown
            if valence is not None:
                offer.during.add(valence, shown)

    def _finish(self, track: Track) -> VisitMetrics:
        visit = self._visits.pop(track.visit_id, None) or _Visit(last_t=track.last_seen)
        attention = min(visit.attention_s, track.dwell_s)
        metrics = VisitMetrics(
            visit_id=track.visit_id,
            dwell_s=track.dwell_s,
            attention_s=attention,
            watcher=attention >= self._config.watcher_s,
            glance=0.0 < attention < self._config.glance_max_s,
            valence=visit.valence,
        )
        totals = self.totals
        totals.opportunities_to_see += 1
        totals.watchers += metrics.watcher
        totals.glances += metrics.glance
        totals.dwell_s += metrics.dwell_s
        totals.attention_s += metrics.attention_s
        for v in VALENCES:
            totals.valence.add(v, getattr(visit.valence, f"{v}_s"))
        return metrics

    def start_offer(self, offer_id: str, t: float, visit_id: str | None = None) -> OfferExposure | None:
        """An offer went on screen, shown to ``visit_id`` (None: nobody in particular); returns the exposure
        of the one it replaced, if any. The visit's valence of the ``uplift_window_s`` before ``t`` is
        taken now."""
        previous = self.end_offer(t)
        offer = self._offer = _Offer(offer_id=offer_id, started=t, last_t=t, visit_id=visit_id)
        visit = self._visits.get(visit_id) if visit_id is not None else None
        if visit is not None:
            offer.before = _mix_between(visit.recent, t - self._config.uplift_window_s, t)
        return previous

    def end_offer(self, t: float) -> OfferExposure | None:
        """The offer left the screen: its exposure, or None when none was on."""
        offer, self._offer = self._offer, None
        if offer is None:
            return None
        seconds = max(0.0, t - offer.started)
        attention = min(offer.attention_s, seconds)
        return OfferExposure(
            offer.offer_id,
            seconds,
            offer.valence,
            offer.peak_crowd,
            attention_s=attention,
            attended=offer.visit_id is not None and attention >= self._config.watcher_s,
            valence_before=offer.before,
            valence_during=offer.during,
        )
