"""The chat at the screen (issue 19): the shopper's conversation with the FAQ assistant and its hand-off to
an operator in the back office, as a pure state machine the brain owns (:mod:`kiosk.chat.session`), the
shopper's intents and the operator's input (:mod:`kiosk.chat.inputs`), and the loading of the assistant
from ``[assistant]`` (:mod:`kiosk.chat.loader`). No pygame, MQTT or threads here.
"""
