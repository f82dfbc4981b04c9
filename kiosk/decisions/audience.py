"""Audience metrics, pure: opportunity to see, watchers, glances, dwell, attention, valence mix, crowd.

The definitions (docs/metrics.md) follow Quividi's and the DPAA's terms. :class:`AudienceMeter` consumes the
tracker's updates in time order; it holds only per-visit counters in memory, keyed by the ephemeral visit id,
and forgets a visit as soon as it has reported it.
"""

from __future__ import annotations

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
    """One offer's time on screen and the valence mix of every face in view meanwhile."""

    offer_id: str
    seconds: float
    valence: ValenceSeconds
    peak_crowd: int


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


@dataclass
class _Visit:
    last_t: float
    attention_s: float = 0.0
    valence: ValenceSeconds = field(default_factory=ValenceSeconds)


@dataclass
class _Offer:
    offer_id: str
    started: float
    last_t: float
    valence: ValenceSeconds = field(default_factory=ValenceSeconds)
    peak_crowd: int = 0


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
        visit = self._visits.setdefault(track.visit_id, _Visit(last_t=t))
        dt = max(0.0, min(t - visit.last_t, self._config.max_gap_s))
        visit.last_t = t
        if dt == 0.0:
            return
        if self.is_frontal(track.yaw_deg):
            visit.attention_s += dt
        valence = track.valence(t)
        if valence is not None:
            visit.valence.add(valence, dt)

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

    def start_offer(self, offer_id: str, t: float) -> OfferExposure | None:
        """An offer went on screen; returns the exposure of the one it replaced, if any."""
        previous = self.end_offer(t)
        self._offer = _Offer(offer_id=offer_id, started=t, last_t=t)
        return previous

    def end_offer(self, t: float) -> OfferExposure | None:
        """The offer left the screen: its exposure, or None when none was on."""
        offer, self._offer = self._offer, None
        if offer is None:
            return None
        return OfferExposure(offer.offer_id, max(0.0, t - offer.started), offer.valence, offer.peak_crowd)
