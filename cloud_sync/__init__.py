"""The device's way to the cloud: the durable outbox (:mod:`.outbox`), anonymisation by allowlist
(:mod:`.anonymise`) and the device link that publishes, listens and answers commands (:mod:`.device`).
The back office's side of the wire (ingest, publishing) is :mod:`backoffice`."""

__version__ = "0.1.0"
