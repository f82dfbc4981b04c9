"""The shopper's screen: the only place in Vitrina that imports pygame. It renders view models."""

import os

# pygame prints a greeting on import unless told not to; the kiosk's logs are for the kiosk.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
