"""The device side of provisioning: the self-test (``provision check``) and ``provision decommission``.

The only part of :mod:`provisioning` that imports the device side (``kiosk``, ``edge_models``,
``cloud_sync``), and only through :mod:`provisioning.cli`'s lazy registry, so a server install never
loads it. Pure judges (:mod:`provisioning.device.judges`) turn facts gathered by the probes
(:mod:`provisioning.device.probes`) into frozen results (:mod:`provisioning.device.results`); the table and
the JSON are renderers (:mod:`provisioning.device.render`).
"""
