"""The wire contract: the one definition of what crosses the wire between a kiosk and the back office.

The event models and their discriminated union (:mod:`.events`), the payload and status models
(:mod:`.payloads`), the topic tree (:mod:`.topics`), the offer catalogue's schema (:mod:`.catalogue`), the
anonymisation allowlist (:mod:`.allowlist`) and the redemption-code format and its verification
(:mod:`.redemption`). The JSON Schemas in docs/schemas/ are generated from it (:mod:`.schemas`).

It imports nothing of Vitrina's outside this package and nothing heavier than pydantic (the import
contracts in pyproject.toml keep it so), so the device side (kiosk, cloud_sync, edge_models) and the server
side (backoffice) both stand on it without importing each other, paho-mqtt or cryptography.
"""
