"""The back office's side of the shopper chat (issue #19): conversations as an explicit state machine
(:mod:`.machine`, pure), their store, transcripts and hourly KPI rollups (:mod:`.store`), and the KPI
report over those rollups (:mod:`.kpis`). docs/chat.md defines every state and figure.

The web application's operator console and KPI page stand on this package (``backoffice.web``); this
package never imports the web application.
"""
