"""Perception: from a camera frame to a :class:`~kiosk.perception.types.Snapshot` of boxes, distances, yaw
and valence. It owns the camera adapters and capture thread (:mod:`.camera`), the detector seam and its
value types (:mod:`.types`), and the adapter over :mod:`edge_models` (:mod:`.detector`). No pixel leaves it.
"""
