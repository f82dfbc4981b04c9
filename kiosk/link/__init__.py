"""The link to the back office: the local event store and its single writer (:mod:`.store`), the sync with
the outbox, commands and birth (:mod:`.sync`), and installing signed catalogue releases
(:mod:`.catalogue_sync`).
"""
