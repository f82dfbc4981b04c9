"""Decisions: pure, deterministic (clock and random generator passed in). The tracker turns snapshots into
anonymous visits (:mod:`.tracker`), the audience meter measures them (:mod:`.audience`), the engagement
machine decides what the screen shows (:mod:`.engagement`), the offer engine chooses offers
(:mod:`.offers`), staff calls and consent are decided here (:mod:`.staff`, :mod:`.consent`), and
:class:`~kiosk.decisions.brain.KioskBrain` wires them together and builds every event.
"""
