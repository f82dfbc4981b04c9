"""The back office: the server side. It ingests the fleet's telemetry into SQLite or PostgreSQL, sends
signed commands and publishes signed catalogues. It stands on the wire contract (:mod:`mqtt_bridge.contract`)
and :mod:`mqtt_bridge`, and never imports the device side (kiosk, cloud_sync, edge_models).
"""

__version__ = "0.1.0"
