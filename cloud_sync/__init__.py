"""Durable outbox, anonymisation and catalogue sync on the device; ingest, KPIs and dashboard in the back
office."""

__version__ = "0.1.0"
